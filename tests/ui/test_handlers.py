"""The handlers called directly: errors, limits, cancel, closed tabs, keys and images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from luma_playground import ApiKey, Playground, Settings, Timeouts
from luma_playground._guard.limits import VisitorLimits
from luma_playground._wavespeed.retry import RetryPolicy
from luma_playground.simulator import SimulatorServer, key_fingerprint
from luma_playground.ui import _generate as generate_module
from luma_playground.ui._generate import Handlers
from luma_playground.ui._gradio_compat import url_downloads
from luma_playground.ui._session import LimitReached, SessionStore

from .conftest import SERVER_KEY, fake_request

pytestmark = pytest.mark.anyio
PROMPT = "The camera drifts slowly forward"


def shown(update: tuple[Any, ...]) -> tuple[Any, Any, Any]:
    """A one-video run's update as the page shows it: the player, the card and the details."""
    status, video, details, *_ = update
    return video, status, details


def generation(handlers: Handlers, image: Path, request: gr.Request, header: str | None = None) -> Any:
    """The updates of one video's run, as the page's Generate starts it."""
    return handlers.generate(str(image), PROMPT, "1280*720", 5, "luma/ray-2-i2v", 1, request, header)


async def run_generate(
    handlers: Handlers, image: Path, request: gr.Request | None = None, **fields: Any
) -> list[tuple[Any, Any, Any]]:
    """Every update of a one-video run (player, card, details); raises what it raises."""
    values = {"prompt": PROMPT, "size": "1280*720", "duration": 5} | fields
    updates = []
    async for update in handlers.generate(
        str(image),
        values["prompt"],
        values["size"],
        values["duration"],
        values.get("model", "luma/ray-2-i2v"),
        1,
        request or fake_request(),
        fields.get("header"),
    ):
        updates.append(shown(update))
    return updates


async def failure(handlers: Handlers, image: Path, **fields: Any) -> tuple[gr.Error, str]:
    """The gr.Error a generation ends with, and the status shown just before it."""
    updates: list[tuple[Any, Any, Any]] = []
    with pytest.raises(gr.Error) as caught:
        async for update in generation(handlers, image, fake_request(), fields.get("header")):
            updates.append(shown(update))
    return caught.value, updates[-1][1]


async def test_updates_follow_the_phases(handlers: Handlers, landscape_image: Path) -> None:
    """The status moves through the phases with the task id, and the last update has the video."""
    updates = await run_generate(handlers, landscape_image)
    phases = [status.split('lp-phase">')[1].split("<")[0] for _, status, _ in updates]
    assert phases[0] == "Starting" and phases[-1] == "Done"
    assert {"Queued", "Generating"} & set(phases)
    assert any("task <code>" in status for _, status, _ in updates[1:-1])
    video, status, details = updates[-1]
    assert Path(video).is_file() and 'data-tone="done"' in status
    assert "NSFW flag" in details and "Inference" in details


@pytest.mark.parametrize(
    ("setup", "title", "words"),
    [
        (lambda sim: sim.control.set_account(SERVER_KEY, valid=False), "API key refused", "key"),
        (lambda sim: sim.control.set_account(SERVER_KEY, balance=0.0), "Not enough balance", "top up"),
        (
            # Retry-After: 0, so that the pace's pause after each 429 does not stretch the test.
            lambda sim: sim.control.add_fault("submit", "status", status=429, count=-1, retry_after=0),
            "Too many requests",
            "",
        ),
        (lambda sim: sim.control.add_fault("submit", "moderation"), "The task failed", "moderation"),
    ],
)
async def test_api_errors_become_titled_sentences(
    handlers: Handlers,
    sim,
    landscape_image: Path,  # type: ignore[no-untyped-def]
    setup,
    title: str,
    words: str,
) -> None:
    """Each failure the client raises reaches the UI as a titled sentence, never a traceback."""
    setup(sim)
    error, status = await failure(handlers, landscape_image)
    assert error.title == title and words in error.message.lower()
    assert 'data-tone="error"' in status and SERVER_KEY not in error.message + status
    assert "Traceback" not in error.message


async def test_a_timeout_keeps_the_task_id(sim, tmp_path: Path, landscape_image: Path) -> None:  # type: ignore[no-untyped-def]
    """When the wait runs out, the message gives the task id to fetch the video later."""
    settings = Settings(
        base_url=sim.base_url, api_key=ApiKey(SERVER_KEY), data_dir=tmp_path, timeouts=Timeouts(deadline=0.05)
    )
    playground = Playground.open(settings, retry=RetryPolicy(scale=0), start_simulator=False)
    try:
        error, status = await failure(Handlers(playground, SessionStore(playground)), landscape_image)
    finally:
        await playground.aclose()
    task_id = sim.control.tasks()[0]["id"]
    assert error.title == "Still running" and task_id in error.message and task_id in status


async def test_an_unusable_image_is_refused_before_upload(
    handlers: Handlers,
    sim,  # type: ignore[no-untyped-def]
    image_factory,
) -> None:
    """A tiny image is refused with the reason, and nothing is uploaded."""
    error, _ = await failure(handlers, image_factory("tiny.png", (32, 32)))
    assert error.title == "Check the input" and "at least 64 px" in error.message
    assert sim.control.stats()["routes"].get("upload", 0) == 0


async def test_cancel_stops_the_remote_task(
    handlers: Handlers, sim: SimulatorServer, landscape_image: Path
) -> None:
    """Cancel stops at once and says what became of the remote task, which is cancelled."""
    sim.control.add_fault("submit", "slow")  # the task runs until it is cancelled
    request = fake_request("tab-cancel")
    run = generation(handlers, landscape_image, request)
    async for update in run:
        if "task <code>" in update[0]:
            break
    else:
        pytest.fail("the generation ended before its task was submitted")
    status, *_, generate_button, cancel_button = await handlers.cancel(1, request)
    await run.aclose()
    assert 'data-tone="cancelled"' in status and "WaveSpeed stopped task" in status
    task_id = sim.control.tasks()[-1]["id"]
    assert task_id in status and sim.control.task(task_id)["status"] == "cancelled"
    assert cancel_button["visible"] is False and generate_button["interactive"] is True


async def test_cancel_with_nothing_running(handlers: Handlers) -> None:
    """Cancel in an idle tab says that nothing was charged."""
    status, *_ = await handlers.cancel(1, fake_request("idle-tab"))
    assert "Nothing was running" in status


async def test_a_closed_tab_does_not_cancel_the_job(
    handlers: Handlers,
    sim,  # type: ignore[no-untyped-def]
    landscape_image: Path,
) -> None:
    """When the follower goes away, the job runs on and its video is still saved."""
    request = fake_request("tab-closed")
    run = generation(handlers, landscape_image, request)
    await anext(run)
    await anext(run)
    await run.aclose()
    handlers.forget(request)
    job = next(iter(handlers.playground.remote.runner.jobs.values()))
    done = await job.wait()
    assert done.video_path.is_file()
    assert sim.control.tasks()[0]["status"] == "completed"


async def test_shared_deployment_limits_the_owner_key(
    handlers: Handlers,
    sim,  # type: ignore[no-untyped-def]
    landscape_image: Path,
) -> None:
    """On a shared deployment, the owner's key serves a session a limited number of times."""
    playground = handlers.playground
    playground.settings = playground.settings.with_changes(
        share=True, session_daily_limit=2, session_running_limit=1
    )
    request = fake_request("tab-limits")
    first = generation(handlers, landscape_image, request)
    await anext(first)  # the job is running
    with pytest.raises(gr.Error, match="allows 1 at a time") as caught:
        await run_generate(handlers, landscape_image, request)
    assert caught.value.title == "Limit reached"
    async for _ in first:
        pass
    await run_generate(handlers, landscape_image, request)
    with pytest.raises(gr.Error, match="limit of 2 videos a day"):
        await run_generate(handlers, landscape_image, request)
    assert len(sim.control.tasks()) == 2
    # Another visitor, or the same one with a key of their own, is not limited by it.
    store, playground = handlers.store, handlers.playground
    playground.limits.check(playground.settings, store.visit(fake_request("tab-other")).owner, running=0)
    assert not store.spends_owner_credits(store.visit(request, "sk-own-key-123456"))


async def test_no_limits_on_a_private_deployment(handlers: Handlers, landscape_image: Path) -> None:
    """Locally, without share, Space or login, the owner's key is not limited."""
    store = handlers.store
    visit = store.visit(fake_request("tab-local"))
    for _ in range(4):
        await run_generate(handlers, landscape_image, fake_request("tab-local"))
    assert not store.spends_owner_credits(visit)
    handlers.playground.settings = handlers.playground.settings.with_changes(auth=("a", "b"))
    assert store.spends_owner_credits(visit)


async def test_the_header_key_wins(handlers: Handlers, sim, landscape_image: Path) -> None:  # type: ignore[no-untyped-def]
    """A key header is used over the tab's typed key; the typed key over the server's."""
    request = fake_request("tab-keys")
    handlers.set_key("sk-typed-key-111111", False, request)
    await run_generate(handlers, landscape_image, request)
    await run_generate(handlers, landscape_image, request, header="sk-header-key-22222")
    handlers.set_key("  ", False, request)
    await run_generate(handlers, landscape_image, request)
    fingerprints = [task["key_fingerprint"] for task in sim.control.tasks()]
    assert fingerprints == [
        key_fingerprint("sk-typed-key-111111"),
        key_fingerprint("sk-header-key-22222"),
        key_fingerprint(SERVER_KEY),
    ]


async def test_the_key_is_remembered_only_when_asked(handlers: Handlers) -> None:
    """The browser copy of the key is written only with "remember", and read back on load."""
    request = fake_request("tab-remember")
    badge, stored = handlers.set_key("sk-user-key-333333", False, request)
    assert stored is None and 'data-kind="user"' in badge
    _, stored = handlers.set_key("sk-user-key-333333", True, request)
    assert stored == "sk-user-key-333333"
    handlers.forget(request)
    assert handlers.store.visit(request).user_key is None
    key, remember, badge = handlers.restore_key("sk-user-key-333333", fake_request("tab-new"))
    assert (key, remember) == ("sk-user-key-333333", True) and 'data-kind="user"' in badge
    assert handlers.store.visit(fake_request("tab-new")).user_key == ApiKey("sk-user-key-333333")
    _, _, badge = handlers.restore_key(None, fake_request("tab-empty"))
    assert 'data-kind="server"' in badge


async def test_size_follows_the_image(
    handlers: Handlers, portrait_image: Path, landscape_image: Path, tmp_path: Path
) -> None:
    """A new image preselects its orientation; a broken one warns and leaves the size alone."""
    assert handlers.suggest_size(str(portrait_image)) == "720*1280"
    assert handlers.suggest_size(str(landscape_image)) == "1280*720"
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff garbage")
    with pytest.warns(UserWarning, match="not an image|damaged"):
        assert handlers.suggest_size(str(broken)) == gr.skip()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.com/a.jpg", "must start with http"),
        ("http://127.0.0.1:9/a.jpg", "not public"),
        ("", "Paste the address"),
    ],
)
async def test_image_urls_are_checked(handlers: Handlers, url: str, words: str) -> None:
    """An image URL that is not public is refused before anything is fetched."""
    with pytest.raises(gr.Error, match=words):
        await handlers.use_url(url)


async def test_an_image_url_fills_the_image(
    handlers: Handlers, portrait_image: Path, picture_host: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A public image URL is fetched by the app itself into Gradio's upload folder, then shown."""
    monkeypatch.setattr(generate_module, "fetch_image", picture_host.fetch)
    path, tabs = await handlers.use_url(f" {picture_host.url('portrait.png')} ")
    assert picture_host.hits == ["/portrait.png"]
    assert Path(path).read_bytes() == portrait_image.read_bytes()
    assert Path(path).is_relative_to(url_downloads())
    assert tabs.selected == "image-tab"


async def test_a_url_on_this_machine_is_not_fetched(handlers: Handlers, picture_host: Any) -> None:
    """Without the test's allow-list, the same loopback server is refused and never asked."""
    for url in (picture_host.url("portrait.png"), f"http://localhost:{picture_host.port}/portrait.png"):
        with pytest.raises(gr.Error, match=r"not public|could not be found|public host"):
            await handlers.use_url(url)
    assert picture_host.hits == []


async def test_the_daily_limit_is_a_sliding_day(handlers: Handlers) -> None:
    """Starts older than a day no longer count against the daily limit."""
    now = [1_000_000.0]
    playground = handlers.playground
    playground.settings = playground.settings.with_changes(share=True, session_daily_limit=2)
    limits = VisitorLimits(clock=lambda: now[0])
    owner = SessionStore(playground).visit(fake_request("tab-day")).owner
    limits.record(owner, 2)
    with pytest.raises(LimitReached):
        limits.check(playground.settings, owner, running=0)
    now[0] += 24 * 60 * 60 + 1
    limits.check(playground.settings, owner, running=0)


async def test_a_malformed_typed_key_is_refused_not_replaced(
    handlers: Handlers, sim: SimulatorServer, landscape_image: Path
) -> None:
    """A typed key of the wrong shape warns at once; the tab's generation is refused, unpaid."""
    request = fake_request("tab-bad-key")
    with pytest.warns(UserWarning, match="That API key is not valid: it contains a space"):
        badge, stored = handlers.set_key("sk-abc def-123456", True, request)
    assert stored is None and 'data-kind="server"' in badge
    with pytest.raises(gr.Error, match="That API key is not valid") as caught:
        await run_generate(handlers, landscape_image, request)
    assert caught.value.print_exception is False
    assert sim.control.stats()["routes"].get("submit", 0) == 0
    handlers.set_key("sk-visitor-key-00002", False, request)
    assert handlers.store.visit(request).user_key is not None


async def test_a_malformed_header_key_is_one_sentence(
    handlers: Handlers, sim: SimulatorServer, landscape_image: Path
) -> None:
    """A header key that is too short or not ASCII is refused before any call to the API."""
    for header in ("sk-1", "sk-ключ-12345678"):
        with pytest.raises(gr.Error, match="That API key is not valid"):
            await run_generate(handlers, landscape_image, header=header)
    assert sim.control.stats()["routes"] == {}
