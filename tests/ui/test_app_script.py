"""`python app.py` as people run it: no key (offline simulator), data outside the temp folder, MCP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file

from .test_api import PROMPT, video_facts

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def app_url(outside_tmp: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python app.py --mcp` with no key at all, on GRADIO_SERVER_PORT, home outside /tmp."""
    port = free_port()
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("WAVESPEED_", "LUMA_PLAYGROUND_", "GRADIO_"))
    } | {
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_TEMP_DIR": str(tmp_path_factory.mktemp("gradio-app")),
        "LUMA_PLAYGROUND_HOME": str(outside_tmp / "app-script"),
        "LUMA_PLAYGROUND_SIMULATOR_TIME_SCALE": "0.01",
    }
    log = tmp_path_factory.mktemp("app-log") / "app.log"
    # Started from a folder that is neither the project's nor under the temp folder.
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--mcp"],
                                   cwd=outside_tmp, env=env, stdout=output,
                                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}config", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail(f"app.py did not start:\n{log.read_text()}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_offline_simulator_makes_a_video(app_url: str, portrait_image: Path) -> None:
    """With no key anywhere, the built-in simulator makes the portrait 10 s video asked for."""
    api = Client(app_url, verbose=False)
    try:
        video, _, details = api.predict(handle_file(str(portrait_image)), PROMPT, "720*1280", 10,
                                        api_name="/generate")
    finally:
        api.close()
    width, height, seconds = video_facts(video)
    assert (width, height) == (720, 1280) and seconds == pytest.approx(10, abs=0.2)
    assert "Offline simulator" in details


def test_the_page_says_it_is_simulated(app_url: str) -> None:
    """The badge line tells visitors that no key is set and videos are simulated."""
    config = httpx.get(f"{app_url}config").text
    assert "Offline simulator" in config and "simulated previews" in config


def test_mcp_exposes_generate(app_url: str) -> None:
    """With --mcp, `generate` is an MCP tool whose parameters are described."""
    tools = httpx.get(f"{app_url}gradio_api/mcp/schema").json()
    tool = next(tool for tool in tools if tool["name"].endswith("generate"))
    properties = tool["inputSchema"]["properties"]
    assert set(properties) == {"image", "prompt", "size", "duration"}
    assert "landscape" in properties["size"]["description"]
    assert "x-wavespeed-key" in str(tool.get("meta", {})).lower()
