"""Task lifecycle, inspection records and counters, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from luma_playground.simulator import SimulatorControl, SimulatorServer, key_fingerprint

Submit = Callable[..., dict[str, Any]]
WaitUntilEnded = Callable[..., dict[str, Any]]
MakeClient = Callable[..., httpx.Client]


def test_status_goes_created_processing_completed(
    api: httpx.Client, image_url: str, simulator: SimulatorServer, submit: Submit
) -> None:
    """A task is created, then processing, then completed with one MP4 URL, NSFW flags and timings."""
    task = submit(api, image_url)
    seen = [task["status"]]
    while seen[-1] in ("created", "processing"):
        status = api.get(f"/api/v3/predictions/{task['id']}/result").json()["data"]["status"]
        if status != seen[-1]:
            seen.append(status)
        time.sleep(0.005)
    assert seen == ["created", "processing", "completed"]
    data = api.get(f"/api/v3/predictions/{task['id']}").json()["data"]
    assert data["outputs"] == [f"{simulator.base_url}/media/outputs/{task['id']}.mp4"]
    assert data["has_nsfw_contents"] == [False] and data["error"] == ""
    # The time the run really took, as a real server reports it: 30-70 s, scaled.
    scale = simulator.config.time_scale
    assert 30_000 * scale < data["timings"]["inference"] < 70_000 * scale


def test_completion_instant_follows_the_plan(
    api: httpx.Client,
    image_url: str,
    control: SimulatorControl,
    submit: Submit,
    wait_until_ended: WaitUntilEnded,
    simulator: SimulatorServer,
) -> None:
    """Queue and inference waits last at least the planned ones times the time scale (server-side)."""
    wait_until_ended(api, submit(api, image_url)["id"])  # warms the render cache
    task_id = submit(api, image_url)["id"]
    wait_until_ended(api, task_id)
    record = control.task(task_id)
    planned = record["planned"]
    assert (
        record["started_at"] - record["created_at"]
        >= planned["queue_s"] * simulator.config.time_scale - 0.002
    )
    elapsed = record["completed_at"] - record["created_at"]
    expected = (planned["queue_s"] + planned["inference_s"]) * simulator.config.time_scale
    assert elapsed >= expected - 0.002


def test_inspection_counts_polls_and_first_completed_sighting(
    api: httpx.Client, image_url: str, control: SimulatorControl, submit: Submit, key: str
) -> None:
    """The record counts GETs of the task and when a client first saw it completed."""
    task_id = submit(api, image_url)["id"]
    polls = 0
    while True:
        polls += 1
        if api.get(f"/api/v3/predictions/{task_id}/result").json()["data"]["status"] == "completed":
            break
        time.sleep(0.01)
    record = control.task(task_id)
    assert record["polls"] == polls and record["submits"] == 1
    assert record["key_fingerprint"] == key_fingerprint(key) and key not in str(record)
    assert record["status"] == "completed" and record["cancelled"] is False
    assert (
        record["first_completed_seen_at"]
        >= record["completed_at"]
        >= record["started_at"]
        >= record["created_at"]
    )
    assert record["input"]["size"] == "1280*720" and record["input"]["duration"] == 5


def test_identical_submits_are_counted(api: httpx.Client, control: SimulatorControl, submit: Submit) -> None:
    """Two submits of the same input by the same key show submits == 2 (double billing)."""
    first = submit(api, "https://example.com/a.png", prompt="same")
    submit(api, "https://example.com/a.png", prompt="same", duration="5")
    submit(api, "https://example.com/a.png", prompt="different")
    assert control.task(first["id"])["submits"] == 2
    assert [t["submits"] for t in control.tasks()] == [2, 2, 1]


def test_stats_count_requests_per_route_and_key(
    api: httpx.Client, control: SimulatorControl, submit: Submit, key: str
) -> None:
    """Stats count requests per route, per key fingerprint, submits per model, and tasks per status."""
    task = submit(api, "https://example.com/a.png")
    flash = {"image": "https://example.com/a.png", "prompt": "a draft"}
    assert api.post("/api/v3/luma/ray-2-flash-i2v", json=flash).status_code == 200
    api.get(f"/api/v3/predictions/{task['id']}/result")
    api.get("/api/v3/balance")
    api.post("/api/v3/model/pricing", json={"model_id": "luma/ray-2-i2v", "inputs": {}})
    stats = control.stats()
    assert stats["routes"] == {"submit": 2, "result": 1, "balance": 1, "pricing": 1}
    assert stats["keys"][key_fingerprint(key)]["submit"] == 2
    assert stats["models"] == {"luma/ray-2-i2v": 1, "luma/ray-2-flash-i2v": 1}
    assert sum(stats["tasks"].values()) == 2 and "rendered" in stats["renders"]


def test_reset_forgets_tasks_counters_and_accounts(
    api: httpx.Client, control: SimulatorControl, submit: Submit
) -> None:
    """After a reset there are no tasks, no counts, and balances start over."""
    submit(api, "https://example.com/a.png")
    control.reset()
    assert control.tasks() == [] and control.stats()["total"] == 0
    assert api.get("/api/v3/balance").json()["data"]["balance"] == 100.0


def test_accounts_control_sets_balance_and_validity(
    api: httpx.Client, control: SimulatorControl, key: str
) -> None:
    """The accounts endpoint sets a key's balance, and can reject then re-accept it."""
    control.set_account(key, balance=2.5)
    assert api.get("/api/v3/balance").json()["data"]["balance"] == 2.5
    control.set_account(key, valid=False)
    assert api.get("/api/v3/balance").status_code == 401
    control.set_account(key, valid=True)
    assert api.get("/api/v3/balance").status_code == 200
