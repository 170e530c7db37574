"""Shots in History, Compare, the share link and the tab's Cancel, through the launched app."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from urllib.parse import parse_qs

import av
import gradio as gr
from gradio_client import Client

from luma_playground import ApiKey, GenerationRequest, Picture, Playground, Settings
from luma_playground._config import RAY_2, RAY_2_FLASH
from luma_playground._guard.limits import Caller
from luma_playground._wavespeed.retry import RetryPolicy
from luma_playground.ui import KEY_HEADER

from ..conftest import wait_for
from .conftest import SERVER_KEY, call_private, generate, launched, private_event

RAY, FLASH = RAY_2.id, RAY_2_FLASH.id


def _seconds(video: object) -> float:
    """The length of a video the app sent (a path, or an update carrying one)."""
    path = video["value"] if isinstance(video, dict) else video
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return float(stream.frames / stream.average_rate)


def _card(cards: str, ref: str) -> str | None:
    """The text of the History card named `ref`, if the grid has one."""
    found = re.search(rf'<article [^>]*data-ref="{re.escape(ref)}".*?</article>', cards, re.S)
    return re.sub(r"<[^>]+>", " ", found.group(0)) if found else None


def _picked_for_extend(client: Client, app: gr.Blocks, image: Path, prompt: str) -> tuple[str, int, tuple]:
    """A new video, then History's "Extend…" on its card: its task id, its row, the panel's update."""
    task_id = generate(client, image, prompt)
    row = app.playground.journal.by_task_id(task_id).row_id  # type: ignore[attr-defined]
    return task_id, row, call_private(client, "page_shot_open", str(row))


def test_the_panel_prices_and_extends_the_next_segment_in_the_model_chosen(
    client: Client,
    server_app: gr.Blocks,
    sim,  # type: ignore[no-untyped-def]
    landscape_image: Path,
) -> None:
    """Flash in the panel: the next segment is priced and made in Flash, the shot so far at each price."""
    _, row, _ = _picked_for_extend(client, server_app, landscape_image, "Extended in Flash: a harbour")
    ray_price = call_private(client, "page_shot_price", 5, RAY)
    flash_price = call_private(client, "page_shot_price", 5, FLASH)
    assert "Next segment: <b>$0.50</b>" in ray_price and "Next segment: <b>$0.20</b>" in flash_price
    assert "1 segment, 5 s, $0.50" in flash_price  # the first clip, made in Ray 2
    _, status, *_ = call_private(client, "page_extend", "on into the fog", 5, FLASH)
    assert "The shot is ready." in status
    shot = server_app.playground.shots.store.of_row(row)  # type: ignore[attr-defined]
    first, segment = server_app.playground.shots.segments(shot)  # type: ignore[attr-defined]
    assert (first.model, segment.model) == (RAY, FLASH) and sim.control.stats()["models"] == {
        RAY: 1,
        FLASH: 1,
    }
    assert "2 segments, 10 s, $0.70" in call_private(client, "page_shot_price", 5, RAY)


def test_a_history_card_extends_into_a_shot_shown_as_one_card(
    client: Client,
    server_app: gr.Blocks,
    sim,  # type: ignore[no-untyped-def]
    landscape_image: Path,
) -> None:
    """Extend… on a card prices and extends it; the shot is one card, in Compare and in the link."""
    prompt = "History extends this: a pier at dawn"
    first, row, opened = _picked_for_extend(client, server_app, landscape_image, prompt)
    assert "History extends this: a pier at dawn" in opened  # the prompt, prefilled
    price = call_private(client, "page_shot_price", 5, RAY)
    assert "Next segment: <b>$" in price and "the shot so far: 1 segment, 5 s" in price
    video, status, listed, *_ = call_private(client, "page_extend", "the pier drifts away", 5, RAY)
    assert "The shot is ready." in status and abs(_seconds(video) - 10) <= 1 / 24
    shot = server_app.playground.shots.store.of_row(row)  # type: ignore[attr-defined]
    segment = server_app.playground.shots.segments(shot)[1]  # type: ignore[attr-defined]
    assert segment.task_id in listed and sim.control.stats()["routes"]["submit"] == 2

    cards = call_private(client, "refresh", None)[0]
    card = _card(cards, shot.name)
    assert card is not None and "Shot of 2 segments" in card and "10 s" in card
    assert _card(cards, str(row)) is None and _card(cards, str(segment.row_id)) is None

    left, *_ = call_private(client, "open_with", shot.name, None)  # History's "Compare with…"
    offered = [ref for _, ref in left["choices"]]
    assert left["value"] == shot.name and str(row) not in offered and str(segment.row_id) not in offered
    assert abs(_seconds(call_private(client, "show", shot.name)) - 10) <= 1 / 24
    _, prompt, *_ = call_private(client, "history_use_again", shot.name)
    assert prompt == "History extends this: a pier at dawn"  # its first clip's settings
    link = call_private(client, "link_query", "p", "1280*720", 5, 1, "default", None, "", "luma/ray-2-i2v")
    assert parse_qs(link[1:])["shot"] == [shot.name]  # the shot the panel follows
    for task_id in (first, segment.task_id):
        assert sim.control.task(task_id)["submits"] == 1


def test_the_tab_cancel_and_cancel_all_stop_a_panel_shot(
    client: Client,
    server_app: gr.Blocks,
    sim,  # type: ignore[no-untyped-def]
    image_factory,  # type: ignore[no-untyped-def]
) -> None:
    """A segment started by the panel is one of the tab's jobs: Cancel, then Cancel all, stop it."""
    # A picture of its own: its clip's last frame is new, so the segment uploads it (and waits).
    picture = image_factory("cancelled-shot.png", (656, 369))
    _, row, _ = _picked_for_extend(client, server_app, picture, "Cancelled shots start here")
    sim.control.add_fault("upload", "stall", seconds=30, count=-1)  # each segment waits in its upload
    shots = server_app.playground.shots  # type: ignore[attr-defined]
    for count in (1, 2):  # the button reads "Cancel", then "Cancel all"
        extension = client.submit("more", 5, RAY, fn_index=private_event(client, "page_extend"))
        shot = wait_for(lambda: (found := shots.store.of_row(row)) and shots.live(found) and found)
        segments = len(shot.segments)
        status, *_ = call_private(client, "page_cancel", count)  # the run's card comes first
        assert "Cancelled before anything was submitted" in status
        video, note, *_ = extension.result(timeout=30)
        stopped = shots.store.get(shot.shot_id)
        assert "Stopped" in note and stopped.state == "stopped" and len(stopped.segments) == segments - 1
        assert _seconds(video) == 5  # what was made is kept
    assert sim.control.stats()["routes"]["submit"] == 1


def test_an_own_key_shot_waits_for_that_key_after_a_restart(
    sim,  # type: ignore[no-untyped-def]
    outside_tmp: Path,
    landscape_image: Path,
) -> None:
    """An own-key shot cut by a restart waits, "Paused: needs your key", until a call brings that key back."""
    settings = Settings(
        base_url=sim.base_url, api_key=ApiKey(SERVER_KEY), data_dir=outside_tmp / f"own-{uuid.uuid4().hex}"
    )
    key = ApiKey("sk-visitor-own-shot-0001")
    caller = Caller("session:a-closed-tab", key)

    async def cut_short() -> None:
        """The first process: a video, then a chain of two segments, stopped while the first runs."""
        playground = Playground.open(settings, retry=RetryPolicy(scale=0), start_simulator=False)
        try:
            request = GenerationRequest.create(
                Picture.from_operator_file(landscape_image), "my own key's shot", size="1280*720", duration=5
            )
            [job] = await playground.start(request, caller)
            run = await playground.shots.extend((await job.wait()).task_id, "on and on", 5, caller, times=2)
            async for _ in run.jobs[0].events():
                if run.jobs[0].task_id:
                    break
        finally:
            await playground.aclose()

    asyncio.run(cut_short())
    playground = Playground.open(settings, retry=RetryPolicy(scale=0), start_simulator=False)
    with launched(playground) as demo:
        owner = Client(demo.local_url, verbose=False)
        shots = playground.shots
        [shot] = shots.store.extending()  # the server's start left it alone
        card = _card(call_private(owner, "refresh", None)[0], shot.name)
        assert card is not None and "Paused: needs your key" in card and "Shot of 2 segments" in card
        assert sim.control.stats()["routes"]["submit"] == 2
        visitor = Client(demo.local_url, headers={KEY_HEADER: key.reveal()}, verbose=False)
        visitor.predict(api_name="/history")  # any call that brings the key back
        made = wait_for(lambda: (found := shots.store.get(shot.shot_id)).state != "extending" and found, 60)
        assert made.state == "ready" and len(made.segments) == 3 and _seconds(made.video_path) > 14
        for record in shots.segments(made):
            assert sim.control.task(record.task_id)["submits"] == 1
        assert sim.control.stats()["routes"]["submit"] == 3
        assert "Done" in (_card(call_private(owner, "refresh", None)[0], shot.name) or "")
        for client in (owner, visitor):
            client.close()
