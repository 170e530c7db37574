"""The WaveSpeed routes over real HTTP: envelopes, validation, auth, money, history, optimizer."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from luma_playground.simulator import SimulatorConfig, SimulatorControl, SimulatorServer
from luma_playground.simulator._simulator import SYNC_TIMEOUT_S
from luma_playground.simulator._timing import TimingModel

Submit = Callable[..., dict[str, Any]]
WaitUntilEnded = Callable[..., dict[str, Any]]
MakeClient = Callable[..., httpx.Client]

FOREIGN_IMAGE = "https://example.com/cat.png"


def test_submit_returns_a_created_prediction(
    api: httpx.Client, image_url: str, simulator: SimulatorServer
) -> None:
    """A submit answers the documented envelope with status created and a result URL on this server."""
    response = api.post("/api/v3/luma/ray-2-i2v", json={"image": image_url, "prompt": "a harbour"})
    body = response.json()
    assert response.status_code == 200 and body["code"] == 200 and body["message"] == "success"
    data = body["data"]
    assert len(data["id"]) == 32 and int(data["id"], 16) >= 0
    assert data["model"] == "luma/ray-2-i2v" and data["status"] == "created"
    assert data["outputs"] == [] and data["has_nsfw_contents"] == [] and data["error"] == ""
    assert data["urls"]["get"] == f"{simulator.base_url}/api/v3/predictions/{data['id']}/result"
    assert data["created_at"].endswith("Z") and data["timings"] == {"inference": 0}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "x"}, "image"),
        ({"image": "not a url", "prompt": "x"}, "image"),
        ({"image": "data:image/png;base64,AAAA", "prompt": "x"}, "image"),
        ({"image": "IMAGE"}, "prompt"),
        ({"image": "IMAGE", "prompt": "   "}, "prompt"),
        ({"image": "IMAGE", "prompt": "x", "size": "1920*1080"}, "size"),
        ({"image": "IMAGE", "prompt": "x", "duration": 7}, "duration"),
        ({"image": "IMAGE", "prompt": "x", "duration": True}, "duration"),
        ({"image": "IMAGE", "prompt": "x", "enable_sync_mode": "yes"}, "enable_sync_mode"),
    ],
)
def test_submit_validation_names_the_field(
    api: httpx.Client, image_url: str, body: dict[str, object], field: str
) -> None:
    """Each invalid field is a 400 whose message names it, and nothing is created."""
    body = {name: image_url if value == "IMAGE" else value for name, value in body.items()}
    response = api.post("/api/v3/luma/ray-2-i2v", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == 400 and field in response.json()["message"]
    assert api.get("/api/v3/balance").json()["data"]["balance"] == 100.0


def test_submit_accepts_duration_as_string_and_defaults(
    api: httpx.Client, control: SimulatorControl, submit: Submit
) -> None:
    """Duration may be "10"; size defaults to 1280*720 and duration to 5."""
    first = submit(api, FOREIGN_IMAGE, duration="10")
    second = submit(api, FOREIGN_IMAGE)
    assert control.task(first["id"])["input"]["duration"] == 10
    assert control.task(second["id"])["input"] == {
        "image": FOREIGN_IMAGE,
        "prompt": "a quiet harbour at dawn",
        "size": "1280*720",
        "duration": 5,
    }


def test_invalid_json_body_is_a_400(api: httpx.Client) -> None:
    """A body that is not a JSON object is refused with 400."""
    response = api.post(
        "/api/v3/luma/ray-2-i2v", content=b"[1, 2", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and "JSON" in response.json()["message"]


def test_webhook_with_base64_output_is_a_400(api: httpx.Client, image_url: str) -> None:
    """A webhook cannot be combined with base64 outputs."""
    response = api.post(
        "/api/v3/luma/ray-2-i2v",
        params={"webhook": "http://127.0.0.1:9/hook"},
        json={"image": image_url, "prompt": "x", "enable_base64_output": True},
    )
    assert response.status_code == 400 and "webhook" in response.json()["message"]


@pytest.mark.parametrize("header", [None, "Bearer", "Basic abc"])
def test_missing_key_is_a_401(header: str | None, make_client: MakeClient) -> None:
    """Without a Bearer key every API route answers 401 with the documented shape."""
    headers = {"Authorization": header} if header else {}
    with make_client(None, headers=headers) as client:
        for method, path in [
            ("GET", "/api/v3/balance"),
            ("POST", "/api/v3/luma/ray-2-i2v"),
            ("GET", "/api/v3/predictions/abc/result"),
            ("GET", "/api/v3/webhook/secret"),
        ]:
            response = client.request(method, path, json={} if method == "POST" else None)
            assert response.status_code == 401
            assert response.json() == {"code": 401, "message": "Invalid authentication: missing API key"}


def test_rejected_key_is_a_401(api: httpx.Client, control: SimulatorControl, key: str) -> None:
    """A key marked invalid through the control API is refused."""
    control.set_account(key, valid=False)
    response = api.get("/api/v3/balance")
    assert response.status_code == 401 and "rejected" in response.json()["message"]


def test_unknown_task_is_a_404(api: httpx.Client) -> None:
    """An unknown task id is a 404 on GET, the /result GET and DELETE."""
    for method, path in [
        ("GET", "/api/v3/predictions/0123/result"),
        ("GET", "/api/v3/predictions/0123"),
        ("DELETE", "/api/v3/predictions/0123"),
    ]:
        response = api.request(method, path)
        assert response.status_code == 404 and response.json()["code"] == 404


def test_another_keys_task_is_a_404(api: httpx.Client, other_api: httpx.Client, submit: Submit) -> None:
    """A task is visible only to the key that created it."""
    task = submit(api, FOREIGN_IMAGE)
    assert other_api.get(f"/api/v3/predictions/{task['id']}/result").status_code == 404
    assert other_api.delete(f"/api/v3/predictions/{task['id']}").status_code == 404
    assert api.get(f"/api/v3/predictions/{task['id']}").status_code == 200


def test_insufficient_balance_is_a_402_then_failure_refunds(
    api: httpx.Client, control: SimulatorControl, submit: Submit, wait_until_ended: WaitUntilEnded, key: str
) -> None:
    """A task the balance cannot pay is refused with 402; a failed task is refunded."""
    control.set_account(key, balance=0.3)
    response = api.post("/api/v3/luma/ray-2-i2v", json={"image": FOREIGN_IMAGE, "prompt": "x"})
    assert response.status_code == 402 and response.json()["message"].startswith("Insufficient balance")
    control.set_account(key, balance=1.0)
    task = submit(api, FOREIGN_IMAGE, duration=10)
    assert api.get("/api/v3/balance").json()["data"]["balance"] == 0.0
    assert wait_until_ended(api, task["id"])["status"] == "failed"
    assert api.get("/api/v3/balance").json()["data"]["balance"] == 1.0


def test_foreign_image_url_fails_with_1402(
    api: httpx.Client, submit: Submit, wait_until_ended: WaitUntilEnded
) -> None:
    """The simulator cannot fetch images it does not host: the task fails with code 1402."""
    data = wait_until_ended(api, submit(api, FOREIGN_IMAGE)["id"])
    assert data["status"] == "failed" and data["outputs"] == []
    assert data["error"] == "1402: Failed to download image from the provided URL."
    assert data["code"] == 1402


def test_cancel_refunds_a_running_task(
    api: httpx.Client, image_url: str, control: SimulatorControl, submit: Submit
) -> None:
    """DELETE answers "deleted" for any task; it stops and refunds a running one, leaves an ended one."""
    task = submit(api, image_url)
    response = api.delete(f"/api/v3/predictions/{task['id']}")
    assert response.status_code == 200
    assert response.json() == {
        "code": 200,
        "message": "success",
        "data": {"id": task["id"], "status": "deleted"},
    }
    assert api.get("/api/v3/balance").json()["data"]["balance"] == 100.0
    assert control.task(task["id"])["cancelled"] is True
    assert api.get(f"/api/v3/predictions/{task['id']}/result").json()["data"]["status"] == "cancelled"
    again = api.delete(f"/api/v3/predictions/{task['id']}")
    assert again.status_code == 200 and again.json()["data"]["status"] == "deleted"


def test_base64_output_puts_the_video_in_outputs(
    api: httpx.Client, image_url: str, submit: Submit, wait_until_ended: WaitUntilEnded
) -> None:
    """With enable_base64_output the output is the MP4 itself, base64-encoded."""
    data = wait_until_ended(api, submit(api, image_url, enable_base64_output=True)["id"])
    video = base64.b64decode(data["outputs"][0])
    assert video[4:8] == b"ftyp"


def test_sync_mode_answers_completed(api: httpx.Client, image_url: str, submit: Submit) -> None:
    """With enable_sync_mode a short clip's submit answers only once it has completed."""
    data = submit(api, image_url, enable_sync_mode=True)
    assert data["status"] == "completed" and data["outputs"][0].endswith(f"/media/outputs/{data['id']}.mp4")


def test_pricing_is_per_5_seconds(api: httpx.Client) -> None:
    """The price is 0.50 USD per 5 s of video, marked simulated; an unknown model is a 400."""

    def price(inputs: dict[str, object], model: str = "luma/ray-2-i2v") -> httpx.Response:
        return api.post("/api/v3/model/pricing", json={"model_id": model, "inputs": inputs})

    five = price({"duration": 5}).json()["data"]
    assert five["unit_price"] == 0.5 and five["currency"] == "USD" and five["simulated"] is True
    assert price({"duration": "10"}).json()["data"]["unit_price"] == 1.0
    assert price({}).json()["data"]["unit_price"] == 0.5
    assert price({}, "wavespeed-ai/prompt-optimizer").json()["data"]["unit_price"] == 0.001
    assert price({}, "acme/unknown").status_code == 400


def test_balance_starts_at_the_initial_amount(api: httpx.Client) -> None:
    """A new key starts with 100 simulated USD."""
    data = api.get("/api/v3/balance").json()["data"]
    assert data == {"balance": 100.0, "currency": "USD", "simulated": True}


def test_webhook_secret_is_stable_per_key(
    api: httpx.Client, other_api: httpx.Client, control: SimulatorControl, key: str
) -> None:
    """Each key has its own whsec_ secret, the same on every call and across resets."""
    secret = api.get("/api/v3/webhook/secret").json()["data"]["secret"]
    assert secret.startswith("whsec_") and len(secret) > 20
    control.reset()
    assert control.webhook_secret(key) == secret
    assert other_api.get("/api/v3/webhook/secret").json()["data"]["secret"] != secret


def test_prompt_optimizer_is_a_short_paid_task(api: httpx.Client, wait_until_ended: WaitUntilEnded) -> None:
    """The optimizer runs as a task whose output is the rewritten prompt text, for 0.001 USD."""
    response = api.post(
        "/api/v3/wavespeed-ai/prompt-optimizer",
        json={"text": "a fox in snow", "mode": "video", "style": "anime"},
    )
    task = response.json()["data"]
    assert task["status"] == "created" and task["model"] == "wavespeed-ai/prompt-optimizer"
    data = wait_until_ended(api, task["id"])
    assert data["status"] == "completed" and data["outputs"][0].startswith("A fox in snow, anime style")
    assert api.get("/api/v3/balance").json()["data"]["balance"] == pytest.approx(99.999)


def test_prompt_optimizer_sync_mode_and_validation(api: httpx.Client) -> None:
    """Sync mode answers completed at once; a blank text or unknown style is a 400."""
    body = {"text": "a fox", "style": "realistic", "enable_sync_mode": True}
    data = api.post("/api/v3/wavespeed-ai/prompt-optimizer", json=body).json()["data"]
    assert data["status"] == "completed" and "photorealistic" in data["outputs"][0]
    for bad, field in [
        ({"text": " "}, "text"),
        ({"text": "x", "style": "noir"}, "style"),
        ({"text": "x", "mode": "audio"}, "mode"),
    ]:
        response = api.post("/api/v3/wavespeed-ai/prompt-optimizer", json=bad)
        assert response.status_code == 400 and field in response.json()["message"]


def test_history_lists_the_keys_tasks_newest_first(
    api: httpx.Client, other_api: httpx.Client, submit: Submit
) -> None:
    """POST /api/v3/predictions pages through the caller's tasks, newest first, with inputs when asked."""
    ids = []
    for prompt in ("first", "second", "third"):
        ids.append(submit(api, FOREIGN_IMAGE, prompt=prompt)["id"])
        time.sleep(0.002)
    submit(other_api, FOREIGN_IMAGE, prompt="someone else's")
    data = api.post("/api/v3/predictions", json={"page": 1, "page_size": 2, "include_inputs": True}).json()[
        "data"
    ]
    assert data["total"] == 3 and data["page"] == 1 and data["page_size"] == 2
    assert [item["id"] for item in data["items"]] == [ids[2], ids[1]]
    assert data["items"][0]["input"]["prompt"] == "third"
    unasked = api.post("/api/v3/predictions", json={"page": 1, "page_size": 2}).json()["data"]
    assert "input" not in unasked["items"][0] and "executionTime" in unasked["items"][0]
    second_page = api.post("/api/v3/predictions", json={"page": 2, "page_size": 2}).json()["data"]
    assert [item["id"] for item in second_page["items"]] == [ids[0]]


def test_history_filters(api: httpx.Client, submit: Submit, wait_until_ended: WaitUntilEnded) -> None:
    """History filters by model, status and creation time."""
    task = submit(api, FOREIGN_IMAGE)
    wait_until_ended(api, task["id"])
    api.post("/api/v3/wavespeed-ai/prompt-optimizer", json={"text": "x", "enable_sync_mode": True})

    def ids(**query: object) -> list[str]:
        return [item["id"] for item in api.post("/api/v3/predictions", json=query).json()["data"]["items"]]

    assert ids(model="luma/ray-2-i2v") == [task["id"]]
    assert ids(status="failed") == [task["id"]]
    assert ids(created_after=time.time() + 60) == []
    assert ids(created_before="2000-01-01T00:00:00Z") == []
    assert api.post("/api/v3/predictions", json={"page_size": 1000}).status_code == 400


def test_unknown_api_path_is_a_json_404(api: httpx.Client) -> None:
    """An unknown model or path under /api/v3 answers a JSON 404."""
    response = api.post("/api/v3/acme/video-model", json={})
    assert response.status_code == 404 and response.json()["code"] == 404


def test_sync_mode_times_out_like_the_gateway(tmp_path: Path, photo_png: bytes) -> None:
    """A sync submit outlasting 90 s (scaled) answers HTTP 200, processing, code 5004 and the task id."""
    # The first plan of a fresh server is the first draw of its seeded model: pick a seed where it is long.
    seed = next(s for s in range(100) if TimingModel(seed=s).plan_video(10).total_s > SYNC_TIMEOUT_S)
    config = SimulatorConfig(time_scale=0.001, seed=seed, output_dir=tmp_path)
    with (
        SimulatorServer(config) as server,
        httpx.Client(
            base_url=server.base_url, headers={"Authorization": "Bearer k"}, trust_env=False, timeout=30
        ) as client,
    ):
        files = {"file": ("p.png", photo_png, "image/png")}
        image = client.post("/api/v3/media/upload/binary", files=files).json()["data"]["download_url"]
        body = {"image": image, "prompt": "x", "duration": 10, "enable_sync_mode": True}
        response = client.post("/api/v3/luma/ray-2-i2v", json=body)
        assert response.status_code == 200 and response.json()["code"] == 200
        data = response.json()["data"]
        assert (
            data["status"] == "processing" and data["code"] == 5004 and "Sync mode timed out" in data["error"]
        )
        # The answer said processing; the task goes on (it may end a moment later, 16 ms scaled).
        [task] = server.control.tasks()
        assert task["id"] == data["id"] and task["status"] in ("created", "processing", "completed")
