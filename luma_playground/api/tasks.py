"""The public API: one set of functions for `gradio_client` and for agents over MCP, returning data.

Each endpoint is the function of the same name (MCP names its tools after them): `generate`,
`price`, `finish`, `enhance_prompt`, `get_task`, `history` and `cancel` (and `_api_shots`'s `extend` and
`export`). They answer for the caller: their
own key when the request carries `X-WaveSpeed-Key`, else the server's key under the limits of a
shared deployment, else the offline simulator. Over MCP the caller is their login or their key,
else one anonymous visitor that the tools for existing work refuse on a shared deployment (see
`SessionStore.work_visit`). The page keeps its HTML cards through private events of its own;
these return JSON-ready values, and refused input gets one sentence.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Literal

import gradio as gr

from .._errors import InvalidRequest, LumaPlaygroundError
from .._features.drafts import finish_draft
from .._journal.journal import TaskRecord
from .._pictures.sources import NOT_YOURS, Picture, is_data_uri, is_url
from .._request import GenerationRequest, check_task_id
from .._run.events import (
    Done,
    Downloading,
    Event,
    Processing,
    Queued,
    Submitted,
    Submitting,
    Uploaded,
    Uploading,
    WaitingForSlot,
)
from .._run.jobs import Job
from ..ui._cost import CostBook
from ..ui._enhance import PromptEnhancer
from ..ui._file_routes import VIDEOS
from ..ui._generate import Handlers, ui_error
from ..ui._gradio_compat import app_root, file_data, uploaded_picture
from ..ui._history import HistoryHandlers
from ..ui._history_view import public_record
from ..ui._parts import TICK, guarded
from ..ui._session import Visit

__all__ = ["PublicApi", "wire"]

#: The header through which callers pass their own key. Annotated as the bare class: Gradio's MCP
#: schema compares hints by identity, and a cached `Optional[...]` may be a different object.
Header = gr.Header
#: The choices, as the API page and MCP tool schemas list them (other values get a sentence).
#: Gradio reads them from the hints, so they are written out; tests/test_fields.py holds them,
#: the defaults and the docstrings' words to `_request.SIZE`, `_request.DURATION` and `_request.MODEL`.
SizeChoice = Literal["1280*720", "720*1280"]
DurationChoice = Literal[5, 10]
ModelChoice = Literal["luma/ray-2-i2v", "luma/ray-2-flash-i2v"]
#: How long Ray 2 typically takes for a video of each duration, before the journal knows better.
TYPICAL_SECONDS = {5: 60, 10: 120}


def _phase(event: Event | None) -> str:
    """A short line on where a generation is (before and after the model works)."""
    match event:
        case WaitingForSlot():
            return "Waiting for a free slot on this key"
        case Uploading() | Uploaded():
            return "Uploading the picture"
        case Submitting() | Submitted() | Queued():
            return "Queued on WaveSpeed"
        case Downloading():
            return "Saving the video"
        case Done():
            return "Done"
    return "Checking the picture and the prompt"


class _Progress:
    """Reports a job's phase through Gradio's progress (read by `job.status()` and MCP)."""

    def __init__(self, duration: int) -> None:
        self.progress = gr.Progress()
        self.expected = float(TYPICAL_SECONDS.get(duration, 60))
        self.event: Event | None = None
        self.processing_since: float | None = None

    def show(self, event: Event | None) -> None:
        loop = asyncio.get_running_loop()
        if event is not None:
            self.event = event
            if isinstance(event, Processing):
                if event.expected:
                    self.expected = max(event.expected, 1.0)
                if self.processing_since is None:
                    self.processing_since = loop.time() - event.elapsed
        seconds = 0 if self.processing_since is None else int(loop.time() - self.processing_since)
        expected = max(int(self.expected), seconds + 1)
        if isinstance(self.event, Processing):
            line = f"Generating, {seconds} s of about {expected} s"
        else:
            line = _phase(self.event)
        # A step count (not a fraction): MCP clients are told the line only with one.
        self.progress((seconds, expected), desc=line, unit="s")


def picture_of(image: object) -> str | Picture:
    """The picture a caller sent, as the start path takes it: a URL, a data URI, or their upload.

    A file object must name a file this caller uploaded (Gradio's upload folder) or carry an
    http(s) URL; a bare string must be a URL or a data URI. A path anywhere else gets `NOT_YOURS`,
    the same sentence whether or not a file is there.
    """
    if isinstance(image, dict):
        path, url = image.get("path"), image.get("url")
        for candidate in (path, url):
            if isinstance(candidate, str) and is_url(candidate):
                return candidate
        if isinstance(path, str) and path:
            return uploaded_picture(path)
        raise InvalidRequest(NOT_YOURS, field="image")
    if isinstance(image, str) and image.strip():
        text = image.strip()
        if is_url(text) or is_data_uri(text):
            return text
        raise InvalidRequest(NOT_YOURS, field="image")
    raise InvalidRequest("Add an image: an http(s) URL, a data URI or an uploaded file.", field="image")


class PublicApi:
    """The handlers of the public endpoints, over the page's own handlers and caches."""

    def __init__(
        self, handlers: Handlers, history: HistoryHandlers, cost: CostBook, enhancer: PromptEnhancer
    ) -> None:
        self.handlers = handlers
        self.playground = handlers.playground
        self.store = handlers.store
        self.history_handlers = history
        self.cost = cost
        self.enhancer = enhancer

    # -- generate ---------------------------------------------------------------------------

    async def generate(
        self,
        image: str | dict[str, Any],
        prompt: str,
        size: SizeChoice = "1280*720",
        duration: DurationChoice = 5,
        model: ModelChoice = "luma/ray-2-i2v",
        request: gr.Request = None,  # type: ignore[assignment]
        x_wavespeed_key: Header = None,  # type: ignore[assignment]
    ) -> AsyncIterator[tuple[dict[str, Any] | None, dict[str, Any]]]:
        """Animate a picture into a 5 or 10 second MP4 with Luma Ray 2 (image to video) on WaveSpeedAI.

        Draft cheaply first: try a prompt in "luma/ray-2-flash-i2v" (Ray 2 Flash, about a third of
        the price and time), then render the draft you like with `finish` (Ray 2, same picture,
        prompt, size and duration).

        The picture is cropped to fill the frame: 16:9 for "1280*720", 9:16 for "720*1280" (choose the
        size that matches the picture's orientation). A run takes about a minute for 5 s and two for
        10 s, and is paid per 5 s of video: call `price` first to see the cost. Progress says the
        phase ("Generating, 34 s of about 60 s"); cancelling the call cancels the task on WaveSpeed.
        Without an `X-WaveSpeed-Key` header the server's key pays (within its per-visitor limits;
        over MCP, every caller without a key or a login counts as one visitor), or the offline
        simulator makes a marked video.

        Args:
            image: The picture: an http(s) URL, a "data:image/png;base64,..." URI, or a file
                uploaded with POST /gradio_api/upload (pass {"path": <returned path>, "meta":
                {"_type": "gradio.FileData"}}). JPG, PNG, WebP, GIF, BMP or TIFF, up to 20 MB.
            prompt: What should happen: the motion, the camera move, the mood (up to 2,000 characters).
            size: "1280*720" (landscape, 16:9) or "720*1280" (portrait, 9:16).
            duration: 5 or 10 (seconds).
            model: "luma/ray-2-i2v" (Ray 2, the final) or "luma/ray-2-flash-i2v" (Flash, the cheap draft).

        Returns:
            The MP4 video, and the task's record: task_id, state, size, duration, model,
            inference_seconds, price_usd, backend, video_url (this playground's saved copy).
        """
        visit = self.store.visit(request, x_wavespeed_key)
        try:
            generation = GenerationRequest.create(
                picture_of(image), prompt, size=size, duration=duration, model=model
            )
            [job] = await self.store.start(visit, generation)
        except LumaPlaygroundError as error:
            raise ui_error(error) from None
        async for outcome in self._followed(job, visit, request, generation.duration):
            yield outcome

    async def finish(
        self,
        task_id: str,
        request: gr.Request = None,  # type: ignore[assignment]
        x_wavespeed_key: Header = None,  # type: ignore[assignment]
    ) -> AsyncIterator[tuple[dict[str, Any] | None, dict[str, Any]]]:
        """Finish a Ray 2 Flash draft in Ray 2: the same picture (not uploaded again), prompt and settings.

        Draft with `generate` and model "luma/ray-2-flash-i2v" (cheap and fast), then pass the draft
        you like here. It is paid at Ray 2's price: call `price` with model "luma/ray-2-i2v" first.
        The final's record names its draft (draft_task_id). Over MCP on a shared playground this
        needs your own key in `X-WaveSpeed-Key` (or a sign-in), as for `get_task`.

        Args:
            task_id: The finished Ray 2 Flash task's id (from `generate`'s record or `history`).

        Returns:
            The MP4 video, and the final's record (see `generate`), with draft_task_id.
        """
        visit = self.store.work_visit(request, x_wavespeed_key)
        try:
            draft, _ = await self.history_handlers.lookup(task_id, visit)
            job = await finish_draft(self.playground, draft, visit.caller)
            self.store.keep_jobs(visit, [job])
        except LumaPlaygroundError as error:
            raise ui_error(error) from None
        async for outcome in self._followed(job, visit, request, draft.duration):
            yield outcome

    async def _followed(
        self, job: Job, visit: Visit, request: gr.Request | None, duration: int
    ) -> AsyncIterator[tuple[dict[str, Any] | None, dict[str, Any]]]:
        """The job's video and record once it ends, its phase shown as progress meanwhile."""
        progress = _Progress(duration)
        try:
            async for event in job.events(tick=TICK):
                progress.show(event)
        except asyncio.CancelledError:
            # The caller cancelled (gradio_client's `job.cancel()`): stop paying for the task.
            await asyncio.shield(job.cancel())
            raise
        yield await self._outcome(job, visit, request)

    async def _outcome(
        self, job: Job, visit: Visit, request: gr.Request | None
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        if job.done is None:
            raise ui_error(job.error or LumaPlaygroundError(job.cancel_note or "The generation was stopped."))
        record = self.playground.journal.by_task_id(job.done.task_id)
        assert record is not None
        root = app_root(request)
        data = self.record(record, root)
        quote = await self.cost.quote(visit, record.size, record.duration, model=record.model)
        data["price_usd"] = quote.per_video
        return file_data(job.done.video_path, VIDEOS, root), data

    def record(self, record: TaskRecord, root: str | None) -> dict[str, Any]:
        entry = self.history_handlers.entry(record, poster=False)
        return public_record(entry, root)

    # -- before and after -------------------------------------------------------------------

    async def price(
        self,
        size: SizeChoice = "1280*720",
        duration: DurationChoice = 5,
        count: int = 1,
        model: ModelChoice = "luma/ray-2-i2v",
        request: gr.Request = None,  # type: ignore[assignment]
        x_wavespeed_key: Header = None,  # type: ignore[assignment]
    ) -> dict[str, Any]:
        """The cost of a run before anything is spent, and the balance of your own key.

        Args:
            size: "1280*720" or "720*1280".
            duration: 5 or 10 (seconds); billing is per 5 s of video.
            count: How many videos (1 to 4).
            model: "luma/ray-2-i2v" (Ray 2, the final) or "luma/ray-2-flash-i2v" (Flash, the cheap draft).

        Returns:
            model, usd_per_video, usd_total, balance_usd (only for a key you sent), covered,
            simulated, and problem when a figure is unavailable.
        """
        visit = self.store.visit(request, x_wavespeed_key)
        try:
            request_like = GenerationRequest.create(
                "https://example.com/x.jpg", "price", size=size, duration=duration, model=model
            )
            if not isinstance(count, int) or not 1 <= count <= 4:
                raise InvalidRequest("count must be a whole number from 1 to 4.", field="count")
        except LumaPlaygroundError as error:
            raise ui_error(error) from None
        quote = await self.cost.quote(
            visit, request_like.size.value, request_like.duration, count, model=request_like.model
        )
        return {
            "size": request_like.size.value,
            "duration": request_like.duration,
            "model": request_like.model,
            "count": count,
            "usd_per_video": quote.per_video,
            "usd_total": quote.total,
            "balance_usd": None if quote.balance_private else quote.balance,
            "covered": quote.covered,
            "simulated": quote.simulated,
            "problem": quote.price_problem or (None if quote.balance_private else quote.balance_problem),
        }

    async def enhance_prompt(
        self,
        prompt: str,
        image: str | dict[str, Any] | None = None,
        style: str = "default",
        request: gr.Request = None,  # type: ignore[assignment]
        x_wavespeed_key: Header = None,  # type: ignore[assignment]
    ) -> dict[str, Any]:
        """A fuller prompt for a video, suggested by WaveSpeed's prompt optimizer from your words and picture.

        A suggestion costs a fraction of a cent. Without an `X-WaveSpeed-Key` header the server's
        key pays, within its per-visitor limits and daily budget (over MCP, every caller without a
        key or a login counts as one visitor), or the offline simulator answers.

        Args:
            prompt: Your prompt, a few words at least.
            image: Optional picture (http(s) URL, data URI or uploaded file), so that the suggestion fits it.
            style: default, artistic, photographic, technical, anime or realistic.

        Returns:
            prompt (the suggestion), style, used_picture and simulated.
        """
        visit = self.store.visit(request, x_wavespeed_key)
        try:
            picture = picture_of(image) if image else None
            suggestion = await self.enhancer.suggestion(visit, picture, prompt, style)
        except LumaPlaygroundError as error:
            raise ui_error(error) from None
        return {
            "prompt": suggestion.text,
            "style": suggestion.style,
            "used_picture": suggestion.used_picture,
            "simulated": suggestion.simulated,
        }

    async def get_task(
        self,
        task_id: str,
        request: gr.Request = None,  # type: ignore[assignment]
        x_wavespeed_key: Header = None,  # type: ignore[assignment]
    ) -> dict[str, Any]:
        """One of your tasks by its id (also one made elsewhere with your key); its video is saved.

        Over MCP on a shared playground this needs your own key in `X-WaveSpeed-Key` (or a
        sign-in), and answers only for its work: MCP callers cannot be told apart otherwise.

        Args:
            task_id: The WaveSpeed task id.

        Returns:
            The task's record (see `history`), with note when it could not be checked just now.
        """
        visit = self.store.work_visit(request, x_wavespeed_key)
        try:
            record, problem = await self.history_handlers.lookup(task_id, visit)
        except LumaPlaygroundError as error:
            raise ui_error(error) from None
        data = self.record(record, app_root(request))
        data["note"] = str(problem) if problem is not None else None
        return data

    def history(
        self,
        request: gr.Request = None,  # type: ignore[assignment]
        x_wavespeed_key: Header = None,  # type: ignore[assignment]
    ) -> list[dict[str, Any]]:
        """Your generations in this playground, newest first (the latest 60).

        Each one has its task id, state, prompt, size, duration, creation and completion times
        (ISO 8601, UTC), inference seconds, backend, the reason when it failed, and video_url, the
        address of this playground's saved copy. Pass your key in the `X-WaveSpeed-Key` header to
        see the tasks of that key too. Over MCP on a shared playground this needs your own key in
        `X-WaveSpeed-Key` (or a sign-in), and answers only for its work: MCP callers cannot be
        told apart otherwise.
        """
        visit = self.store.work_visit(request, x_wavespeed_key)
        root = app_root(request)
        return [self.record(record, root) for record in self.history_handlers.records(visit)]

    async def cancel(
        self,
        task_id: str,
        request: gr.Request = None,  # type: ignore[assignment]
        x_wavespeed_key: Header = None,  # type: ignore[assignment]
    ) -> dict[str, Any]:
        """Ask WaveSpeed to cancel one of your running tasks, and say how the task ended.

        A cancel is a request, not a refund: WaveSpeed may finish the task anyway (then it is
        charged and its video is saved: state "completed") and may bill part of a cancelled one.
        The call waits until WaveSpeed says how the task ended.

        Over MCP on a shared playground this needs your own key in `X-WaveSpeed-Key` (or a
        sign-in), and answers only for its work: MCP callers cannot be told apart otherwise.

        Args:
            task_id: The task id that `generate`'s record or `history` gave.

        Returns:
            task_id, note (what became of the task) and state (the task's state now: "cancelled",
            "completed" when WaveSpeed finished it first, or still running when it has not said).
        """
        visit = self.store.work_visit(request, x_wavespeed_key)
        try:
            wanted = check_task_id(task_id)
            note = await self.playground.cancel_task(wanted, visit.caller)
        except LumaPlaygroundError as error:
            raise ui_error(error) from None
        record = self.playground.journal.by_task_id(wanted)
        return {"task_id": wanted, "note": note, "state": record.state if record else None}


def wire(api: PublicApi, *, generate_concurrency: int) -> None:
    """Declare the public endpoints (inside the Blocks): the API page and MCP list these alone."""
    gr.api(
        guarded(api.generate),
        api_name="generate",
        concurrency_limit=generate_concurrency,
        concurrency_id="generate",
    )
    gr.api(
        guarded(api.finish),
        api_name="finish",
        concurrency_limit=generate_concurrency,
        concurrency_id="generate",
    )
    for endpoint in (api.price, api.enhance_prompt, api.get_task, api.history, api.cancel):
        gr.api(guarded(endpoint), api_name=endpoint.__name__, concurrency_limit=None)
