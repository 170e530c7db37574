"""`python app.py` as people run it: no key (offline simulator), data outside the temp folder, MCP."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client, handle_file

from ..conftest import free_port
from .test_api import PROMPT, video_facts

ROOT = Path(__file__).resolve().parents[2]


#: What Gradio prints once its start-up check (a HEAD request to the page, 3 s allowed) has passed.
STARTED = "To create a public link"
#: What it says, and exits, when that check timed out: on a loaded machine, in reload mode, whose
#: watcher thread builds the page a second time while the check runs.
CHECK_TIMED_OUT = "When localhost is not accessible"


@contextlib.contextmanager
def running(
    command: list[str],
    outside_tmp: Path,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    cwd: Path | None = None,
) -> Iterator[str]:
    """The app started by `command` with no key at all, home outside /tmp; its URL.

    Started again (twice at most) when Gradio's own start-up check timed out: that is Gradio
    refusing to serve a page it could not fetch in 3 s, not the playground failing to start.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WAVESPEED_", "LUMA_PLAYGROUND_", "GRADIO_"))
    } | {
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",  # Gradio's lines reach the log as they are printed
        "GRADIO_TEMP_DIR": str(tmp_path_factory.mktemp(f"gradio-{name}")),
        "LUMA_PLAYGROUND_HOME": str(outside_tmp / name),
        "LUMA_PLAYGROUND_SIMULATOR_TIME_SCALE": "0.01",
    }
    for attempt in range(3):
        port = free_port()
        log = tmp_path_factory.mktemp(f"{name}-log") / "app.log"
        # Started from a folder that is neither the project's nor under the temp folder, by default.
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                cwd=cwd or outside_tmp,
                env=env | {"GRADIO_SERVER_PORT": str(port)},
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            if _started(process, log, command, retry=attempt < 2):
                yield f"http://127.0.0.1:{port}/"
                return
        finally:
            _stop(process)


def _started(process: subprocess.Popen[bytes], log: Path, command: list[str], *, retry: bool) -> bool:
    """True once Gradio says it serves; False when its start-up check timed out and `retry`."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = log.read_text()
            if retry and CHECK_TIMED_OUT in text:
                return False
            pytest.fail(f"{command} exited at start-up:\n{text}")
        if STARTED in log.read_text():
            return True
        time.sleep(0.2)
    pytest.fail(f"{command} did not start:\n{log.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)  # reload mode runs the app in a child process
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


def generate(url: str, image: Path, size: str, duration: int) -> tuple[str, dict[str, Any]]:
    """One `/generate` call through gradio_client: the video's path and the task's record."""
    api = Client(url, verbose=False)
    try:
        video, record = api.predict(handle_file(str(image)), PROMPT, size, duration, api_name="/generate")
    finally:
        api.close()
    return video, record


@pytest.fixture(scope="module")
def app_url(outside_tmp: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python app.py --mcp` with no key at all, on GRADIO_SERVER_PORT, home outside /tmp."""
    with running(
        [sys.executable, str(ROOT / "app.py"), "--mcp"], outside_tmp, tmp_path_factory, "app-script"
    ) as url:
        yield url


def test_reload_mode_serves_and_generates(
    outside_tmp: Path, tmp_path_factory: pytest.TempPathFactory, landscape_image: Path
) -> None:
    """`gradio app.py` (reload mode, run from the project) serves the playground and makes a video."""
    command = [sys.executable, "-m", "gradio", "app.py"]
    with running(command, outside_tmp, tmp_path_factory, "reload", cwd=ROOT) as url:
        video, _ = generate(url, landscape_image, "1280*720", 5)
    width, height, seconds = video_facts(video)
    assert (width, height) == (1280, 720) and seconds == pytest.approx(5, abs=0.2)


def test_offline_simulator_makes_a_video(app_url: str, portrait_image: Path) -> None:
    """With no key anywhere, the built-in simulator makes the portrait 10 s video asked for."""
    video, record = generate(app_url, portrait_image, "720*1280", 10)
    width, height, seconds = video_facts(video)
    assert (width, height) == (720, 1280) and seconds == pytest.approx(10, abs=0.2)
    assert record["backend"] == "simulator" and record["output_url"] is None


def test_the_page_says_it_is_simulated(app_url: str) -> None:
    """The badge line tells visitors that no key is set and videos are simulated."""
    config = httpx.get(f"{app_url}config").text
    assert "Offline simulator" in config and "simulated previews" in config


def test_mcp_exposes_generate(app_url: str) -> None:
    """With --mcp, `generate` is an MCP tool whose parameters are described."""
    tools = httpx.get(f"{app_url}gradio_api/mcp/schema").json()
    tool = next(tool for tool in tools if tool["name"].endswith("generate"))
    properties = tool["inputSchema"]["properties"]
    assert set(properties) == {"image", "prompt", "size", "duration", "model"}
    assert "landscape" in properties["size"]["description"]
    assert "x-wavespeed-key" in str(tool.get("meta", {})).lower()
