"""Tier limits over real HTTP: submits per minute get a 429, tasks beyond the concurrency wait."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from luma_playground.simulator import SimulatorControl, SimulatorServer, key_fingerprint

from .conftest import KEY, OTHER_KEY

Submit = Callable[..., dict[str, Any]]
WaitUntilEnded = Callable[..., dict[str, Any]]


def _post(api: httpx.Client, image_url: str) -> httpx.Response:
    return api.post("/api/v3/luma/ray-2-i2v", json={"image": image_url, "prompt": "a harbour"})


def test_submits_past_the_rate_get_a_429_with_retry_after(
    api: httpx.Client, other_api: httpx.Client, image_url: str, control: SimulatorControl
) -> None:
    """The third submit of a key within a (scaled) minute is refused; another key is not limited."""
    control.set_limits(submits_per_minute=2, concurrent_tasks=None)
    assert [_post(api, image_url).status_code for _ in range(2)] == [200, 200]
    refused = _post(api, image_url)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["code"] == 429
    assert _post(other_api, image_url).status_code == 200
    usage = control.limits()["keys"][key_fingerprint(KEY)]
    assert usage["submits"] == 2 and usage["rate_limited"] == 1
    assert usage["peak_submits_per_window"] == 2
    assert len([t for t in control.tasks() if t["key_fingerprint"] == key_fingerprint(KEY)]) == 2
    assert control.limits()["keys"][key_fingerprint(OTHER_KEY)]["rate_limited"] == 0


def test_tasks_beyond_the_concurrency_wait_until_one_ends(
    api: httpx.Client,
    image_url: str,
    control: SimulatorControl,
    submit: Submit,
    wait_until_ended: WaitUntilEnded,
) -> None:
    """With 1 at once, a second task stays created until the first has ended; both complete."""
    control.set_limits(submits_per_minute=None, concurrent_tasks=1)
    first, second = submit(api, image_url), submit(api, image_url)
    assert wait_until_ended(api, first["id"])["status"] == "completed"
    assert wait_until_ended(api, second["id"])["status"] == "completed"
    one, two = control.task(first["id"]), control.task(second["id"])
    assert two["started_at"] >= one["ended_at"]
    usage = control.limits()["keys"][key_fingerprint(KEY)]
    assert usage["peak_active"] == 2 and usage["active"] == 0


def test_peak_active_counts_tasks_submitted_and_not_ended(
    api: httpx.Client,
    image_url: str,
    control: SimulatorControl,
    submit: Submit,
    wait_until_ended: WaitUntilEnded,
) -> None:
    """Without limits the simulator still records the most tasks a key had active at once."""
    ids = [submit(api, image_url)["id"] for _ in range(3)]
    for task_id in ids:
        wait_until_ended(api, task_id)
    api.delete(f"/api/v3/predictions/{submit(api, image_url)['id']}")
    usage = control.limits()["keys"][key_fingerprint(KEY)]
    assert usage["peak_active"] == 3 and usage["active"] == 0 and usage["submits"] == 4


def test_reset_restores_the_configured_limits(control: SimulatorControl, simulator: SimulatorServer) -> None:
    """Limits set through the control API last until the next reset; bad ones are refused."""
    control.set_limits(submits_per_minute=4, concurrent_tasks=2)
    limits = control.limits()
    assert (limits["submits_per_minute"], limits["concurrent_tasks"]) == (4, 2)
    assert limits["window_s"] == pytest.approx(60 * simulator.config.time_scale)
    control.reset()
    assert control.limits() == {
        "submits_per_minute": None,
        "concurrent_tasks": None,
        "window_s": limits["window_s"],
        "keys": {},
    }
    with pytest.raises(ValueError, match="400"):
        control.set_limits(submits_per_minute=0, concurrent_tasks=None)
