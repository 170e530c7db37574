"""The command line against the simulator in each reading of WaveSpeed's docs where they leave room."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from luma_playground.simulator import Behaviour, SimulatorServer

from .conftest import Cli, wait_for


@pytest.fixture
def behave(server: SimulatorServer) -> Iterator[Callable[..., Any]]:
    """Sets the simulator's behaviour switches for one test, and puts the documented defaults back."""
    yield server.control.set_behaviour
    server.control.set_behaviour(**Behaviour().to_json())


def test_a_cancel_wavespeed_ignores_saves_the_video_and_says_it_is_charged(
    cli: Cli, server: SimulatorServer, landscape_image: Path
) -> None:
    """`cancel` on a task WaveSpeed finishes anyway: the note says charged, the video is saved."""
    server.control.add_fault("cancel", "ignored", key=cli.key)
    running = cli.start("generate", landscape_image, "-p", "finished anyway", "--duration", "10")
    row = wait_for(
        lambda: next((r for r in cli.rows() if r["state"] == "processing"), None), what="processing"
    )
    result = cli.run("cancel", row["task_id"], "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["state"] == "completed" and answer["note"].startswith("Too late to cancel"), answer
    assert "charged" in answer["note"] and row["task_id"] in answer["note"]
    assert running.process.wait(timeout=30) == 0
    [saved] = cli.rows()
    assert saved["state"] == "completed" and Path(saved["video_path"]).stat().st_size > 0


def test_a_dropped_submit_is_found_from_a_history_without_inputs(
    cli: Cli, server: SimulatorServer, behave: Callable[..., Any], landscape_image: Path
) -> None:
    """`generate` whose submit answer is lost finds its task in a history without inputs and saves it."""
    behave(history_inputs="never")
    server.control.add_fault("submit", "drop", after_processing=True, key=cli.key)
    result = cli.run("generate", landscape_image, "-p", "found by time")
    assert result.returncode == 0, result.stderr
    [row] = cli.rows()
    assert row["state"] == "completed" and Path(result.stdout.strip()).exists()
    assert server.control.task(row["task_id"])["submits"] == 1


def test_a_pending_phase_does_not_end_the_wait(
    cli: Cli, server: SimulatorServer, behave: Callable[..., Any], landscape_image: Path
) -> None:
    """`generate` on a task that first reports `pending` waits for it and saves its video."""
    behave(pending_s=40)  # 1.2 s at this simulator's time scale
    result = cli.run("generate", landscape_image, "-p", "pending first")
    assert result.returncode == 0, result.stderr
    assert cli.row()["state"] == "completed"


def test_price_shows_the_discounted_price(cli: Cli, behave: Callable[..., Any]) -> None:
    """`price` shows the discounted price when `/model/price` offers one."""
    behave(discount_rate=0.2)
    answer = json.loads(cli.run("price", "--duration", "10", "--json").stdout)
    assert answer["usd_per_video"] == pytest.approx(0.8) and answer["usd_total"] == pytest.approx(0.8)
