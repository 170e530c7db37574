"""The Generate tab's handlers: one to four videos with their cards and Cancel, the key, the image.

One video is the run of one: the same handlers, cards and Cancel as four, shown in the large
player with its details instead of the grid. Every event is private (the public `generate` is
`_api`'s, returning data); the image is uploaded once for all the videos of a run, and each
video is a job of its own, counted against a shared deployment's limits like any other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import gradio as gr

from .._config import RAY_2, RAY_2_FLASH, ApiKey, Settings
from .._errors import InvalidRequest, LumaPlaygroundError, without_server_paths
from .._features.drafts import finish_draft
from .._journal.journal import TaskRecord
from .._pictures.checks import check_image, in_image_worker, suggested_size
from .._pictures.urls import fetch_image
from .._playground import Backend, Playground
from .._request import GenerationRequest
from .._run.events import Event
from .._run.jobs import Job, cancel_all
from ._format import (
    StatusTracker,
    badge_html,
    cancelled_html,
    details_html,
    error_html,
    error_title,
    status_card,
    summary_html,
)
from ._gradio_compat import sent_picture, shown_file, url_downloads
from ._parts import TICK, page_error, page_warning, session_hash
from ._session import SessionStore

__all__ = ["COUNT_CHOICES", "MAX_VIDEOS", "Handlers", "ui_error", "video_count"]

MAX_VIDEOS = 4
COUNT_CHOICES = [(str(n), n) for n in range(1, MAX_VIDEOS + 1)]

#: The updates of a run, in the order of `_generate_tab.RunParts.outputs`: the run's card, the
#: large player, its details, the grid, then each slot's card, player and Cancel.
Update = tuple[Any, ...]


def video_count(value: object) -> int:
    """How many videos were asked for, kept within 1 to MAX_VIDEOS."""
    try:
        return min(max(int(value), 1), MAX_VIDEOS)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 1


def generate_label(count: int, *, running: bool = False) -> str:
    """The Generate button's words for `count` videos."""
    if running:
        return "Generating…" if count == 1 else f"Generating {count} videos…"
    return "Generate video" if count == 1 else f"Generate {count} videos"


def cancel_label(count: int) -> str:
    """The Cancel button's words: it stops every video of the run."""
    return "Cancel" if count == 1 else "Cancel all"


def ui_error(error: LumaPlaygroundError) -> gr.Error:
    """The error as Gradio shows it: a titled notice, and `AppError` for API and MCP callers.

    The one place a library error becomes a visitor's text: any server path in it is cut to a name,
    and the text is escaped once.
    """
    return page_error(without_server_paths(str(error)), title=error_title(error))


def _skip(count: int) -> list[Any]:
    return [gr.skip() for _ in range(count)]


class Handlers:
    """The Generate tab's event handlers, bound to one playground and its sessions."""

    def __init__(self, playground: Playground, store: SessionStore, *, tick: float = TICK) -> None:
        self.playground = playground
        self.store = store
        self.tick = tick

    # -- the buttons ----------------------------------------------------------------------------

    @staticmethod
    def buttons(count: object) -> tuple[Any, Any]:
        """Generate and Cancel say how many videos they start and stop."""
        many = video_count(count)
        return gr.update(value=generate_label(many)), gr.update(value=cancel_label(many))

    def begin(self, count: object, key: str | None, request: gr.Request) -> Update:
        """Take the tab's key, switch the buttons to "running" and make room for the videos.

        One video shows in the large player; several in the grid, a slot each, waiting.
        """
        self._take_key(session_hash(request), key)
        many = video_count(count)
        buttons = (
            gr.update(value=generate_label(many, running=True), interactive=False),
            gr.update(value=cancel_label(many), visible=True),
            self._badge(request),
        )
        if many == 1:
            return (
                *buttons,
                gr.update(visible=True),
                gr.skip(),
                gr.update(visible=False),
                *_skip(3 * MAX_VIDEOS),
            )
        waiting = status_card("idle", "Waiting", "Starts with the others.")
        return (
            *buttons,
            gr.update(visible=False),
            "",  # the large player's details make room
            gr.update(visible=True),
            *[gr.update(visible=index < many) for index in range(MAX_VIDEOS)],
            *[waiting] * MAX_VIDEOS,
            *[gr.update(visible=False)] * MAX_VIDEOS,
        )

    def buttons_after_run(self, count: object, request: gr.Request | None = None) -> tuple[Any, Any]:
        """Put the buttons back once a run ends, however it ends.

        Cancel stays while the tab has other work running (a shot's segment), which it stops too.
        """
        many = video_count(count)
        running = request is not None and bool(self.store.running(session_hash(request)))
        return (
            gr.update(value=generate_label(many), interactive=True),
            gr.update(value=cancel_label(many), visible=running),
        )

    # -- draft, then finish ------------------------------------------------------------------

    def _draft_at(self, session: str, index: int) -> TaskRecord | None:
        """The finished Ray 2 Flash video of the last run's video `index`, if that is what it is."""
        jobs = self.store.last_run(session)
        done = jobs[index].done if index < len(jobs) else None
        if done is None or jobs[index].model != RAY_2_FLASH.id:
            return None
        return self.playground.journal.by_task_id(done.task_id)

    def _finish_offer(self, draft: TaskRecord | None) -> Any:
        """ "Finish in Ray 2" with the final's price for a draft; hidden for anything else."""
        if draft is None:
            return gr.Button(visible=False)
        price = self.playground.spend.unit_price(draft.size, RAY_2.id) * max(1, -(-draft.duration // 5))
        return gr.Button(value=f"Finish in Ray 2 · {price:.2f} USD", visible=True, interactive=True)

    def finish_offers(self, request: gr.Request) -> Update:
        """ "Finish in Ray 2" under each finished Flash video of the run, priced; hidden elsewhere.

        A run of one offers it under the large player, a run of several on each video's card: the
        large player's button, then each slot's.
        """
        session = session_hash(request)
        offers = [self._finish_offer(self._draft_at(session, index)) for index in range(MAX_VIDEOS)]
        hidden = gr.Button(visible=False)
        if len(self.store.last_run(session)) == 1:
            return (offers[0], *[hidden] * MAX_VIDEOS)
        return (hidden, *offers)

    @staticmethod
    def hide_finish() -> Update:
        """A new run hides the offers of the last one (the large player's, then each slot's)."""
        return tuple(gr.Button(visible=False) for _ in range(MAX_VIDEOS + 1))

    async def finish_shown(self, request: gr.Request) -> tuple[Any, Any]:
        """Render the Flash video in the large player (a run of one) again in Ray 2."""
        return await self._finish(0, request)

    def finish_one(self, index: int) -> Callable[[gr.Request], Awaitable[tuple[Any, Any]]]:
        """The handler of slot `index`'s "Finish in Ray 2": render that Flash video again in Ray 2."""

        async def finish(request: gr.Request) -> tuple[Any, Any]:
            return await self._finish(index, request)

        return finish

    async def _finish(self, index: int, request: gr.Request) -> tuple[Any, Any]:
        """Start the final of the run's video `index` (same upload and settings); History follows it."""
        visit = self.store.visit(request)
        draft = self._draft_at(visit.session_hash, index)
        try:
            if draft is None:
                raise InvalidRequest("Make a video in Ray 2 Flash first: Ray 2 finishes that draft.")
            job = await finish_draft(self.playground, draft, visit.caller)
        except LumaPlaygroundError as error:
            raise ui_error(error) from None
        self.store.keep_jobs(visit, [job], run=False)
        gr.Info("The Ray 2 final has started: History shows it beside its draft.")
        return gr.Button(visible=False), gr.Tabs(selected="history")

    # -- the run --------------------------------------------------------------------------------

    async def generate(
        self,
        image: str | None,
        prompt: str,
        size: str,
        duration: int,
        model: str,
        count: object,
        request: gr.Request,
        # Spelled `Optional[...]`: that is the form Gradio's MCP server lists as a header.
        x_wavespeed_key: Optional[gr.Header] = None,  # noqa: UP045
    ) -> AsyncIterator[Update]:
        """Make `count` videos of the form at once, each card showing its own progress.

        The videos are made with the key the request carries in `X-WaveSpeed-Key` or the tab's
        typed key, else with the server's key, else by the offline simulator. A video that fails
        says so on its card and the others go on; the run fails when nothing starts or every
        video fails. A cancelled event (Cancel, or a script cancelling its call) cancels the tasks.
        """
        visit = self.store.visit(request, x_wavespeed_key)
        try:
            generation = GenerationRequest.create(
                sent_picture(image), prompt, size=size, duration=duration, model=model
            )
            jobs = await self.store.start(visit, generation, count=video_count(count))
        except LumaPlaygroundError as error:
            # Nothing started: the last video stays on screen, in the large player.
            hidden = gr.update(visible=False)
            yield (error_html(error), gr.update(visible=True), gr.skip(), hidden, *_skip(3 * MAX_VIDEOS))
            raise ui_error(error) from None
        backend, _ = self.playground.backend_for(visit.user_key)
        shown = _Shown(jobs, generation, backend, self.playground.settings)
        async for update in self._follow(shown):
            yield update
        errors = [job.error for job in jobs if job.error is not None]
        if len(errors) == len(jobs):
            raise ui_error(errors[-1])

    async def _follow(self, shown: _Shown) -> AsyncIterator[Update]:
        """Every job's progress on its own card, as the events of all of them arrive.

        Leaving early (a closed tab) leaves the jobs running: their videos are still saved.
        """
        arrivals: asyncio.Queue[tuple[int, Event | None, bool]] = asyncio.Queue()

        async def listen(index: int, job: Job) -> None:
            # A job's events end once it is over, a cancelled one's once its cancel note is known.
            async for event in job.events(tick=self.tick):
                arrivals.put_nowait((index, event, False))
            arrivals.put_nowait((index, None, True))

        jobs = shown.jobs
        listeners = [asyncio.ensure_future(listen(i, job)) for i, job in enumerate(jobs)]
        open_slots = set(range(len(jobs)))
        try:
            yield shown.frame(open_slots, set(), first=True)
            while open_slots:
                ended: set[int] = set()
                batch = [await arrivals.get()]
                while not arrivals.empty():
                    batch.append(arrivals.get_nowait())
                for index, event, is_end in batch:
                    if is_end:
                        ended.add(index)
                    elif index in open_slots:
                        shown.trackers[index].update(event)
                open_slots -= ended
                yield shown.frame(open_slots, ended)
        except asyncio.CancelledError:
            await asyncio.shield(cancel_all(jobs))  # whoever cancelled the run stops paying
            raise
        finally:
            for listener in listeners:
                listener.cancel()

    # -- cancel ---------------------------------------------------------------------------------

    async def cancel(self, count: object, request: gr.Request) -> Update:
        """Stop this tab's work at once (a shot after its segment) and say what became of each video.

        Returns the run's card, each slot's card and Cancel, then Generate and Cancel.
        """
        session = session_hash(request)
        run = self.store.last_run(session)
        jobs = self.store.running(session)
        self.store.stop_shots(session)
        notes = dict(zip(jobs, await cancel_all(jobs), strict=True))
        cards = _skip(MAX_VIDEOS)
        for index, job in enumerate(run[:MAX_VIDEOS]):
            if job in notes:
                # WaveSpeed may finish a task before the cancel takes effect: then it is charged.
                cards[index] = cancelled_html(notes[job], task_id=job.task_id, charged=job.done is not None)
        if len(run) > 1:
            overall = run_card(run)
        elif jobs:
            last = jobs[-1]
            overall = cancelled_html(notes[last], task_id=last.task_id, charged=last.done is not None)
        else:
            overall = cancelled_html("Nothing was running, so nothing was charged.")
        return (overall, *cards, *[gr.update(visible=False)] * MAX_VIDEOS, *self.buttons_after_run(count))

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

    # -- the key ------------------------------------------------------------------------------

    def set_key(self, key: str | None, remember: bool, request: gr.Request) -> tuple[Any, Any]:
        """Keep the key for this tab on the server; in the browser too if asked to."""
        api_key = self._take_key(session_hash(request), key)
        stored = api_key.reveal() if (api_key is not None and remember) else None
        return self._badge(request), stored

    def restore_key(self, stored: object, request: gr.Request) -> tuple[Any, Any, Any]:
        """On page load, take back a key this browser was asked to remember."""
        if not isinstance(stored, str) or not stored.strip():
            return gr.skip(), gr.skip(), self._badge(request)
        self._take_key(session_hash(request), stored)
        return stored, True, self._badge(request)

    def forget(self, request: gr.Request) -> None:
        """A tab closed: drop its key (its running jobs, if any, go on)."""
        self.store.forget(session_hash(request))

    def _take_key(self, session: str, key: str | None) -> ApiKey | None:
        """Keep the tab's key; one of the wrong shape is not kept, and a warning says why."""
        api_key = self.store.set_key(session, key)
        if fault := self.store.key_fault(session):
            page_warning(fault, title="Key not valid")
        return api_key

    def _badge(self, request: gr.Request | None) -> str:
        try:
            return self.badge(self.store.visit(request).user_key is not None)
        except gr.Error:  # a refused key: no key of the tab's own
            return self.badge(False)

    def badge(self, has_user_key: bool) -> str:
        """The badge line for a tab with or without a key of its own."""
        kind = "user" if has_user_key else self.store.badge_kind(None)
        settings = self.store.settings
        limits = None
        if kind == "server" and settings.shared:
            limits = (settings.session_running_limit, settings.session_daily_limit)
        return badge_html(kind, limits=limits)

    # -- the image ----------------------------------------------------------------------------

    def suggest_size(self, image: str | None) -> Any:
        """Preselect the size from a new image's orientation; warn about an unusable image."""
        if not image:
            return gr.skip()
        try:
            return suggested_size(Path(image)).value
        except InvalidRequest as error:
            page_warning(without_server_paths(str(error)), title="This image cannot be used")
            return gr.skip()

    async def use_url(self, url: str | None) -> tuple[Any, Any]:
        """Fetch an image from a public URL into the image field (and preview it)."""
        try:
            if not url or not url.strip():
                raise InvalidRequest("Paste the address of an image first.", field="image")
            path = str(await fetch_image(url, url_downloads()))
            await in_image_worker(check_image, Path(path))
        except InvalidRequest as error:
            raise ui_error(error) from None
        return path, gr.Tabs(selected="image-tab")

    @staticmethod
    def summary(size: str | None, duration: int | None) -> str:
        return summary_html(size, duration)


@dataclass
class _Shown:
    """A run as the page shows it: a card per video, the run's own card, the players."""

    jobs: list[Job]
    generation: GenerationRequest
    backend: Backend
    settings: Settings
    trackers: list[StatusTracker] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    #: Each ended slot's video, sent again with every later frame of the run (see `frame`).
    videos: dict[int, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = "the offline simulator" if self.backend.simulated else "WaveSpeed"
        self.trackers = [StatusTracker(backend_name=where) for _ in self.jobs]

    def frame(self, open_slots: set[int], ended: set[int], *, first: bool = False) -> Update:
        """The page's update: open slots show their progress, `ended` ones how they ended.

        The `first` frame clears the players of the run before.
        """
        cards, videos, cancels = (_skip(MAX_VIDEOS) for _ in range(3))
        for index, job in enumerate(self.jobs):
            if first:
                videos[index] = None
            if index in ended or (index in open_slots and job.finished):
                # A job that ended a moment ago (a Cancel) shows how it ended at once, never a tick.
                cancels[index] = gr.update(visible=False)
                cards[index], videos[index] = self._ending(index, job)
                self.videos[index] = videos[index]
            elif index in self.videos:
                # Gradio streams each output as a diff from its last value, and the page applies a
                # diff to the very object it was given before: a skip after a video would turn the
                # video the slot is about to show into a skip. The same value again is no diff.
                videos[index] = self.videos[index]
            elif index in open_slots:
                cards[index] = self.trackers[index].render()
                # Sent with every frame, not once: a frame the page applies late or not at all
                # must not leave a running video without its Cancel.
                cancels[index] = gr.update(visible=True)
        if len(self.jobs) > 1:
            overall = run_card(self.jobs, time.monotonic() - self.started)
            return (overall, gr.skip(), gr.skip(), gr.skip(), *cards, *videos, *cancels)
        # One video: its card, player and details are the large ones above the (hidden) grid.
        [job] = self.jobs
        details: Any = "" if first else gr.skip()
        if job.finished and job.done is not None:
            label = "Offline simulator" if self.backend.simulated else "WaveSpeed"
            details = details_html(job.done, self.generation, backend_name=label)
        return (cards[0], videos[0], details, gr.skip(), *_skip(3 * MAX_VIDEOS))

    def _ending(self, index: int, job: Job) -> tuple[Any, Any]:
        """The card and video (none but a finished one's) of a slot whose job has ended."""
        tracker = self.trackers[index]
        if job.done is not None:
            return tracker.update(job.done), shown_file(job.done.video_path, self.settings)
        if job.error is not None:
            return error_html(job.error, elapsed=tracker.elapsed), None
        if job.cancel_note is not None:
            # The same card its Cancel handler showed: whichever reaches the page last, the card
            # ends on what became of the task, never on a tick from before the cancel.
            return cancelled_html(job.cancel_note, task_id=job.task_id), None
        return gr.skip(), None


def run_card(jobs: list[Job], elapsed: float | None = None) -> str:
    """The card above several videos: how many are running, ready, failed or stopped.

    Read from the jobs alone, so that the run and its Cancel always agree.
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
