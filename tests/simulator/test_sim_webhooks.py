"""Webhook callbacks: delivered when a task ends, signed as documented, recorded, or lost on purpose."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

import httpx

from luma_playground.simulator import SimulatorControl, sign_webhook

from ..conftest import wait_for

Submit = Callable[..., dict[str, Any]]
WaitUntilEnded = Callable[..., dict[str, Any]]

SUBMIT = "/api/v3/luma/ray-2-i2v"


def test_webhook_is_delivered_signed(
    api: httpx.Client, image_url: str, control: SimulatorControl, webhook_receiver: Any, key: str
) -> None:
    """A completed task POSTs its result to the webhook, with a valid v3 signature over id.timestamp.body."""
    response = api.post(
        SUBMIT, params={"webhook": webhook_receiver.url}, json={"image": image_url, "prompt": "a harbour"}
    )
    task_id = response.json()["data"]["id"]
    webhook_receiver.wait()
    headers, body, received_at = webhook_receiver.calls[0]
    secret = api.get("/api/v3/webhook/secret").json()["data"]["secret"]
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    digest = hmac.new(secret.removeprefix("whsec_").encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["webhook-signature"], f"v3,{digest}")
    assert headers["webhook-signature"] == sign_webhook(
        secret, headers["webhook-id"], headers["webhook-timestamp"], body
    )
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    payload = webhook_receiver.payload()
    assert payload["id"] == task_id and payload["status"] == "completed"
    assert payload["model"] == "luma/ray-2-i2v" and payload["input"]["prompt"] == "a harbour"
    assert payload["outputs"][0].endswith(f"/media/outputs/{task_id}.mp4")
    assert set(payload) >= {"urls", "has_nsfw_contents", "created_at", "error", "timings"}
    # The simulator records a delivery once its answer is back, a moment after the receiver has it.
    record = wait_for(
        lambda: (found := control.task(task_id))["webhook_deliveries"] and found, what="a delivery"
    )
    assert record["webhook_url"] == webhook_receiver.url
    [delivery] = record["webhook_deliveries"]
    assert delivery["status"] == 200 and delivery["webhook_id"] == headers["webhook-id"]
    assert record["completed_at"] <= delivery["sent_at"] <= received_at


def test_webhook_body_field_and_failed_tasks(
    api: httpx.Client, webhook_receiver: Any, wait_until_ended: WaitUntilEnded
) -> None:
    """The body field webhook_url works too, and a failed task is delivered with its error."""
    body = {"image": "https://example.com/x.png", "prompt": "x", "webhook_url": webhook_receiver.url}
    task_id = api.post(SUBMIT, json=body).json()["data"]["id"]
    wait_until_ended(api, task_id)
    webhook_receiver.wait()
    payload = webhook_receiver.payload()
    assert payload["status"] == "failed" and payload["error"].startswith("1402: ")


def test_webhook_lost_is_never_delivered(
    api: httpx.Client,
    control: SimulatorControl,
    webhook_receiver: Any,
    submit: Submit,
    wait_until_ended: WaitUntilEnded,
) -> None:
    """With webhook_lost the task completes but its webhook never arrives, so only polling finds it."""
    control.add_fault("submit", "webhook_lost")
    body = {"image": "https://example.com/x.png", "prompt": "x"}
    hook = {"webhook": webhook_receiver.url}
    task_id = api.post(SUBMIT, params=hook, json=body).json()["data"]["id"]
    wait_until_ended(api, task_id)
    # A later task's webhook, sent after the lost one would have been, has arrived.
    later_id = api.post(SUBMIT, params=hook, json=body).json()["data"]["id"]
    webhook_receiver.wait()
    assert [webhook_receiver.payload(i)["id"] for i in range(len(webhook_receiver.calls))] == [later_id]
    record = control.task(task_id)
    assert record["webhook_lost"] is True and record["webhook_deliveries"] == []


def test_unreachable_webhook_is_retried_and_recorded(api: httpx.Client, control: SimulatorControl) -> None:
    """A webhook that cannot be reached is tried three times, each attempt recorded with its error."""
    body = {"image": "https://example.com/x.png", "prompt": "x"}
    task_id = api.post(SUBMIT, params={"webhook": "http://127.0.0.1:9/hook"}, json=body).json()["data"]["id"]
    deadline = time.monotonic() + 10
    while len(control.task(task_id)["webhook_deliveries"]) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    deliveries = control.task(task_id)["webhook_deliveries"]
    assert [d["attempt"] for d in deliveries] == [1, 2, 3]
    assert all(d["status"] is None and d["error"] for d in deliveries)
    assert len({d["webhook_id"] for d in deliveries}) == 1
