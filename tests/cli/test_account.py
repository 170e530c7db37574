"""`price`, `enhance` and `cancel` as subprocesses, against the simulator."""

from __future__ import annotations

import json

from luma_playground import ApiKey

from .conftest import wait_for


def test_price_before_anything_is_spent(cli, server) -> None:  # type: ignore[no-untyped-def]
    """price --json: per video and in all, with the key's balance; no task is made."""
    before = len(server.control.tasks())
    result = cli.run("price", "--size", "720*1280", "--duration", "10", "--count", "2", "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["usd_per_video"] == 1.0 and answer["usd_total"] == 2.0
    assert isinstance(answer["balance_usd"], float)
    assert len(server.control.tasks()) == before
    refused = cli.run("price", "--duration", "7")
    assert refused.returncode == 2 and "Duration must be 5 or 10 seconds" in refused.stderr


def test_enhance_with_a_picture(cli, server, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """enhance prints the optimizer's suggestion; the picture is uploaded once and no video is made."""
    result = cli.run("enhance", "waves at dusk", "--image", landscape_image, "--style", "anime", "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["used_picture"] and answer["style"] == "anime" and len(answer["prompt"]) > 13
    mine = server.control.stats()["keys"][ApiKey(cli.key).fingerprint]
    assert mine["optimizer"] == 1 and mine["upload"] == 1 and "submit" not in mine


def test_cancel_a_task_another_command_is_following(cli, server, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """cancel deletes a running task until WaveSpeed says it stopped; the generate following exits 4."""
    server.control.add_fault("submit", "slow", seconds=120)  # still running whenever the cancel lands
    running = cli.start("generate", landscape_image, "-p", "cancel me", "--duration", "10")
    row = wait_for(
        lambda: next((r for r in cli.rows() if r["state"] == "processing"), None), what="processing"
    )
    result = cli.run("cancel", row["task_id"], "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["state"] == "cancelled" and answer["note"].startswith("Cancelled: WaveSpeed stopped task")
    assert server.control.task(row["task_id"])["status"] == "cancelled"
    assert running.process.wait(timeout=30) == 4
    again = cli.run("cancel", row["task_id"])
    assert again.returncode == 0 and again.stdout.startswith("Nothing to cancel")
