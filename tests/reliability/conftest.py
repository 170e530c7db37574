"""Fixtures for the reliability tests: a simulator, the playground in its own process, callers.

The app runs as a separate process (`_serve_app.py`, forked by `_forker.py` from a process that
imported it once) on 127.0.0.1 with every logger at DEBUG, so that a test can read everything it
ever wrote; it is driven only through `gradio_client`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from luma_playground.simulator import SimulatorServer, key_fingerprint
from luma_playground.simulator._config import RENDERS_ENV
from luma_playground.ui import KEY_HEADER

from .._forking import ForkServer
from ..conftest import free_port, reset_around, simulator_fixture

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
SERVER_KEY = "sk-reliability-server-7c1f0e9a2b"
USER_KEY = "sk-reliability-user-3d85b46a01"
#: The app's per-request read timeout (s); stall faults last longer than this.
READ_TIMEOUT = 1.0
#: Scales the client's retry backoff (the server's Retry-After is honoured in full).
RETRY_SCALE = 0.02
START_TIMEOUT = 90.0
#: The host name the package's app fetches from the tests' picture server on 127.0.0.1 (a
#: stand-in for a public host: see `_serve_app.allow_picture_host`).
PICTURE_HOST = "pictures.test"
#: A public deployment (a Hugging Face Space, without a public URL for webhooks).
SHARED = {
    "SPACE_ID": "reliability/luma-playground",
    "LUMA_PLAYGROUND_SESSION_RUNNING": "10",
    "LUMA_PLAYGROUND_SESSION_DAILY": "10000",
    "LUMA_PLAYGROUND_DAILY_BUDGET": "0",
    "GRADIO_MCP_SERVER": "1",
}


@dataclass
class AppProcess:
    """One playground process: where it listens, where it keeps its files, what it logged."""

    url: str
    home: Path
    temp_dir: Path
    log: Path
    env: dict[str, str]
    process: ForkedProcess | None = None

    @property
    def journal(self) -> Path:
        return self.home / "journal.sqlite3"

    def rows(self, where: str = "1", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Journal rows read straight from the app's SQLite file, oldest first."""
        with sqlite3.connect(self.journal, timeout=10) as db:
            db.row_factory = sqlite3.Row
            found = db.execute(f"SELECT * FROM tasks WHERE {where} ORDER BY row_id", params)
            return [dict(row) for row in found]

    def transitions(self, row_id: int) -> list[str]:
        with sqlite3.connect(self.journal, timeout=10) as db:
            return [
                state
                for (state,) in db.execute(
                    "SELECT state FROM transitions WHERE row_id = ? ORDER BY rowid", (row_id,)
                )
            ]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


class ForkedProcess:
    """An app forked by `_forker.py`: what the tests use of `subprocess.Popen`, by its pid.

    Its parent is the forker, which reaps it at once: a pid that is gone is a process that ended.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.returncode = -1  # ended; its status went to the forker
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        give_up = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if give_up is not None and time.monotonic() > give_up:
                raise subprocess.TimeoutExpired(f"app {self.pid}", timeout or 0)
            time.sleep(0.02)
        return code

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)


def _forker() -> ForkServer:
    """The test process's forker, started when the first app is."""
    if not _FORKER:
        env = _base_environment() | {
            "GRADIO_ANALYTICS_ENABLED": "False",
            "PYTHONPATH": f"{ROOT}{os.pathsep}{HERE}",
        }
        _FORKER.append(ForkServer(HERE / "_forker.py", cwd=HERE, env=env))
    return _FORKER[0]


_FORKER: list[ForkServer] = []


def _base_environment() -> dict[str, str]:
    """The test process's environment without any setting of the playground, Gradio or a Space."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(
            ("WAVESPEED_", "LUMA_PLAYGROUND_", "GRADIO_", "SPACE_", "SYSTEM", "OAUTH_", "FORWARDED_")
        )
    }


def start_app(folder: Path, sim_url: str, *, server_key: str | None = SERVER_KEY, **env: str) -> AppProcess:
    """Start the playground on a free port, pointed at the simulator; returns once it serves."""
    port = free_port()
    home, temp_dir = folder / "home", folder / "gradio"
    temp_dir.mkdir(parents=True, exist_ok=True)
    environment = (
        _base_environment()
        | {
            "WAVESPEED_BASE_URL": sim_url,
            "LUMA_PLAYGROUND_HOME": str(home),
            "LUMA_PLAYGROUND_READ_TIMEOUT": str(READ_TIMEOUT),
            # The simulator answers as fast as the suite asks: no pacing to Bronze's 5 a minute.
            "LUMA_PLAYGROUND_SUBMITS_PER_MINUTE": "100000",
            "GRADIO_TEMP_DIR": str(temp_dir),
            "GRADIO_ANALYTICS_ENABLED": "False",
            # The run's shared clips (tests/conftest.py): a clip is rendered once for the run.
            RENDERS_ENV: os.environ.get(RENDERS_ENV, ""),
            "PYTHONPATH": str(ROOT),
        }
        | env
    )
    if server_key:
        environment["WAVESPEED_API_KEY"] = server_key
    log = folder / f"app-{port}.log"
    app = AppProcess(f"http://127.0.0.1:{port}/", home, temp_dir, log, environment)
    argv = [str(HERE / "_serve_app.py"), str(port), str(RETRY_SCALE)]
    request = {"argv": argv, "cwd": str(folder), "env": environment, "log": str(log)}
    app.process = ForkedProcess(_forker().fork(request))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if app.process.poll() is not None:
            pytest.fail(f"the app exited at start-up:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{app.url}config", timeout=2).status_code == 200:
                return app
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    app.stop()
    pytest.fail(f"the app did not start:\n{log.read_text()[-3000:]}")


@dataclass
class Outcome:
    """What a caller got back: the video or the error, and every update on the way."""

    video: str | None
    error: str | None
    outputs: list[Any]
    elapsed: float

    @property
    def text(self) -> str:
        return f"{self.error or ''} {self.outputs!r}"


@dataclass
class Evidence:
    """Everything the key must never appear in: the apps' folders and logs, every answer."""

    apps: list[AppProcess] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    cases: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=lambda: {SERVER_KEY, USER_KEY})
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, outcome: Outcome, case: str | None = None) -> None:
        with self._lock:
            self.answers.append(outcome.text)
            if case:
                self.cases.add(case)


@dataclass
class Caller:
    """One gradio_client session; `key` is the key its generations are billed to."""

    name: str
    client: Client
    key: str
    evidence: Evidence

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.key)

    @property
    def owner(self) -> str:
        return f"session:{self.client.session_hash}"

    def generate(
        self,
        image: Any,
        prompt: str,
        size: Any = "1280*720",
        duration: Any = 5,
        *,
        case: str | None = None,
        timeout: float = 90,
    ) -> Outcome:
        """Call `/generate` and wait for its end; an `AppError` becomes `Outcome.error`."""
        started = time.monotonic()
        if isinstance(image, Path):
            image = handle_file(str(image))
        job = self.client.submit(image, prompt, size, duration, api_name="/generate")
        video = error = None
        try:
            video = job.result(timeout=timeout)[0]
        except AppError as exc:
            error = str(exc)
        outcome = Outcome(video, error, list(job.outputs()), time.monotonic() - started)
        self.evidence.record(outcome, case)
        return outcome


def client_for(app: AppProcess, key: str | None = None, **headers: str) -> Client:
    """A fresh gradio_client session; `key` goes in `X-WaveSpeed-Key`, `headers` as they are."""
    sent = {KEY_HEADER: key} if key else {}
    sent |= {name.replace("_", "-"): value for name, value in headers.items()}
    return Client(
        app.url, headers=sent or None, verbose=False, download_files=str(app.home.parent / "downloads")
    )


#: The simulator all reliability tests use: a 5 s clip takes about half a second.
rsim = simulator_fixture(time_scale=0.01, seed=11, scope="package")


@pytest.fixture
def sim(rsim: SimulatorServer) -> Iterator[SimulatorServer]:
    """The simulator with no tasks, counters, faults or accounts left over."""
    with reset_around(rsim) as fresh:
        yield fresh


@pytest.fixture(scope="package")
def work_folder() -> Iterator[Path]:
    """A folder outside the temp folder and the project, as a real deployment's home would be."""
    base = Path("/var/tmp") if Path("/var/tmp").is_dir() else Path.home()
    folder = Path(tempfile.mkdtemp(prefix="luma-reliability-", dir=base))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="package")
def evidence() -> Evidence:
    return Evidence()


@pytest.fixture(scope="package")
def app(rsim: SimulatorServer, work_folder: Path, evidence: Evidence) -> Iterator[AppProcess]:
    """The playground with the owner's key, deployed as on a Space, pointed at the simulator.

    On a Space each visitor sees only their own history; the per-visitor limits on the owner's
    key are raised so that the many generations of these tests are not refused.
    """
    launched = start_app(work_folder / "main", rsim.base_url, **SHARED, RELIABILITY_PICTURE_HOST=PICTURE_HOST)
    evidence.apps.append(launched)
    yield launched
    launched.stop()


@pytest.fixture(scope="package")
def callers(app: AppProcess, evidence: Evidence) -> Iterator[dict[str, Caller]]:
    """Two sessions: one on the server's key, one sending its own key in `X-WaveSpeed-Key`."""
    made = {
        "server": Caller("server", client_for(app), SERVER_KEY, evidence),
        "header": Caller("header", client_for(app, USER_KEY), USER_KEY, evidence),
    }
    yield made
    with ThreadPoolExecutor(len(made)) as pool:
        list(pool.map(lambda caller: caller.client.close(), made.values()))


# -- for the tests that launch apps of their own ----------------------------------------------------


@pytest.fixture
def launch(rsim, work_folder: Path, evidence: Evidence) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """Start apps for one test (each in a folder of its own); all are stopped at its end."""
    started: list[AppProcess] = []

    def start(name: str, **env: str) -> AppProcess:
        app = start_app(work_folder / name, rsim.base_url, **env)
        started.append(app)
        evidence.apps.append(app)
        return app

    yield start
    for app in started:
        app.stop()


def new_caller(
    app: AppProcess, evidence: Evidence, name: str, key: str | None = None, **headers: str
) -> Caller:
    return Caller(name, client_for(app, key, **headers), key or SERVER_KEY, evidence)


def close_all(callers: list[Caller]) -> None:
    with ThreadPoolExecutor(max(1, len(callers))) as pool:
        list(pool.map(lambda each: each.client.close(), callers))


def key_of(key: str) -> str:
    return str(key_fingerprint(key))


def key_calls(sim: SimulatorServer, key: str, route: str) -> int:
    """Requests the simulator received on `route` ("submit", "optimizer", ...) with this key."""
    return int(sim.control.stats()["keys"].get(key_of(key), {}).get(route, 0))


def image_file(path: Path) -> Any:
    return handle_file(str(path))


def raw_event(
    app: AppProcess,
    api_name: str,
    data: list[Any],
    *,
    session_hash: str | None = None,
    event_data: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An event called the way a script would, by raw `queue/join` HTTP; the closing message.

    The script picks its own session hash (a fresh one unless given) and may send what a browser
    sends with a click (`event_data`, such as a card's index), which gradio_client cannot.
    """
    session = session_hash or f"script-{secrets.token_hex(6)}"
    config = httpx.get(f"{app.url}config", timeout=30).json()
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name)
    base = f"{app.url}gradio_api"
    body = {"data": data, "fn_index": fn_index, "session_hash": session, "event_data": event_data}
    with httpx.Client(headers=headers, timeout=90) as http:
        assert http.post(f"{base}/queue/join", json=body).status_code == 200
        with http.stream("GET", f"{base}/queue/data", params={"session_hash": session}) as events:
            for line in events.iter_lines():
                message = json.loads(line[5:]) if line.startswith("data:") else {}
                if message.get("msg") == "process_completed":
                    return dict(message)
    pytest.fail(f"the {api_name} call never completed")


def call_private(client: Client, api_name: str, *args: Any) -> Any:
    """Call a private event the way the page does, by its index (gradio_client refuses them)."""
    for index, dependency in enumerate(client.config["dependencies"]):
        if dependency.get("api_name") == api_name:
            client.endpoints[dependency.get("id", index)].is_valid = True
            return client.predict(*args, fn_index=dependency.get("id", index))
    raise AssertionError(f"no event named {api_name}")


def mcp_tool(url: str, headers: dict[str, str], tool: str, arguments: dict[str, Any] | None = None) -> Any:
    """One MCP tool call (streamable HTTP) by a caller sending these headers: the tool's result."""

    async def run() -> Any:
        async with (
            httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(60)) as http,
            streamable_http_client(f"{url}gradio_api/mcp/", http_client=http) as (reader, writer, _),
            ClientSession(reader, writer) as session,
        ):
            await session.initialize()
            return await session.call_tool(tool, arguments or {})

    return asyncio.run(run())
