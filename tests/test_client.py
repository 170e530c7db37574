"""The client over real HTTP against the simulator: the happy path and every error class."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import av
import pytest

from luma_playground import (
    ApiKey,
    AuthenticationError,
    GenerationRequest,
    InsufficientBalance,
    InvalidRequest,
    NetworkError,
    OutputError,
    OutputExpired,
    RateLimited,
    ServerError,
    Size,
    SubmitOutcomeUnknown,
    TaskNotFound,
    Timeouts,
    WaveSpeedClient,
)
from luma_playground._wavespeed.retry import RetryPolicy
from luma_playground.simulator import key_fingerprint

pytestmark = pytest.mark.anyio
KEY = "sk-client-test-0123456789"


@pytest.fixture
async def client(sim):  # type: ignore[no-untyped-def]
    async with WaveSpeedClient(
        sim.base_url, KEY, retry=RetryPolicy(attempts=6, scale=0), timeouts=Timeouts(read=2.0)
    ) as client:
        yield client


async def _finished(client: WaveSpeedClient, task_id: str):  # type: ignore[no-untyped-def]
    async for prediction in client.poll(task_id, first_delay=0.05):
        last = prediction
    return last


async def test_upload_submit_poll_download(client, sim, landscape_image, tmp_path) -> None:
    """A real round trip yields a playable MP4 of the requested size, with one submit."""
    url = await client.upload_image(landscape_image)
    request = GenerationRequest.create(landscape_image, "pan left", size=Size.PORTRAIT, duration=5)
    submitted = await client.submit(request, url)
    assert submitted.status == "created" and submitted.id
    final = await _finished(client, submitted.id)
    assert final.status == "completed" and final.output_url
    path = await client.download(final.output_url, tmp_path / "v.mp4", task_id=final.id)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (720, 1280)
    task = sim.control.task(submitted.id)
    assert task["submits"] == 1 and task["key_fingerprint"] == key_fingerprint(KEY)
    assert task["polls"] >= 1


async def test_url_images_are_passed_through(client, sim) -> None:
    """An http(s) image URL is used as is: nothing is uploaded."""
    url = "https://images.example.com/cat.png"
    assert await client.upload_image(url) == url
    assert sim.control.stats()["routes"].get("upload", 0) == 0


async def test_the_key_is_per_call(client, sim, landscape_image) -> None:
    """A per-call key overrides the default, and only for that call."""
    url = await client.upload_image(landscape_image, api_key="sk-other-user")
    request = GenerationRequest.create(landscape_image, "zoom out")
    theirs = await client.submit(request, url, api_key=ApiKey("sk-other-user"))
    ours = await client.submit(request, url)
    assert sim.control.task(theirs.id)["key_fingerprint"] == key_fingerprint("sk-other-user")
    assert sim.control.task(ours.id)["key_fingerprint"] == key_fingerprint(KEY)
    with pytest.raises(TaskNotFound):
        await client.get(theirs.id)  # another key's task is not ours to see


async def test_rejected_key(client, sim) -> None:
    """A refused key is an AuthenticationError whose message does not contain the key."""
    sim.control.set_account(KEY, valid=False)
    with pytest.raises(AuthenticationError) as caught:
        await client.balance()
    assert KEY not in str(caught.value) and KEY not in repr(caught.value)


async def test_missing_key_is_refused_before_sending(sim) -> None:
    """Without any key the client says so and sends nothing."""
    async with WaveSpeedClient(sim.base_url) as keyless:
        with pytest.raises(AuthenticationError, match="No WaveSpeed API key"):
            await keyless.get("x" * 32)
    assert sim.control.stats()["routes"].get("result", 0) == 0


async def test_insufficient_balance(client, sim, landscape_image) -> None:
    """An empty balance is an InsufficientBalance error telling the user to top up."""
    url = await client.upload_image(landscape_image)
    sim.control.set_account(KEY, balance=0.0)
    with pytest.raises(InsufficientBalance, match="top up"):
        await client.submit(GenerationRequest.create(landscape_image, "p"), url)


async def test_server_side_validation(client, sim, landscape_image) -> None:
    """A request the API refuses (400) is an InvalidRequest carrying the server's words."""
    url = await client.upload_image(landscape_image)
    bad = GenerationRequest.model_construct(
        image=str(landscape_image), prompt="p", size=Size.LANDSCAPE, duration=7
    )
    with pytest.raises(InvalidRequest, match="duration"):
        await client.submit(bad, url)


async def test_unknown_task(client) -> None:
    """An unknown task id is TaskNotFound."""
    with pytest.raises(TaskNotFound):
        await client.get("0" * 32)


async def test_polls_are_retried_through_429_and_5xx(client, sim, landscape_image) -> None:
    """GETs ride out a 429 with Retry-After and a burst of 502/503/504."""
    url = await client.upload_image(landscape_image)
    task = await client.submit(GenerationRequest.create(landscape_image, "p"), url)
    sim.control.add_fault("result", "status", status=429, retry_after=0.2, count=1)
    sim.control.add_fault("result", "status", statuses=[502, 503, 504], count=3)
    started = time.monotonic()
    prediction = await client.get(task.id)
    assert prediction.id == task.id
    assert time.monotonic() - started >= 0.2, "Retry-After was honoured"
    assert sim.control.task(task.id)["polls"] >= 1


async def test_rate_limited_when_it_persists(client, sim) -> None:
    """A 429 that never ends becomes RateLimited with the server's Retry-After."""
    sim.control.add_fault("balance", "status", status=429, retry_after=0.01, count=-1)
    with pytest.raises(RateLimited) as caught:
        await client.balance()
    assert caught.value.retry_after == pytest.approx(0.01)


@pytest.mark.parametrize("kind", ["html", "malformed", "empty", "status"])
async def test_unreadable_or_failing_answers_are_server_errors(client, sim, kind) -> None:
    """Gateway HTML, malformed JSON, empty bodies and 5xx all become ServerError."""
    sim.control.add_fault("balance", kind, count=-1)
    with pytest.raises(ServerError):
        await client.balance()


async def test_unreachable_server_is_a_network_error() -> None:
    """Nobody listening is a NetworkError that tells to check the network."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with WaveSpeedClient(
        f"http://127.0.0.1:{port}", KEY, retry=RetryPolicy(attempts=2, scale=0)
    ) as client:
        with pytest.raises(NetworkError, match="connect"):
            await client.balance()


async def test_a_submit_that_timed_out_is_not_sent_again(sim, landscape_image) -> None:
    """A submit whose answer never came is not resent, and the error says a task may exist."""
    async with WaveSpeedClient(
        sim.base_url, KEY, retry=RetryPolicy(scale=0), timeouts=Timeouts(read=0.5)
    ) as client:
        url = await client.upload_image(landscape_image)
        sim.control.add_fault("submit", "stall", seconds=1.5)
        with pytest.raises(SubmitOutcomeUnknown, match="a task may exist") as caught:
            await client.submit(GenerationRequest.create(landscape_image, "stalled"), url)
    assert KEY not in str(caught.value)
    assert sim.control.stats()["routes"]["submit"] == 1
    tasks = sim.control.tasks()
    assert len(tasks) == 1 and tasks[0]["submits"] == 1


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("drop", {"after_processing": True}),
        ("status", {"status": 500}),
        ("html", {"status": 504}),
    ],
)
async def test_lost_submit_answers_are_never_resent(client, sim, landscape_image, kind, options) -> None:
    """A dropped connection or a 5xx on submit is an unknown outcome, sent exactly once."""
    url = await client.upload_image(landscape_image)
    sim.control.add_fault("submit", kind, **options)
    with pytest.raises(SubmitOutcomeUnknown):
        await client.submit(GenerationRequest.create(landscape_image, "p"), url)
    assert sim.control.stats()["routes"]["submit"] == 1


async def test_a_refused_submit_is_retried(client, sim, landscape_image) -> None:
    """A 429 on submit provably created nothing, so it is sent again and succeeds once."""
    url = await client.upload_image(landscape_image)
    sim.control.add_fault("submit", "status", status=429, retry_after=0.05, count=2)
    task = await client.submit(GenerationRequest.create(landscape_image, "p"), url)
    assert sim.control.stats()["routes"]["submit"] == 3
    assert [t["id"] for t in sim.control.tasks()] == [task.id]


async def test_expired_output(client, sim, landscape_image, tmp_path) -> None:
    """An output that is gone (404) is OutputExpired, with the task id."""
    url = await client.upload_image(landscape_image)
    task = await client.submit(GenerationRequest.create(landscape_image, "p"), url)
    final = await _finished(client, task.id)
    sim.control.add_fault("output", "expired", count=-1)
    with pytest.raises(OutputExpired) as caught:
        await client.download(final.output_url, tmp_path / "v.mp4", task_id=task.id)
    assert caught.value.task_id == task.id and not (tmp_path / "v.mp4").exists()


async def test_truncated_download_is_retried_then_fails(client, sim, landscape_image, tmp_path) -> None:
    """A download cut short is retried; if it keeps failing, OutputError, and no partial file."""
    url = await client.upload_image(landscape_image)
    task = await client.submit(GenerationRequest.create(landscape_image, "p"), url)
    final = await _finished(client, task.id)
    sim.control.add_fault("output", "truncated", count=1)
    path = await client.download(final.output_url, tmp_path / "ok.mp4")
    assert path.stat().st_size > 1000
    sim.control.add_fault("output", "truncated", count=-1)
    with pytest.raises(OutputError, match=r"interrupted|cut short"):
        await client.download(final.output_url, tmp_path / "bad.mp4")
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["ok.mp4"]


async def test_cancel(client, sim, landscape_image) -> None:
    """Cancel is a DELETE that reports whether WaveSpeed took it (its later status says the rest)."""
    url = await client.upload_image(landscape_image)
    task = await client.submit(GenerationRequest.create(landscape_image, "p", duration=10), url)
    assert await client.cancel(task.id) is True
    assert (await client.get(task.id)).status == "cancelled"
    assert await client.cancel(task.id) is True  # "deleted" again, for an ended task too
    assert await client.cancel("0" * 32) is False


async def test_price_balance_and_optimizer(client, landscape_image) -> None:
    """Pricing, balance and the prompt optimizer answer through the same client."""
    price = await client.price({"size": "1280*720", "duration": 10})
    assert price["unit_price"] > 0 and price["list_price"] == price["unit_price"]
    assert (await client.balance())["balance"] > 0
    url = await client.upload_image(landscape_image)
    suggestion = await client.optimize_prompt("a cat", image_url=url)
    assert isinstance(suggestion, str) and "cat" in suggestion.lower()


async def test_the_price_is_the_discounted_one_when_offered(client, sim) -> None:
    """`/model/price` is asked first: its discounted price is what is charged, the list price kept."""
    sim.control.set_behaviour(discount_rate=0.2)
    price = await client.price({"size": "1280*720", "duration": 5})
    assert price["unit_price"] == pytest.approx(0.4) and price["list_price"] == pytest.approx(0.5)
    assert sim.control.stats()["routes"] == {"price": 1}


async def test_the_price_falls_back_to_the_documented_pricing_route(client, sim) -> None:
    """Where `/model/price` is not there (404), the documented `/model/pricing` answers."""
    sim.control.add_fault("price", "status", status=404, message="Not found")
    price = await client.price({"size": "1280*720", "duration": 5})
    assert price["unit_price"] == pytest.approx(0.5)
    assert sim.control.stats()["routes"] == {"price": 1, "pricing": 1}


async def test_history_asks_for_inputs_and_sends_times_in_the_z_form(client, sim, landscape_image) -> None:
    """History asks with `include_inputs` and `created_after` as `...Z`; items carry `input` only if given."""
    url = await client.upload_image(landscape_image)
    task = await client.submit(GenerationRequest.create(landscape_image, "listed"), url)
    [asked] = await client.history(created_after=time.time() - 60)
    assert asked["id"] == task.id and asked["input"]["prompt"] == "listed"
    sim.control.set_behaviour(history_inputs="never")
    [bare] = await client.history(created_after=time.time() - 60)
    assert bare["id"] == task.id and "input" not in bare
    assert await client.history(created_after=time.time() + 60) == []


def test_history_items_accept_input_or_inputs() -> None:
    """An item's input is read from `input` or `inputs`, whichever WaveSpeed sends."""
    from luma_playground._wavespeed.wire import api_time, history_item

    assert history_item({"id": "a", "inputs": {"prompt": "p"}})["input"] == {"prompt": "p"}
    assert history_item({"id": "a", "input": {"prompt": "q"}})["input"] == {"prompt": "q"}
    assert "input" not in history_item({"id": "a", "input": "not an object"})
    assert api_time(0) == "1970-01-01T00:00:00.000Z"


async def test_unknown_statuses_keep_a_poll_going(client, sim, landscape_image) -> None:
    """A `pending` phase does not end the wait: the poll goes on to the documented end state."""
    sim.control.set_behaviour(pending_s=100)  # 1 s at the suite's time scale
    url = await client.upload_image(landscape_image)
    task = await client.submit(GenerationRequest.create(landscape_image, "pending first"), url)
    seen = [prediction.status async for prediction in client.poll(task.id)]
    assert "pending" in seen and seen[-1] == "completed"
