"""Fixtures for driving `python -m luma_playground` as a process of its own against a simulator.

Each command is a real process (its own pid, exit status, signals and output files), forked from
one per test process that imported the command line once (`_forker.py`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from luma_playground import ApiKey, GenerationRequest, Journal, WaveSpeedClient
from luma_playground.simulator import SimulatorServer
from luma_playground.simulator._config import RENDERS_ENV

from .._forking import ForkServer
from ..conftest import simulator_fixture, wait_for  # noqa: F401  (the CLI tests import it from here)

REPO_ROOT = Path(__file__).resolve().parents[2]
#: A 5 s clip takes about 1.5 s here, a 10 s clip about 2.6 s: long enough to kill mid-task.
TIME_SCALE = 0.03
#: The longest any one command may take before the test fails.
COMMAND_TIMEOUT = 60.0
#: The simulator's answer to a stalled submit is held this long (the test kills before).
STALL_SECONDS = 30.0


class ForkedCommand:
    """A command forked by `_forker.py`: what the tests use of `subprocess.Popen`, by its pid.

    Its parent is the forker, which writes its exit status to `status` when it ends.
    """

    def __init__(self, pid: int, args: list[str], status: Path) -> None:
        self.pid = pid
        self.args = args
        self._status = status
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and self._status.exists():
            self.returncode = int(self._status.read_text())
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        give_up = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if give_up is not None and time.monotonic() > give_up:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            time.sleep(0.01)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # an ended command's pid may already be another process's
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _forker(env: dict[str, str]) -> ForkServer:
    """The test process's forker, started (with the first command's shared settings) when needed."""
    if not _FORKER:
        shared = {name: value for name, value in env.items() if not name.startswith(("WAVESPEED_", "LUMA_"))}
        _FORKER.append(ForkServer(Path(__file__).with_name("_forker.py"), cwd=REPO_ROOT, env=shared))
    return _FORKER[0]


_FORKER: list[ForkServer] = []


@dataclass
class Running:
    """A command started in the background, its output going to files."""

    process: ForkedCommand
    stdout_path: Path
    stderr_path: Path

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGKILL, timeout: float = 15.0) -> int:
        """Send `sig` and wait for the process to end; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


@dataclass
class Cli:
    """`python -m luma_playground` with one home, one API key and one simulator."""

    home: Path
    key: str
    base_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    started: list[Running] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("WAVESPEED_", "LUMA_PLAYGROUND_", "GRADIO_"))
        }
        env.update(
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
            PYTHONUNBUFFERED="1",
            LUMA_PLAYGROUND_HOME=str(self.home),
            WAVESPEED_API_KEY=self.key,
            WAVESPEED_BASE_URL=self.base_url,
            LUMA_PLAYGROUND_DEADLINE="60",
            # The simulator answers as fast as the suite asks: no pacing to Bronze's 5 a minute.
            LUMA_PLAYGROUND_SUBMITS_PER_MINUTE="100000",
        )
        # The run's shared clips (tests/conftest.py): a clip is rendered once for the run.
        env[RENDERS_ENV] = os.environ.get(RENDERS_ENV, "")
        env.update(self.extra_env)
        return {name: value for name, value in env.items() if value}

    def run(
        self, *args: object, env: dict[str, str] | None = None, timeout: float = COMMAND_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run a command to its end; its output never holds the key, nor a traceback
        unless --verbose asked for one."""
        running = self._fork(args, env)
        try:
            code = running.process.wait(timeout)
        except subprocess.TimeoutExpired:
            running.stop()
            raise
        result = subprocess.CompletedProcess(running.process.args, code, running.stdout, running.stderr)
        self.check_output(result.stdout + result.stderr, verbose="--verbose" in args)
        return result

    def start(self, *args: object, env: dict[str, str] | None = None) -> Running:
        """Start a command in the background (ended by the fixture at the latest)."""
        running = self._fork(args, env)
        self.started.append(running)
        return running

    def _fork(self, args: tuple[object, ...], env: dict[str, str] | None) -> Running:
        name = uuid.uuid4().hex[:8]
        # Beside the home, not in it: a test may look at every file the command left there.
        outputs = self.home.with_name(f"{self.home.name}-commands")
        outputs.mkdir(parents=True, exist_ok=True)
        stdout_path, stderr_path = outputs / f"{name}.out", outputs / f"{name}.err"
        environment = {**self.env, **(env or {})}
        status = stdout_path.with_suffix(".status")
        request = {
            "argv": list(map(str, args)),
            "cwd": str(REPO_ROOT),
            "env": environment,
            "stdout": str(stdout_path),
            "stderr": str(stderr_path),
            "status": str(status),
        }
        pid = _forker(environment).fork(request)
        return Running(
            ForkedCommand(pid, ["luma-playground", *request["argv"]], status), stdout_path, stderr_path
        )

    def check_output(self, text: str, *, verbose: bool = False) -> None:
        assert self.key not in text
        if not verbose:
            assert "Traceback" not in text, text

    def assert_key_nowhere(self) -> None:
        """No file under the home (journal, its WAL, outputs) holds the key's bytes."""
        secret = self.key.encode()
        for path in self.home.rglob("*"):
            if path.is_file():
                assert secret not in path.read_bytes(), path

    def rows(self) -> list[dict[str, Any]]:
        """The journal's rows, oldest first (empty while the journal does not exist yet)."""
        path = self.home / "journal.sqlite3"
        if not path.exists():
            return []
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
                db.row_factory = sqlite3.Row
                return [dict(row) for row in db.execute("SELECT * FROM tasks ORDER BY row_id")]
        except sqlite3.OperationalError:  # the first migration has not run yet
            return []

    def add_row(self, task_id: str) -> int:
        """A pending row for `task_id`, as if a process of ours had submitted it and died."""
        journal = Journal(self.home / "journal.sqlite3")
        try:
            row_id = journal.begin(
                model="luma/ray-2-i2v",
                backend="wavespeed",
                base_url=self.base_url,
                owner="local",
                key_fingerprint=ApiKey(self.key).fingerprint,
                prompt="made here",
                size="1280*720",
                duration=5,
                image="",
                image_url=None,
            )
            journal.update(row_id, "created", task_id=task_id)
        finally:
            journal.close()
        return row_id

    def row(self) -> dict[str, Any]:
        """The one row of the journal."""
        rows = self.rows()
        assert len(rows) == 1, rows
        return rows[0]

    def close(self) -> None:
        for running in self.started:
            if running.process.poll() is None:
                running.process.kill()
            running.process.wait(10)


async def submit_elsewhere(base_url: str, key: str, image: Path, duration: int = 10) -> str:
    """Create a task the way another client would (not through the journal); its id."""
    async with WaveSpeedClient(base_url, ApiKey(key)) as client:
        image_url = await client.upload_image(image)
        request = GenerationRequest.create(image, "made on the website", duration=duration)
        return (await client.submit(request, image_url)).id


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def one_error(stderr: str) -> str:
    """The one `error:` line of a failed command, which is also its last line."""
    lines = error_lines(stderr)
    assert len(lines) == 1 and stderr.strip().splitlines()[-1] == lines[0], stderr
    return lines[0]


#: A simulator for the command-line tests, slow enough to kill a task mid-way.
cli_server = simulator_fixture(time_scale=TIME_SCALE, seed=11)


@pytest.fixture
def server(cli_server: SimulatorServer) -> Iterator[SimulatorServer]:
    """The simulator, with no faults or accounts left over from another test."""
    cli_server.control.clear_faults()
    yield cli_server
    cli_server.control.clear_faults()


def new_cli(home: Path, server: SimulatorServer) -> Cli:
    return Cli(home=home, key=f"sk-cli-{uuid.uuid4().hex}", base_url=server.base_url)


@pytest.fixture
def cli(isolated_home: Path, server: SimulatorServer) -> Iterator[Cli]:
    """The command line with this test's home and a key of its own; leftovers are killed."""
    runner = new_cli(isolated_home, server)
    try:
        yield runner
    finally:
        runner.close()
