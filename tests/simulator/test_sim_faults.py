"""Each fault kind, seen from a real httpx client."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from luma_playground.simulator import SimulatorControl

Submit = Callable[..., dict[str, Any]]
WaitUntilEnded = Callable[..., dict[str, Any]]
MakeClient = Callable[..., httpx.Client]

FOREIGN_IMAGE = "https://example.com/cat.png"
SUBMIT = "/api/v3/luma/ray-2-i2v"


def test_status_fault_with_retry_after(api: httpx.Client, control: SimulatorControl) -> None:
    """A status fault answers 429 with a JSON error and the Retry-After header, once."""
    control.add_fault("balance", "status", status=429, retry_after=7)
    limited = api.get("/api/v3/balance")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    assert limited.json()["code"] == 429 and limited.json()["message"]
    assert api.get("/api/v3/balance").status_code == 200


def test_status_fault_cycles_through_statuses(
    api: httpx.Client, control: SimulatorControl, submit: Submit
) -> None:
    """A `statuses` list is cycled through, one per affected request."""
    task = submit(api, FOREIGN_IMAGE)
    control.add_fault("result", "status", statuses=[502, 503, 504], count=3)
    codes = [api.get(f"/api/v3/predictions/{task['id']}/result").status_code for _ in range(4)]
    assert codes == [502, 503, 504, 200]


def test_html_fault_is_a_gateway_page(api: httpx.Client, control: SimulatorControl, submit: Submit) -> None:
    """An html fault answers a gateway-style HTML page; the submit is counted but creates nothing."""
    control.add_fault("submit", "html")
    response = api.post(SUBMIT, json={"image": FOREIGN_IMAGE, "prompt": "x"})
    assert response.status_code == 502 and response.headers["content-type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in response.text
    assert control.tasks() == []
    task = submit(api, FOREIGN_IMAGE, prompt="x")
    assert control.task(task["id"])["submits"] == 2


def test_empty_fault_has_no_body(api: httpx.Client, control: SimulatorControl) -> None:
    """An empty fault answers its status with an empty body."""
    control.add_fault("pricing", "empty", status=503)
    response = api.post("/api/v3/model/pricing", json={"model_id": "luma/ray-2-i2v"})
    assert response.status_code == 503 and response.content == b""


def test_malformed_fault_does_not_parse(api: httpx.Client, control: SimulatorControl, submit: Submit) -> None:
    """A malformed fault is a 200 JSON response whose body cannot be parsed."""
    task = submit(api, FOREIGN_IMAGE)
    control.add_fault("result", "malformed")
    response = api.get(f"/api/v3/predictions/{task['id']}/result")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_drop_before_processing_creates_nothing(api: httpx.Client, control: SimulatorControl) -> None:
    """A dropped submit closes the connection without an answer, and no task exists."""
    control.add_fault("submit", "drop")
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(SUBMIT, json={"image": FOREIGN_IMAGE, "prompt": "x"})
    assert control.tasks() == [] and control.stats()["routes"]["submit"] == 1


def test_drop_after_processing_creates_the_task(
    api: httpx.Client, control: SimulatorControl, submit: Submit
) -> None:
    """With after_processing the task exists though the client got no answer; history finds it."""
    control.add_fault("submit", "drop", after_processing=True)
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(SUBMIT, json={"image": FOREIGN_IMAGE, "prompt": "lost answer"})
    [task] = control.tasks()
    assert task["submits"] == 1 and task["input"]["prompt"] == "lost answer"
    items = api.post("/api/v3/predictions", json={"page_size": 5}).json()["data"]["items"]
    assert [item["id"] for item in items] == [task["id"]]
    submit(api, FOREIGN_IMAGE, prompt="lost answer")
    assert control.task(task["id"])["submits"] == 2


def test_drop_on_a_poll(api: httpx.Client, control: SimulatorControl, submit: Submit) -> None:
    """A drop on the result route is a protocol error for the client, and the next poll works."""
    task = submit(api, FOREIGN_IMAGE)
    control.add_fault("result", "drop")
    with pytest.raises(httpx.RemoteProtocolError):
        api.get(f"/api/v3/predictions/{task['id']}/result")
    assert api.get(f"/api/v3/predictions/{task['id']}/result").status_code == 200


def test_stalled_submit_times_out_but_creates_the_task(
    control: SimulatorControl, key: str, make_client: MakeClient
) -> None:
    """A stalled submit trips the client's read timeout, and the task was created anyway."""
    control.add_fault("submit", "stall", seconds=2)
    with make_client(key, timeout=httpx.Timeout(5, read=0.3)) as client, pytest.raises(httpx.ReadTimeout):
        client.post(SUBMIT, json={"image": FOREIGN_IMAGE, "prompt": "slow"})
    assert len(control.tasks()) == 1


def test_stall_before_processing_creates_nothing(
    control: SimulatorControl, key: str, make_client: MakeClient
) -> None:
    """With before_processing a client that gives up during the stall leaves no task behind."""
    control.add_fault("submit", "stall", seconds=0.6, before_processing=True, count=2)
    with make_client(key, timeout=httpx.Timeout(5, read=0.2)) as client, pytest.raises(httpx.ReadTimeout):
        client.post(SUBMIT, json={"image": FOREIGN_IMAGE, "prompt": "gave up"})
    # A submit sent after the abandoned one sits out the same stall; once it is answered, the
    # abandoned one's stall is over too.
    with make_client(key, timeout=httpx.Timeout(5, read=3)) as client:
        later = client.post(SUBMIT, json={"image": FOREIGN_IMAGE, "prompt": "waited"})
    assert later.status_code == 200, later.text
    assert [task["input"]["prompt"] for task in control.tasks()] == ["waited"]


def test_short_stall_answers_normally(api: httpx.Client, control: SimulatorControl) -> None:
    """A stall shorter than the client's timeout only delays the normal answer."""
    control.add_fault("balance", "stall", seconds=0.3)
    response = api.get("/api/v3/balance")
    assert response.status_code == 200
    assert [rule["applied"] for rule in control.faults()] == [1]  # the stall happened first


def test_fault_scoped_to_a_key(
    api: httpx.Client, other_api: httpx.Client, control: SimulatorControl, other_key: str
) -> None:
    """A rule with a key affects only requests bearing that key."""
    control.add_fault("balance", "status", status=500, key=other_key)
    assert api.get("/api/v3/balance").status_code == 200
    assert other_api.get("/api/v3/balance").status_code == 500


def test_skip_and_forever(api: httpx.Client, control: SimulatorControl) -> None:
    """skip lets the first requests pass; count -1 affects every later one until cleared."""
    control.add_fault("balance", "status", status=503, skip=2, count=-1)
    codes = [api.get("/api/v3/balance").status_code for _ in range(5)]
    assert codes == [200, 200, 503, 503, 503]
    assert control.faults()[0]["applied"] == 3
    control.clear_faults()
    assert api.get("/api/v3/balance").status_code == 200


def test_any_route_spares_the_control_api(api: httpx.Client, control: SimulatorControl) -> None:
    """A rule on route any affects API routes, never the /_simulator/ ones."""
    control.add_fault("any", "status", status=500, count=-1)
    assert api.get("/api/v3/balance").status_code == 500
    assert api.post("/api/v3/model/pricing", json={}).status_code == 500
    assert control.stats()["routes"]["balance"] == 1


def test_expired_output_is_a_404(
    api: httpx.Client,
    image_url: str,
    control: SimulatorControl,
    submit: Submit,
    wait_until_ended: WaitUntilEnded,
) -> None:
    """An expired output answers 404, as after the 7 days of retention."""
    data = wait_until_ended(api, submit(api, image_url)["id"])
    control.add_fault("output", "expired")
    assert httpx.get(data["outputs"][0], trust_env=False).status_code == 404
    assert httpx.get(data["outputs"][0], trust_env=False).status_code == 200


def test_truncated_output_stops_short(
    api: httpx.Client,
    image_url: str,
    control: SimulatorControl,
    submit: Submit,
    wait_until_ended: WaitUntilEnded,
) -> None:
    """A truncated download declares the full length, sends part of it and closes the connection."""
    url = wait_until_ended(api, submit(api, image_url)["id"])["outputs"][0]
    control.add_fault("output", "truncated", count=2)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url, trust_env=False)
    received = 0
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("GET", url, trust_env=False) as response:
        declared = int(response.headers["content-length"])
        for chunk in response.iter_raw():
            received += len(chunk)
    assert 0 < received < declared


def test_task_failed_fault(
    api: httpx.Client,
    image_url: str,
    control: SimulatorControl,
    submit: Submit,
    wait_until_ended: WaitUntilEnded,
) -> None:
    """task_failed makes the next task fail with the given code and text, and refunds it."""
    control.add_fault("submit", "task_failed", error_code=1405, error="Task failed.")
    data = wait_until_ended(api, submit(api, image_url)["id"])
    assert data["status"] == "failed" and data["error"] == "1405: Task failed." and data["code"] == 1405
    assert api.get("/api/v3/balance").json()["data"]["balance"] == 100.0
    assert wait_until_ended(api, submit(api, image_url)["id"])["status"] == "completed"


def test_moderation_fault(
    api: httpx.Client,
    image_url: str,
    control: SimulatorControl,
    submit: Submit,
    wait_until_ended: WaitUntilEnded,
) -> None:
    """moderation fails the next task with code 1200."""
    control.add_fault("submit", "moderation")
    data = wait_until_ended(api, submit(api, image_url)["id"])
    assert data["status"] == "failed" and data["error"].startswith("1200: ") and data["code"] == 1200


def test_nsfw_fault(
    api: httpx.Client,
    image_url: str,
    control: SimulatorControl,
    submit: Submit,
    wait_until_ended: WaitUntilEnded,
) -> None:
    """nsfw completes the next task with its NSFW flag set."""
    control.add_fault("submit", "nsfw")
    data = wait_until_ended(api, submit(api, image_url)["id"])
    assert data["status"] == "completed" and data["has_nsfw_contents"] == [True]


def test_invalid_fault_is_refused(control: SimulatorControl) -> None:
    """The control API refuses a fault rule it could not honour."""
    with pytest.raises(ValueError, match="kind"):
        control.add_fault("result", "explode")


def test_slow_fault_keeps_the_task_running_until_cancelled(
    api: httpx.Client,
    image_url: str,
    control: SimulatorControl,
    submit: Submit,
    wait_until_ended: WaitUntilEnded,
) -> None:
    """slow keeps the next task running (a later task ends before it) until a cancel stops it."""
    control.add_fault("submit", "slow", seconds=600)
    held = submit(api, image_url)["id"]
    assert wait_until_ended(api, submit(api, image_url)["id"])["status"] == "completed"
    assert control.task(held)["status"] in ("created", "processing")
    assert api.delete(f"/api/v3/predictions/{held}").status_code == 200
    assert wait_until_ended(api, held)["status"] == "cancelled"
