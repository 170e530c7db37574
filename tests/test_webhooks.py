"""Completion callbacks over real HTTP: accepted, forged or replayed ones refused, lost ones rescued."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from luma_playground import ApiKey, Done, GenerationRequest, Journal, Playground, Settings, WaveSpeedClient
from luma_playground._run.pipeline import Pipeline
from luma_playground._wavespeed.polling import Wake
from luma_playground._wavespeed.retry import RetryPolicy
from luma_playground._wavespeed.webhooks import (
    Subscription,
    WebhookRegistry,
    WebhookRejected,
    mount_webhooks,
    verify_signature,
)
from luma_playground.simulator import sign_webhook

pytestmark = pytest.mark.anyio
KEY = ApiKey("sk-webhook-test")


class AppServer:
    """A Starlette app on 127.0.0.1 in a thread, like the Gradio server the routes are mounted on."""

    def __init__(self, app: Starlette) -> None:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self.base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [listener]}, daemon=True)
        self._thread.start()
        while not self._server.started:
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)


@pytest.fixture(scope="module")
def app_server() -> Iterator[AppServer]:
    server = AppServer(Starlette())
    yield server
    server.stop()


@pytest.fixture
def registry(app_server: AppServer) -> WebhookRegistry:
    """A registry whose routes are mounted on the running app (as on a live Gradio server)."""
    registry = WebhookRegistry(app_server.base_url, allow_http=True)
    app_server._server.config.app.router.routes.clear()  # one registry per test
    mount_webhooks(app_server._server.config.app, registry)
    return registry


@pytest.fixture
async def client(sim):  # type: ignore[no-untyped-def]
    client = WaveSpeedClient(sim.base_url, KEY, retry=RetryPolicy(scale=0))
    yield client
    await client.aclose()


@pytest.fixture
async def pipeline(client, registry, tmp_path: Path):  # type: ignore[no-untyped-def]
    journal = Journal(tmp_path / "journal.sqlite3")
    yield Pipeline.create(client, journal, tmp_path / "outputs", notifier=registry)
    await registry.aclose()
    journal.close()


async def _generate(pipeline: Pipeline, image: Path) -> Done:
    events = [e async for e in pipeline.generate(GenerationRequest.create(image, "pan left"), api_key=KEY)]
    assert isinstance(events[-1], Done)
    return events[-1]


def _signed(
    secret: str, body: bytes, *, webhook_id: str = "msg_1", timestamp: int | None = None
) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign_webhook(secret, webhook_id, stamp, body),
        "content-type": "application/json",
    }


async def _post(
    registry: WebhookRegistry, subscription: Subscription, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as http:
        return await http.post(subscription.callback_url, content=body, headers=headers)


async def test_callback_wakes_the_task_which_is_confirmed_by_one_get(pipeline, sim, landscape_image) -> None:
    """Once a callback has proven to arrive, the next task's signed callback is its only poll's cue."""
    await _generate(pipeline, landscape_image)
    assert pipeline.notifier.trust_of(pipeline.client, KEY).trusted
    done = await _generate(pipeline, landscape_image)
    record = sim.control.task(done.task_id)
    assert record["webhook_url"].startswith(f"{pipeline.notifier.public_url}/webhooks/wavespeed/")
    assert [d["status"] for d in record["webhook_deliveries"]] == [200]
    assert record["polls"] == 1
    assert record["first_completed_seen_at"] - record["completed_at"] < 0.25
    assert pipeline.notifier.open_count == 0, "the token is closed when the task ends"


async def test_trust_is_gained_by_the_first_verified_callback(pipeline, sim, landscape_image) -> None:
    """A key starts untrusted: its first task carries the callback URL and trusts it once it came."""
    trust = pipeline.notifier.trust_of(pipeline.client, KEY)
    assert not trust.trusted
    done = await _generate(pipeline, landscape_image)
    record = sim.control.task(done.task_id)
    assert record["webhook_url"] is not None
    assert [d["status"] for d in record["webhook_deliveries"]] == [200]
    assert trust.trusted and trust.received == 1 and trust.missed == 0


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


async def test_trust_is_lost_when_a_poll_finds_the_end_first(pipeline, sim, landscape_image) -> None:
    """A dropped callback, found by the safety poll, distrusts the key; the next callback restores it."""
    registry = pipeline.notifier
    registry.safety_interval, registry.callback_grace = 0.5, 0.05
    trust = registry.trust_of(pipeline.client, KEY)
    await _generate(pipeline, landscape_image)
    assert trust.trusted
    sim.control.add_fault("submit", "webhook_lost")
    done = await _generate(pipeline, landscape_image)
    record = sim.control.task(done.task_id)
    assert record["webhook_lost"] and record["webhook_deliveries"] == []
    assert record["status"] == "completed" and done.video_path.exists()
    await _until(lambda: not trust.trusted, "the key is still trusted after a lost callback")
    assert trust.missed == 1
    await _generate(pipeline, landscape_image)
    assert trust.trusted and trust.received == 2


async def test_untrusted_tasks_poll_as_without_callbacks(sim, registry, tmp_path, landscape_image) -> None:
    """A lost callback of an untrusted key costs no safety interval: the task polls about once a second."""
    registry.safety_interval = 3600.0  # a task waiting on it would never end
    sim.control.add_fault("submit", "webhook_lost")
    # The model works 2 s of wall-clock time whatever the time scale: long enough for the pace to show.
    sim.control.add_fault("submit", "slow", seconds=2)
    async with WaveSpeedClient(sim.base_url, KEY, retry=RetryPolicy(scale=0)) as client:
        journal = Journal(tmp_path / "journal.sqlite3")
        pipeline = Pipeline.create(client, journal, tmp_path / "outputs", notifier=registry)
        done = await asyncio.wait_for(_generate(pipeline, landscape_image), 60)
        journal.close()
    record = sim.control.task(done.task_id)
    assert record["webhook_url"] is not None and record["webhook_deliveries"] == []
    elapsed = record["completed_at"] - record["created_at"]
    assert record["polls"] >= 2 and record["polls"] <= elapsed / 0.9 + 2
    assert not registry.trust_of(client, KEY).trusted


async def test_distrust_wakes_tasks_waiting_on_the_safety_poll(registry, client) -> None:
    """When a key loses trust, its other tasks sleeping until a safety poll are woken at once."""
    ended, sleeping = await registry.open(client, KEY), await registry.open(client, KEY)
    assert ended is not None and sleeping is not None and ended.trust is sleeping.trust
    registry.callback_grace = 0.01
    ended.trust.trusted = True
    registry.missed(ended.token)
    registry.close(ended.token)
    await asyncio.wait_for(sleeping.wake.wait(), 10)
    assert not sleeping.trust.trusted and not sleeping.arrived and ended.trust.missed == 1
    registry.close(sleeping.token)
    assert registry.open_count == 0


async def test_forged_callbacks_are_refused(registry, client) -> None:
    """Wrong secret, tampered body, missing headers, stale time or unknown token: refused, no wake."""
    subscription = await registry.open(client, KEY)
    assert subscription is not None
    registry.bind(subscription.token, "task-1")
    body = json.dumps({"id": "task-1", "status": "completed"}).encode()
    forged = _signed("whsec_not-the-secret", body)
    assert (await _post(registry, subscription, body, forged)).status_code == 401
    tampered = _signed(subscription.secret, body.replace(b"task-1", b"task-2"))
    assert (await _post(registry, subscription, body, tampered)).status_code == 401
    assert (await _post(registry, subscription, body, {})).status_code == 400
    stale = _signed(subscription.secret, body, timestamp=int(time.time()) - 301)
    assert (await _post(registry, subscription, body, stale)).status_code == 400
    other_task = json.dumps({"id": "task-9", "status": "completed"}).encode()
    response = await _post(registry, subscription, other_task, _signed(subscription.secret, other_task))
    assert response.status_code == 400
    unknown = Subscription(
        "nope",
        subscription.callback_url.rsplit("/", 1)[0] + "/nope",
        Wake(),
        subscription.secret,
        asyncio.get_running_loop(),
    )
    assert (await _post(registry, unknown, body, _signed(subscription.secret, body))).status_code == 404
    assert not subscription.wake.is_set() and not subscription.arrived
    registry.close(subscription.token)


async def test_replayed_callback_is_refused(registry, client) -> None:
    """A genuine callback is accepted once; the same message again is refused."""
    subscription = await registry.open(client, KEY)
    assert subscription is not None
    registry.bind(subscription.token, "task-1")
    body = json.dumps({"id": "task-1", "status": "completed"}).encode()
    headers = _signed(subscription.secret, body, webhook_id="msg_replay")
    assert (await _post(registry, subscription, body, headers)).status_code == 200
    assert subscription.wake.is_set() and subscription.arrived
    subscription.wake.clear()
    assert (await _post(registry, subscription, body, headers)).status_code == 409
    assert not subscription.wake.is_set()
    registry.close(subscription.token)
    fresh = _signed(subscription.secret, body, webhook_id="msg_after_close")
    assert (await _post(registry, subscription, body, fresh)).status_code == 404


async def test_unreachable_public_url_falls_back_to_polling(client, sim, tmp_path, landscape_image) -> None:
    """If the public URL does not reach this process, tasks are submitted without a callback."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    registry = WebhookRegistry(dead_url, allow_http=True)
    mount_webhooks(Starlette(), registry)
    assert await registry.open(client, KEY) is None
    journal = Journal(tmp_path / "journal.sqlite3")
    pipeline = Pipeline.create(client, journal, tmp_path / "outputs", notifier=registry)
    done = await _generate(pipeline, landscape_image)
    assert sim.control.task(done.task_id)["webhook_url"] is None
    await registry.aclose()
    journal.close()


async def test_unmounted_registry_is_not_used(client) -> None:
    """Until its routes are mounted on the app, the registry hands out no callback URL."""
    registry = WebhookRegistry("https://example.invalid")
    assert await registry.open(client, KEY) is None


def test_production_needs_https(tmp_path) -> None:
    """Callbacks need an https public URL; an http one only when the code asks for it."""
    with pytest.raises(ValueError, match="https"):
        WebhookRegistry("http://my-host:7860")
    assert WebhookRegistry("http://127.0.0.1:7860", allow_http=True).public_url
    plain = Playground.open(
        Settings(data_dir=tmp_path / "a", public_url="http://my-host"), start_simulator=False
    )
    secure = Playground.open(
        Settings(data_dir=tmp_path / "b", public_url="https://me.hf.space"), start_simulator=False
    )
    try:
        assert plain.webhooks is None
        assert secure.webhooks is not None and secure.remote.pipeline.notifier is secure.webhooks
    finally:
        asyncio.run(plain.aclose())
        asyncio.run(secure.aclose())


def test_signature_matches_the_contract() -> None:
    """HMAC-SHA256 over id.timestamp.body with the secret minus `whsec_`; any listed signature may match."""
    body, now = b'{"id":"t"}', 1_700_000_000
    good = sign_webhook("whsec_abc", "msg_1", now, body)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(now),
        "webhook-signature": f"v3,{'0' * 64} {good}",
    }
    assert verify_signature("whsec_abc", headers, body, now=now + 299) == "msg_1"
    with pytest.raises(WebhookRejected) as refused:
        verify_signature("whsec_abc", headers, body, now=now + 301)
    assert refused.value.status == 400
    with pytest.raises(WebhookRejected) as refused:
        verify_signature("whsec_abd", headers, body, now=now)
    assert refused.value.status == 401
