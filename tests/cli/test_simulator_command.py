"""`simulator` and `--simulate`: the offline backend from the command line."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import httpx

from .conftest import one_error, wait_for


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/_simulator/stats", timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


def test_standalone_simulator_serves_generate_then_stops(cli, landscape_image) -> None:
    """`simulator` serves a generation and exits 0 on Ctrl-C; a second one on its port exits 2."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = cli.start("simulator", "--port", port, "--time-scale", "0.02")
    wait_for(lambda: _answers(base_url), what="the simulator")
    assert base_url in wait_for(lambda: server.stdout, what="the address line")
    taken = cli.run("simulator", "--port", port)
    assert taken.returncode == 2 and f"Cannot listen on 127.0.0.1:{port}" in one_error(taken.stderr)
    result = cli.run("generate", landscape_image, "-p", "offline", env={"WAVESPEED_BASE_URL": base_url})
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).is_file()
    assert server.stop(signal.SIGINT) == 0
    assert server.stderr.strip().splitlines()[-1] == "simulator stopped"
    cli.check_output(server.stdout + server.stderr)


def test_simulate_needs_no_key_and_its_stopped_tasks_are_reported_lost(cli, landscape_image) -> None:
    """--simulate needs no key; `resume --simulate` reports a dead simulator's task as lost (exit 4)."""
    no_key = {"WAVESPEED_API_KEY": "", "LUMA_PLAYGROUND_SIMULATOR_TIME_SCALE": "0.02"}
    result = cli.run("generate", landscape_image, "-p", "built in", "--simulate", env=no_key)
    assert result.returncode == 0, result.stderr
    assert cli.row()["backend"] == "simulator" and Path(result.stdout.strip()).is_file()
    no_key["LUMA_PLAYGROUND_SIMULATOR_TIME_SCALE"] = "1"
    running = cli.start("generate", landscape_image, "-p", "dies", "--simulate", env=no_key)
    wait_for(lambda: len(cli.rows()) == 2 and cli.rows()[1]["task_id"], what="the task id")
    running.stop(signal.SIGKILL)
    resumed = cli.run("resume", "--simulate", env=no_key)
    assert resumed.returncode == 4
    task_id, state, reason = resumed.stdout.strip().split("\t")
    assert task_id == cli.rows()[1]["task_id"] and state == "lost" and "simulator" in reason
