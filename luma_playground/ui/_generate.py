"""The page's event handlers: generate (with its status cards), cancel, and the small helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Optional

import gradio as gr

from .._config import ApiKey
from .._errors import InvalidRequest, LumaPlaygroundError
from .._images import check_image, in_image_worker, suggested_size
from .._jobs import Job, cancel_all
from .._models import GenerationRequest
from .._service import Backend, Playground
from .._urls import fetch_image
from ._format import (
    StatusTracker,
    badge_html,
    cancelled_html,
    details_html,
    error_html,
    error_title,
    summary_html,
)
from ._gradio_compat import sent_picture, url_downloads
from ._parts import TICK, page_error, page_warning, session_hash
from ._session import SessionStore

__all__ = ["Handlers", "ui_error"]


def ui_error(error: LumaPlaygroundError) -> gr.Error:
    """The error as Gradio shows it: a titled notice, and `AppError` for API callers (escaped once)."""
    return page_error(str(error), title=error_title(error))


class Handlers:
    """The playground's event handlers, bound to one playground and its sessions."""

    def __init__(self, playground: Playground, store: SessionStore, *, tick: float = TICK) -> None:
        self.playground = playground
        self.store = store
        self.tick = tick

    # -- generate -----------------------------------------------------------------------------

    async def generate(
        self,
        image: str | None,
        prompt: str,
        size: str,
        duration: int,
        request: gr.Request,
        # Spelled `Optional[...]`: that is the form Gradio's MCP server lists as a header.
        x_wavespeed_key: Optional[gr.Header] = None,  # noqa: UP045
    ) -> AsyncIterator[tuple[Any, Any, Any]]:
        """Make the form's video, updating the status card as it goes (the page's private event).

        The video is made with the key the request carries in `X-WaveSpeed-Key` or the tab's
        typed key, else with the server's key, else by the offline simulator. A cancelled event
        (the Cancel button, or a script cancelling its call) cancels the task on WaveSpeed.
        """
        visit = self.store.visit(request, x_wavespeed_key)
        try:
            generation = GenerationRequest.create(sent_picture(image), prompt, size, duration)
            [job] = await self.store.start(visit, generation)
        except LumaPlaygroundError as error:
            yield gr.skip(), error_html(error), gr.skip()  # the last video stays on screen
            raise ui_error(error) from None
        backend, _ = self.playground.backend_for(visit.user_key)
        tracker = StatusTracker(backend_name=_backend_name(backend))
        yield None, tracker.render(), ""
        async for update in self._follow(job, generation, backend, tracker):
            yield update

    async def _follow(
        self, job: Job, generation: GenerationRequest, backend: Backend, tracker: StatusTracker
    ) -> AsyncIterator[tuple[Any, Any, Any]]:
        """The job's progress as UI updates; the last one carries the video.

        Leaving early (a closed tab) leaves the job running: its video is still saved.
        """
        try:
            async for event in job.events(tick=self.tick):
                yield gr.skip(), tracker.update(event), gr.skip()
        except asyncio.CancelledError:
            await asyncio.shield(job.cancel())  # whoever cancelled the event stops paying
            raise
        if job.done is not None:
            yield (
                str(job.done.video_path),
                tracker.update(job.done),
                details_html(job.done, generation, backend_name=_backend_label(backend)),
            )
        elif job.error is not None:
            yield gr.skip(), error_html(job.error, elapsed=tracker.elapsed), gr.skip()
            raise ui_error(job.error)
        elif job.cancelled:
            # The Cancel handler says the same; whichever of the two reaches the page last, the
            # card ends on what became of the task, never on a tick from before the cancel.
            yield gr.skip(), cancelled_html(job.cancel_note or "", task_id=job.task_id), gr.skip()

    # -- around generate ----------------------------------------------------------------------

    def prepare(self, key: str | None, request: gr.Request) -> tuple[Any, Any, Any]:
        """Take the tab's key as it is now, and switch the buttons to "running"."""
        self._take_key(session_hash(request), key)
        return (
            gr.update(value="Generating…", interactive=False),
            gr.update(visible=True),
            self._badge(request),
        )

    def finish(self, request: gr.Request | None = None) -> tuple[Any, Any]:
        """Put the buttons back once a generation ends, however it ends.

        Cancel stays while the tab has other work running (a shot's segment), which it stops too.
        """
        running = request is not None and bool(self.store.running(session_hash(request)))
        return gr.update(value="Generate video", interactive=True), gr.update(visible=running)

    async def cancel(self, request: gr.Request) -> tuple[Any, Any, Any]:
        """Stop this tab's work at once (a shot after its segment, cancelled) and say what became of it."""
        session = session_hash(request)
        jobs = self.store.running(session)
        self.store.stop_shots(session)
        if not jobs:
            status = cancelled_html("Nothing was running, so nothing was charged.")
        else:
            notes = await cancel_all(jobs)
            # WaveSpeed may finish a task before the cancel takes effect: then it is charged.
            status = cancelled_html(notes[-1], task_id=jobs[-1].task_id, charged=jobs[-1].done is not None)
        return (status, *self.finish())

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
        """A tab closed: drop its key (its running job, if any, goes on)."""
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
            page_warning(str(error), title="This image cannot be used")
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


def _backend_name(backend: Backend) -> str:
    return "the offline simulator" if backend.simulated else "WaveSpeed"


def _backend_label(backend: Backend) -> str:
    return "Offline simulator" if backend.simulated else "WaveSpeed"
