"""The public endpoints for longer shots and exports: `extend` and `export`, answering like `generate`."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import gradio as gr

from .._errors import LumaPlaygroundError
from .._features.exports import ExportSpec, export_video
from .._features.shot_store import ShotState, shot_json
from .._features.shots import MAX_SEGMENTS
from .._request import check_task_id
from ..ui._file_routes import EXPORTS, VIDEOS
from ..ui._generate import ui_error
from ..ui._gradio_compat import app_root, file_data
from ..ui._parts import guarded
from .tasks import DurationChoice, ModelChoice, PublicApi, _Progress

__all__ = ["ShotsApi"]

Header = gr.Header
ExportChoice = Literal["gif", "webp", "loop", "trim"]
LoopChoice = Literal["pingpong", "crossfade"]


def _ref(task_id: str) -> str:
    """A task id or a shot's name, checked."""
    wanted = str(task_id or "").strip()
    if wanted.startswith("shot-") and wanted[5:].isdigit():
        return wanted
    return check_task_id(wanted)


class ShotsApi:
    """`extend` and `export` over the public API's sessions, records and progress."""

    def __init__(self, api: PublicApi) -> None:
        self.api = api
        self.playground = api.playground

    async def extend(
        self,
        task_id: str,
        prompt: str,
        duration: DurationChoice = 5,
        model: ModelChoice = "luma/ray-2-i2v",
        request: gr.Request = None,  # type: ignore[assignment]
        x_wavespeed_key: Header = None,  # type: ignore[assignment]
    ) -> Any:
        """Continue a finished video from its exact last frame into one longer shot (one more segment).

        The new segment is a normal paid task (see `price`) started from the last frame, and the
        shot is joined into one seamless MP4 (the repeated frame at each join is dropped). Call it
        again with the shot's name or any of its task ids to go on, up to 12 segments. Cancelling
        the call cancels the segment being made; the shot keeps what was made. Over MCP on a
        shared playground this needs your own key in `X-WaveSpeed-Key` (or a sign-in), and
        answers only for its work: MCP callers cannot be told apart otherwise.

        Args:
            task_id: A finished video's task id, or a shot's name ("shot-3").
            prompt: The motion of the new segment.
            duration: 5 or 10 (seconds) for the new segment.
            model: "luma/ray-2-i2v" (Ray 2) or "luma/ray-2-flash-i2v" (Flash, a cheap draft of the segment).

        Returns:
            The shot's MP4, and the new segment's record (as `generate` gives it) with `shot`:
            its name, state, seconds, and its segments' task ids in order.
        """
        visit = self.api.store.work_visit(request, x_wavespeed_key)
        shots = self.playground.shots
        try:
            run = await shots.extend(_ref(task_id), prompt, duration, visit.caller, model=model)
        except LumaPlaygroundError as error:
            raise ui_error(error) from None
        progress = _Progress(int(duration))
        try:
            async for job in run.segment_jobs():
                async for event in job.events(tick=1.0):
                    progress.show(event)
            shot = await run.wait()
        except asyncio.CancelledError:
            await asyncio.shield(shots.cancel(f"shot-{run.shot_id}", visit.caller))
            raise
        records = shots.segments(shot)
        if shot.state != ShotState.READY:
            raise ui_error(LumaPlaygroundError(shot.error or "The shot was stopped."))
        data = self.api.record(records[-1], app_root(request))
        summary = shot_json(shot, records)
        data["shot"] = {
            "name": shot.name,
            "state": summary["state"],
            "seconds": summary["seconds"],
            "segments": [record.task_id for record in records],
            "max_segments": MAX_SEGMENTS,
        }
        return file_data(shots.video_of(shot.name, visit.caller), VIDEOS, app_root(request)), data

    async def export(
        self,
        task_id: str,
        kind: ExportChoice = "gif",
        loop: LoopChoice = "pingpong",
        trim: str = "",
        width: int = 480,
        fps: float = 12,
        request: gr.Request = None,  # type: ignore[assignment]
        x_wavespeed_key: Header = None,  # type: ignore[assignment]
    ) -> Any:
        """A GIF, animated WebP, seamless loop or trim of a saved video or shot, made here for free.

        Over MCP on a shared playground this needs your own key in `X-WaveSpeed-Key` (or a
        sign-in), and answers only for its work: MCP callers cannot be told apart otherwise.

        Args:
            task_id: A task id, or a shot's name ("shot-3").
            kind: "gif", "webp", "loop" (an MP4 that loops without a jump) or "trim" (an MP4).
            loop: For a loop: "pingpong" (forward, then backward) or "crossfade" (tail into head).
            trim: For a trim: "START:END" in seconds, e.g. "1:3.5".
            width: For GIF and WebP: the width in pixels (16 to 1920).
            fps: For GIF and WebP: frames per second (1 to 30). Width x height x frames is capped
                (320 megapixels: 5 s at 1920 px and 30 fps, a minute at 480 px and 30 fps); one
                export of yours at a time.

        Returns:
            The exported file, and a record: source (the task id or shot), kind, file name, bytes.
        """
        visit = self.api.store.work_visit(request, x_wavespeed_key)
        try:
            ref = _ref(task_id)
            spec = ExportSpec.create(kind, loop=loop, span=trim, width=int(width), fps=float(fps))
            video = self.playground.shots.video_of(ref, visit.caller)
            path = await export_video(video, spec, owner=visit.caller.owner)
        except LumaPlaygroundError as error:
            raise ui_error(error) from None
        data = {"source": ref, "kind": spec.kind, "file": path.name, "bytes": path.stat().st_size}
        return file_data(path, EXPORTS, app_root(request)), data

    def wire(self, generate_concurrency: int) -> None:
        """Declare the two endpoints (inside the Blocks); an extension shares `generate`'s limit."""
        gr.api(
            guarded(self.extend),
            api_name="extend",
            concurrency_limit=generate_concurrency,
            concurrency_id="generate",
        )
        gr.api(guarded(self.export), api_name="export", concurrency_limit=2, concurrency_id="export")
