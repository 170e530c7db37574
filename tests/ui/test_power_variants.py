"""Several videos at once: one upload, one task each, each slot on its own, limits per video."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from luma_playground import ApiKey, Playground, Settings
from luma_playground._wavespeed.retry import RetryPolicy
from luma_playground.simulator import SimulatorServer
from luma_playground.ui._generate import MAX_VIDEOS, Handlers, video_count
from luma_playground.ui._session import SessionStore

from .conftest import SERVER_KEY, fake_request

#: The model of these runs (the form's default), and the draft model.
RAY = "luma/ray-2-i2v"
FLASH = "luma/ray-2-flash-i2v"

pytestmark = pytest.mark.anyio
PROMPT = "The camera glides over the water"


async def run(
    handlers: Handlers,
    image: Path,
    count: int,
    request: gr.Request | None = None,
    model: str = RAY,
) -> list[tuple[Any, ...]]:
    """Every update of a run; raises what it raises."""
    return [
        update
        async for update in handlers.generate(
            str(image), PROMPT, "1280*720", 5, model, count, request or fake_request()
        )
    ]


#: Where the slots' cards start in a run's update (after the run's card, player, details, grid).
CARDS = 4


def last_values(updates: list[tuple[Any, ...]], position: int) -> Any:
    """The last value (not a skip) sent to one output."""
    for update in reversed(updates):
        value = update[position]
        if not (isinstance(value, dict) and value.get("__type__") == "update" and len(value) == 1):
            return value
    return None


def test_the_count_is_kept_within_bounds() -> None:
    """Anything but 1 to 4 becomes the nearest allowed count (or 1)."""
    assert [video_count(v) for v in (0, 1, "3", 9, None, "x")] == [1, 1, 3, MAX_VIDEOS, 1, 1]


async def test_three_videos_share_one_upload(
    handlers: Handlers,
    sim,
    landscape_image: Path,  # type: ignore[no-untyped-def]
) -> None:
    """Three tasks from one upload; each slot ends with its own video; the overall card says so."""
    updates = await run(handlers, landscape_image, 3)
    routes = sim.control.stats()["routes"]
    assert routes["upload"] == 1 and routes["submit"] == 3
    videos = [last_values(updates, CARDS + MAX_VIDEOS + i) for i in range(MAX_VIDEOS)]
    assert all(Path(v).is_file() for v in videos[:3]) and len(set(videos[:3])) == 3
    assert "3 videos ready" in updates[-1][0]
    statuses = [last_values(updates, CARDS + i) for i in range(3)]
    tasks = {task["id"] for task in sim.control.tasks()}
    assert all("Done" in s for s in statuses)
    assert all(any(task_id in s for task_id in tasks) for s in statuses)  # each its own task


async def test_one_failure_leaves_the_others(
    handlers: Handlers,
    sim,
    landscape_image: Path,  # type: ignore[no-untyped-def]
) -> None:
    """A variant whose task fails shows its error in its slot; the run itself does not fail."""
    sim.control.add_fault("submit", "task_failed", count=1, error="GPU fell over")
    updates = await run(handlers, landscape_image, 2)
    statuses = [last_values(updates, CARDS + i) for i in range(2)]
    assert sum("GPU fell over" in s for s in statuses) == 1
    assert sum("Done" in s for s in statuses) == 1
    assert "1 of 2 videos ready" in updates[-1][0] and "1 failed" in updates[-1][0]


async def test_every_video_failing_fails_the_run(
    handlers: Handlers,
    sim,
    landscape_image: Path,  # type: ignore[no-untyped-def]
) -> None:
    """As with one video, a run whose every video fails ends with the error; each card shows it."""
    sim.control.add_fault("submit", "task_failed", count=2, error="GPU fell over")
    updates: list[tuple[Any, ...]] = []
    with pytest.raises(gr.Error, match="GPU fell over"):
        async for update in handlers.generate(
            str(landscape_image), PROMPT, "1280*720", 5, RAY, 2, fake_request()
        ):
            updates.append(update)
    assert all("GPU fell over" in last_values(updates, CARDS + i) for i in range(2))
    assert "No video was made" in updates[-1][0] and "2 failed" in updates[-1][0]


async def test_one_video_shows_in_the_large_player(handlers: Handlers, landscape_image: Path) -> None:
    """A run of one writes its card, video and details to the large player; the grid is left alone."""
    updates = await run(handlers, landscape_image, 1)
    status, video, details, *_ = updates[-1]
    assert "Done" in status and Path(video).is_file() and "NSFW flag" in details
    assert all(value == gr.skip() for update in updates for value in update[3:])


async def test_each_flash_video_of_a_run_offers_its_ray_2_final(
    handlers: Handlers,
    sim,
    landscape_image: Path,  # type: ignore[no-untyped-def]
) -> None:
    """A run of two Flash videos offers "Finish in Ray 2" (priced) on each card; each makes its final."""
    request = fake_request("tab-drafts")
    await run(handlers, landscape_image, 2, request, model=FLASH)
    large, *offers = handlers.finish_offers(request)
    assert not large.visible and [offer.visible for offer in offers] == [True, True, False, False]
    assert offers[0].value == offers[1].value == "Finish in Ray 2 · 0.50 USD"
    drafts = [job.task_id for job in handlers.store.last_run("tab-drafts")]
    finals = []
    for index in (1, 0):  # the second card's, then the first's: the run stays on offer
        button, tabs = await handlers.finish_one(index)(request)
        assert not button.visible and tabs.selected == "history"
        [final] = handlers.store.running("tab-drafts")
        finals.append(await final.wait())
    journal = handlers.playground.journal
    made = [journal.by_task_id(done.task_id) for done in finals]
    assert [(record.model, record.draft_task_id) for record in made] == [(RAY, drafts[1]), (RAY, drafts[0])]
    stats = sim.control.stats()
    assert stats["routes"]["upload"] == 1 and stats["models"] == {FLASH: 2, RAY: 2}


async def test_cancel_one_variant(handlers: Handlers, sim: SimulatorServer, landscape_image: Path) -> None:
    """Cancelling one slot stops its task alone; Cancel all then stops the rest."""
    sim.control.add_fault("submit", "slow", count=2)  # both tasks run until they are cancelled
    request = fake_request("tab-cancel")
    runner = handlers.generate(str(landscape_image), PROMPT, "1280*720", 5, RAY, 2, request)
    updates = []
    async for update in runner:
        updates.append(update)
        run = handlers.store.last_run("tab-cancel")
        if len(run) == 2 and all(job.task_id for job in run):
            break
    else:
        pytest.fail("the variants ended before both tasks were submitted")
    status, _ = await handlers.cancel_one(1)(request)
    assert "Cancelled" in status
    first, second = handlers.store.last_run("tab-cancel")
    assert second.finished and not first.finished
    outputs = await handlers.cancel(2, request)
    assert "Cancelled" in outputs[0] and "2 cancelled" in outputs[0] and first.finished
    await runner.aclose()


async def test_a_shown_video_is_sent_again_until_the_run_ends(
    handlers: Handlers, sim: SimulatorServer, landscape_image: Path
) -> None:
    """Once a slot's video is sent, every later frame of the run sends it again, never a skip."""
    # The page applies each frame as a diff to the value before, in place.
    sim.control.add_fault("submit", "slow", count=1)  # one task runs until it is cancelled
    request = fake_request("tab-shown")
    runner = handlers.generate(str(landscape_image), PROMPT, "1280*720", 5, RAY, 2, request)
    videos = [CARDS + MAX_VIDEOS + index for index in range(2)]
    updates = []
    async for update in runner:
        updates.append(update)
        if any(isinstance(update[at], str) for at in videos):
            break
    else:
        pytest.fail("the run ended before a video was shown")
    [done] = [index for index, at in enumerate(videos) if isinstance(updates[-1][at], str)]
    for _ in range(3):  # frames of the slow one, with the other's video shown
        updates.append(await anext(runner))
    await handlers.cancel_one(1 - done)(request)
    updates += [update async for update in runner]
    shown = updates.index(next(u for u in updates if isinstance(u[videos[done]], str)))
    after = [update[videos[done]] for update in updates[shown:]]
    assert len(after) >= 5 and after == [after[0]] * len(after), after
    assert "1 of 2 videos ready" in updates[-1][0] and "1 cancelled" in updates[-1][0]


async def test_limits_count_each_variant(
    sim,
    tmp_path: Path,
    landscape_image: Path,  # type: ignore[no-untyped-def]
) -> None:
    """On a shared deployment 3 videos at once pass a limit of 2; the daily count takes all."""
    settings = Settings(
        base_url=sim.base_url,
        api_key=ApiKey(SERVER_KEY),
        data_dir=tmp_path,
        share=True,
        session_running_limit=2,
        session_daily_limit=3,
    )
    playground = Playground.open(settings, retry=RetryPolicy(scale=0), start_simulator=False)
    store = SessionStore(playground)
    handlers = Handlers(playground, store, tick=0.05)
    try:
        with pytest.raises(gr.Error, match="3 videos at once are more than"):
            await run(handlers, landscape_image, 3)
        assert sim.control.stats()["routes"].get("upload", 0) == 0  # refused before the upload
        await run(handlers, landscape_image, 2)
        # Both earlier videos counted: 2 + 2 would pass 3 a day (one counted would not).
        with pytest.raises(gr.Error, match=r"limit of 3 a day \(1 left today\)"):
            await run(handlers, landscape_image, 2)
    finally:
        await playground.aclose()
    assert sim.control.stats()["routes"]["submit"] == 2


async def test_bad_input_starts_nothing(
    handlers: Handlers,
    sim,
    landscape_image: Path,  # type: ignore[no-untyped-def]
) -> None:
    """A blank prompt fails the run before any upload, with the usual sentence."""
    with pytest.raises(gr.Error, match="Write a prompt"):
        async for _ in handlers.generate(str(landscape_image), "  ", "1280*720", 5, RAY, 2, fake_request()):
            pass
    assert sim.control.stats()["routes"].get("upload", 0) == 0
