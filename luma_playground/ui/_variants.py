"""Variants: several videos from the same inputs at once, side by side, each with its own cancel.

A private event, apart from the public `/generate` endpoint (which stays one video per call).
The image is uploaded once for all of them; each video is a job of its own, counted against a
shared deployment's per-session limits like any other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from .._errors import LumaPlaygroundError
from .._jobs import Job, cancel_all
from .._models import Event, GenerationRequest
from .._service import Backend, Playground
from ._format import StatusTracker, cancelled_html, error_html, status_card
from ._generate import ui_error
from ._gradio_compat import sent_picture
from ._parts import TICK, session_hash
from ._session import SessionStore

__all__ = ["MAX_VIDEOS", "VariantSlot", "Variants", "place_count", "place_grid", "video_count"]

MAX_VIDEOS = 4
COUNT_CHOICES = [(str(n), n) for n in range(1, MAX_VIDEOS + 1)]

Update = tuple[Any, ...]


def video_count(value: object) -> int:
    """How many videos were asked for, kept within 1 to MAX_VIDEOS."""
    try:
        return min(max(int(value), 1), MAX_VIDEOS)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 1


def run_label(count: int) -> str:
    return f"Generate {count} videos"


@dataclass
class VariantSlot:
    """One video's place in the grid: its column, status card, player and cancel button."""

    column: gr.Column
    status: gr.HTML
    video: gr.Video
    cancel: gr.Button


def place_count() -> gr.Radio:
    """The "how many videos" choice, placed beside size and duration."""
    return gr.Radio(COUNT_CHOICES, value=1, label="Videos at once", elem_id="lp-count")


def place_actions() -> tuple[gr.Button, gr.Button]:
    """The Generate button for several videos and its Cancel all, placed in the actions row."""
    generate = gr.Button(
        run_label(2), variant="primary", size="lg", scale=3, visible=False, elem_id="lp-generate-many"
    )
    cancel_all = gr.Button(
        "Cancel all", variant="stop", size="lg", scale=1, visible=False, elem_id="lp-cancel-all"
    )
    return generate, cancel_all


def place_grid() -> tuple[gr.Row, list[VariantSlot]]:
    """The side-by-side grid of videos, placed under the single video player (hidden until used)."""
    slots = []
    with gr.Row(visible=False, elem_id="lp-variants", equal_height=False) as grid:
        for index in range(MAX_VIDEOS):
            with gr.Column(
                min_width=280, visible=False, elem_id=f"lp-variant-{index + 1}", elem_classes=["lp-variant"]
            ) as column:
                status = gr.HTML("", elem_id=f"lp-variant-{index + 1}-status")
                video = gr.Video(
                    label=f"Video {index + 1}",
                    autoplay=True,
                    loop=True,
                    interactive=False,
                    buttons=["download"],
                    height=240,
                    elem_id=f"lp-variant-{index + 1}-video",
                )
                cancel = gr.Button(
                    "Cancel this one",
                    variant="stop",
                    size="sm",
                    visible=False,
                    elem_id=f"lp-variant-{index + 1}-cancel",
                )
            slots.append(VariantSlot(column, status, video, cancel))
    return grid, slots


def _skip(count: int) -> list[Any]:
    return [gr.skip() for _ in range(count)]


class Variants:
    """The handlers of a several-videos run, and the jobs each tab is running."""

    def __init__(self, playground: Playground, store: SessionStore, *, tick: float = TICK) -> None:
        self.playground = playground
        self.store = store
        self.tick = tick

    # -- buttons --------------------------------------------------------------------------------

    @staticmethod
    def buttons(count: object) -> tuple[Any, Any]:
        """One video: the usual Generate button; several: the Generate-N button instead."""
        many = video_count(count)
        return (gr.update(visible=many == 1), gr.update(visible=many > 1, value=run_label(max(many, 2))))

    def begin(self, count: object, key: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Take the tab's key, switch the buttons to "running" and lay out an empty slot per video."""
        self.store.set_key(session_hash(request), key)
        many = video_count(count)
        waiting = status_card("idle", "Waiting", "Starts with the others.")
        return (
            gr.update(value=f"Generating {many} videos…", interactive=False),
            gr.update(visible=True),
            gr.update(visible=False),
            "",  # the single video and its details make room
            gr.update(visible=True),
            *[gr.update(visible=index < many) for index in range(MAX_VIDEOS)],
            *[waiting] * MAX_VIDEOS,
            *[None] * MAX_VIDEOS,
            *[gr.update(visible=False)] * MAX_VIDEOS,
        )

    @staticmethod
    def finished(count: object) -> tuple[Any, Any]:
        """Put the buttons back once a run ends, however it ends."""
        return (
            gr.update(value=run_label(max(video_count(count), 2)), interactive=True),
            gr.update(visible=False),
        )

    @staticmethod
    def failed(count: object) -> tuple[Any, ...]:
        """Nothing started (bad input, a limit): the buttons back, the single player back."""
        return (*Variants.finished(count), gr.update(visible=True), gr.update(visible=False))

    @staticmethod
    def show_single() -> tuple[Any, Any]:
        """A one-video run starts: its player comes back in place of the grid."""
        return gr.update(visible=True), gr.update(visible=False)

    # -- the run --------------------------------------------------------------------------------

    async def run(
        self, image: str | None, prompt: str, size: str, duration: int, count: object, request: gr.Request
    ) -> AsyncIterator[Update]:
        """Make `count` videos of the same inputs at once; each slot shows its own progress.

        Yields (overall status, slot statuses, slot videos, slot cancel buttons). A video that
        fails is reported in its slot and the others go on; only a fault before anything was
        started ends the run with an error.
        """
        many = video_count(count)
        visit = self.store.visit(request)
        rest = _skip(3 * MAX_VIDEOS)
        try:
            generation = GenerationRequest.create(sent_picture(image), prompt, size, duration)
            jobs = await self.store.start(visit, generation, count=many)
        except LumaPlaygroundError as error:
            yield (error_html(error), *rest)
            raise ui_error(error) from None
        backend, _ = self.playground.backend_for(visit.user_key)
        async for update in self._follow(jobs, backend):
            yield update

    async def _follow(self, jobs: list[Job], backend: Backend) -> AsyncIterator[Update]:
        """Every job's progress in its own slot, as the events of all of them arrive."""
        started = time.monotonic()
        where = "the offline simulator" if backend.simulated else "WaveSpeed"
        trackers = [StatusTracker(backend_name=where) for _ in jobs]
        arrivals: asyncio.Queue[tuple[int, Event | None, bool]] = asyncio.Queue()

        async def listen(index: int, job: Job) -> None:
            # A job's events end once it is over, a cancelled one's once its cancel note is known.
            async for event in job.events(tick=self.tick):
                arrivals.put_nowait((index, event, False))
            arrivals.put_nowait((index, None, True))

        listeners = [asyncio.ensure_future(listen(i, job)) for i, job in enumerate(jobs)]
        open_slots = set(range(len(jobs)))
        try:
            yield self._frame(jobs, trackers, open_slots, set(), started)
            while open_slots:
                ended: set[int] = set()
                batch = [await arrivals.get()]
                while not arrivals.empty():
                    batch.append(arrivals.get_nowait())
                for index, event, is_end in batch:
                    if is_end:
                        ended.add(index)
                    elif index in open_slots:
                        trackers[index].update(event)
                open_slots -= ended
                yield self._frame(jobs, trackers, open_slots, ended, started)
        except asyncio.CancelledError:
            await asyncio.shield(cancel_all(jobs))  # whoever cancelled the run stops paying
            raise
        finally:
            for listener in listeners:
                listener.cancel()

    def _frame(
        self,
        jobs: list[Job],
        trackers: list[StatusTracker],
        open_slots: set[int],
        ended: set[int],
        started: float,
    ) -> Update:
        statuses, videos, cancels = (_skip(MAX_VIDEOS) for _ in range(3))
        for index, job in enumerate(jobs):
            if index in open_slots and job.finished:
                continue  # ended a moment ago (a Cancel): its own handler has the last word
            if index in open_slots:
                statuses[index] = trackers[index].render()
                # Sent with every frame, not once: a frame the page applies late or not at all
                # must not leave a running video without its Cancel.
                cancels[index] = gr.update(visible=True)
            elif index in ended:
                cancels[index] = gr.update(visible=False)
                if job.done is not None:
                    statuses[index] = trackers[index].update(job.done)
                    videos[index] = str(job.done.video_path)
                elif job.error is not None:
                    statuses[index] = error_html(job.error, elapsed=trackers[index].elapsed)
                elif job.cancel_note is not None:  # the same card its Cancel handler showed
                    statuses[index] = cancelled_html(job.cancel_note, task_id=job.task_id)
        return (_overall(jobs, time.monotonic() - started), *statuses, *videos, *cancels)

    # -- cancel ---------------------------------------------------------------------------------

    def cancel_one(self, index: int) -> Callable[[gr.Request], Awaitable[tuple[Any, Any]]]:
        """The handler of slot `index`'s Cancel button: stop that video alone."""

        async def cancel(request: gr.Request) -> tuple[Any, Any]:
            run = self.store.last_run(session_hash(request))
            if index >= len(run) or run[index].finished:
                return gr.skip(), gr.update(visible=False)
            job = run[index]
            note = await job.cancel()
            charged = job.done is not None  # WaveSpeed finished it before the cancel took effect
            return cancelled_html(note, task_id=job.task_id, charged=charged), gr.update(visible=False)

        return cancel

    async def cancel_all(self, count: object, request: gr.Request) -> tuple[Any, ...]:
        """Stop every video of this tab's run at once; finished ones keep their result."""
        run = self.store.last_run(session_hash(request))
        running = [(index, job) for index, job in enumerate(run) if not job.finished]
        segments = self.store.stop_shots(session_hash(request))  # the tab's shots stop too
        notes = await cancel_all([*(job for _, job in running), *segments])
        statuses = _skip(MAX_VIDEOS)
        for (index, job), note in zip(running, notes, strict=False):
            statuses[index] = cancelled_html(note, task_id=job.task_id, charged=job.done is not None)
        if not run:
            overall = cancelled_html("Cancelled before anything was submitted: nothing was charged.")
        else:
            overall = _overall(run)
        return (overall, *statuses, *[gr.update(visible=False)] * MAX_VIDEOS, *self.finished(count))


def _overall(jobs: list[Job], elapsed: float | None = None) -> str:
    """The status card above the grid: how many are running, ready, failed or stopped.

    Read from the jobs alone, so that the run and the Cancel all button always agree.
    """
    total = len(jobs)
    running = sum(1 for job in jobs if not job.finished)
    ready = sum(1 for job in jobs if job.finished and job.done is not None)
    failed = sum(1 for job in jobs if job.finished and job.done is None and job.error is not None)
    stopped = total - running - ready - failed
    counts = [
        f"{ready} ready" if ready else "",
        f"{running} running" if running else "",
        f"{failed} failed" if failed else "",
        f"{stopped} cancelled" if stopped else "",
    ]
    detail = " · ".join(part for part in counts if part)
    if running:
        return status_card("running", f"Generating {total} videos", detail, elapsed=elapsed)
    if ready == total:
        return status_card(
            "done", f"{total} videos ready", "Compare them side by side below.", elapsed=elapsed, progress=1.0
        )
    if ready:
        return status_card("done", f"{ready} of {total} videos ready", detail, elapsed=elapsed, progress=1.0)
    if failed:
        return status_card("error", "No video was made", detail, elapsed=elapsed)
    return status_card("cancelled", "Cancelled", detail, elapsed=elapsed)
