"""The longer-shot panel under the result: Extend the finished video, Loop and Export it, and reuse
the settings kept inside a saved MP4.

The panel follows the tab's latest finished video (or the shot made from it), or the video or
shot picked in History ("Extend…") or opened by a link. Before each Extend it shows the price of
the next segment and of the shot so far; each segment counts among the tab's jobs, so the main
Cancel stops the shot too. Each export is a download.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import gradio as gr

from .._config import MODEL_ID, model_named
from .._errors import InvalidRequest, LumaPlaygroundError, without_server_paths
from .._features.exports import ExportSpec, export_video
from .._features.settings_file import SavedSettings, checked_settings
from .._features.shot_store import ShotState
from .._features.shots import MAX_SEGMENTS
from .._features.video_files import read_video
from .._request import DURATION, MODEL
from ..api.tasks import _phase
from ..media import read_metadata
from ._components import field_radio
from ._cost import CostBook
from ._file_routes import VIDEOS
from ._generate import ui_error
from ._gradio_compat import shown_file
from ._parts import QUIET, TICK, Form, guarded, session_hash
from ._session import SessionStore

if TYPE_CHECKING:
    from gradio.events import Dependency

    from .._playground import Playground

__all__ = ["ShotHandlers", "ShotParts", "place", "wire", "wire_openers"]


@dataclass(frozen=True)
class ShotParts:
    """The panel's components: what to extend, the next segment, the shot, and the exports."""

    panel: gr.Accordion
    source: gr.State
    prompt: gr.Textbox
    duration: gr.Radio
    #: The next segment's model (a shot may mix Ray 2 and Ray 2 Flash).
    model: gr.Radio
    price: gr.HTML
    extend: gr.Button
    cancel: gr.Button
    status: gr.HTML
    shot: gr.Video
    segments: gr.HTML
    loop_mode: gr.Radio
    loop: gr.Button
    gif: gr.Button
    webp: gr.Button
    trim_start: gr.Number
    trim_end: gr.Number
    trim: gr.Button
    download: gr.File
    dropped: gr.File
    found: gr.HTML
    reuse: gr.Button


def place() -> ShotParts:
    """The panel (shown once a video is finished) and the drop zone for a saved MP4."""
    source = gr.State("")
    with gr.Accordion("Extend, loop, export", open=True, visible=False, elem_id="lp-shot") as panel:
        with gr.Row(equal_height=True):
            prompt = gr.Textbox(label="Next segment's prompt", lines=1, scale=4, elem_id="lp-shot-prompt")
            duration = field_radio(DURATION, short=True, label="Length", scale=1)
        model = field_radio(MODEL, short=True, label="Next segment's model", elem_id="lp-shot-model")
        price = gr.HTML("", elem_id="lp-shot-price")
        with gr.Row():
            extend = gr.Button("Extend", variant="primary", elem_id="lp-extend")
            cancel = gr.Button("Stop the shot", variant="stop", visible=False, elem_id="lp-shot-cancel")
        status = gr.HTML("", elem_id="lp-shot-status")
        shot = gr.Video(label="Shot", interactive=False, loop=True, visible=False, elem_id="lp-shot-video")
        segments = gr.HTML("", elem_id="lp-shot-segments")
        with gr.Row(equal_height=True):
            loop_mode = gr.Radio(
                [("Ping-pong", "pingpong"), ("Crossfade", "crossfade")], value="pingpong", label="Loop"
            )
            loop = gr.Button("Make a loop", elem_id="lp-loop")
        with gr.Row(equal_height=True):
            gif = gr.Button("GIF", elem_id="lp-gif")
            webp = gr.Button("WebP", elem_id="lp-webp")
            trim_start = gr.Number(0, label="Trim from (s)", minimum=0)
            trim_end = gr.Number(2, label="to (s)", minimum=0)
            trim = gr.Button("Trim", elem_id="lp-trim")
        download = gr.File(label="Download", interactive=False, elem_id="lp-download")
    with gr.Accordion("Reuse a saved video's settings", open=False, elem_id="lp-reuse-panel"):
        dropped = gr.File(label="Drop an MP4 saved by this playground", file_types=[".mp4"], type="filepath")
        found = gr.HTML("")
        reuse = gr.Button("Use these settings again", visible=False, elem_id="lp-reuse")
    return ShotParts(
        panel,
        source,
        prompt,
        duration,
        model,
        price,
        extend,
        cancel,
        status,
        shot,
        segments,
        loop_mode,
        loop,
        gif,
        webp,
        trim_start,
        trim_end,
        trim,
        download,
        dropped,
        found,
        reuse,
    )


class ShotHandlers:
    """The panel's event handlers, over the playground's shots and the tabs' sessions."""

    def __init__(self, playground: Playground, store: SessionStore, cost: CostBook) -> None:
        self.playground = playground
        self.store = store
        self.cost = cost

    def take_last(self, prompt: str, request: gr.Request) -> tuple[Any, ...]:
        """After a video is finished: the panel follows it, its prompt prefilled."""
        jobs = self.store.last_run(session_hash(request))
        done = [job for job in jobs if job.done is not None]
        if not done:
            return (gr.skip(),) * 5
        ref = done[-1].done.task_id  # type: ignore[union-attr]
        return gr.update(visible=True), ref, prompt, gr.update(visible=False), ""

    def open_ref(self, ref: str | None, request: gr.Request) -> tuple[Any, ...]:
        """The panel follows a video or shot picked elsewhere (a History card, a link), on the Generate tab.

        `ref` is a task id, a shot's name, or a History row's number.
        """
        visit = self.store.visit(request)
        wanted = str(ref or "").strip()
        if wanted.isdigit():  # a History row
            record = self.playground.journal.get(int(wanted))
            wanted = record.task_id if record is not None and record.task_id else ""
        shots = self.playground.shots
        try:
            if not wanted:
                raise InvalidRequest("Only a finished video can be extended.")
            shot, latest = shots.resolve(wanted, visit.caller)
        except LumaPlaygroundError as error:
            raise ui_error(error) from None
        video, listed, note = gr.update(visible=False), "", "Extend this video from its last frame."
        if shot is not None:
            records = shots.segments(shot)
            note = f"This shot ({shot.name}): {len(records)} segments, {sum(r.duration for r in records)} s."
            if shot.state == ShotState.EXTENDING:
                note += " Its next segment is still to come."
            if shot.video_path:
                shown = shown_file(shots.video_of(shot.name, visit.caller), self.playground.settings)
                video = gr.update(value=shown, visible=True)
            listed = _segments(records)
        source = shot.name if shot is not None else wanted
        return (
            gr.update(visible=True, open=True),
            source,
            latest.prompt,
            video,
            listed,
            _status(note),
            gr.Tabs(selected="generate"),
        )

    def open_link(self, ref: str | None, request: gr.Request) -> tuple[Any, ...]:
        """A link to a shot opens it in the panel; one that is not the visitor's is only a warning."""
        if not ref:
            return (gr.skip(),) * 7
        try:
            return self.open_ref(ref, request)
        except gr.Error as error:
            gr.Warning(error.message, title="The linked shot is not here")
            return (gr.skip(),) * 7

    async def price(self, ref: str, duration: int, request: gr.Request, model: str | None = None) -> str:
        """The price of the next segment (in `model`, Ray 2 when none is given) and of the shot so far,
        each segment at its own model's price, before the click.
        """
        if not ref:
            return ""
        visit = self.store.visit(request)
        try:
            shot, latest = self.playground.shots.resolve(ref, visit.caller)
        except LumaPlaygroundError:
            return ""
        records = self.playground.shots.segments(shot) if shot else [latest]
        model_id = model_named(model or MODEL_ID).id
        quote = await self.cost.quote(visit, latest.size, int(duration), model=model_id)
        if quote.unit_price is None:
            return f'<p class="lp-muted">{escape(quote.price_problem or "No price available.")}</p>'
        units = {model_id: quote.unit_price}
        for used in {record.model for record in records} - set(units):
            earlier = await self.cost.quote(visit, latest.size, 5, model=used)
            units[used] = earlier.unit_price or quote.unit_price
        so_far = sum(units[record.model] * math.ceil(record.duration / 5) for record in records)
        seconds = sum(record.duration for record in records)
        left = MAX_SEGMENTS - len(records)
        return (
            f"<p>Next segment: <b>${quote.per_video:.2f}</b> · the shot so far: {len(records)} "
            f"segment{'s' if len(records) != 1 else ''}, {seconds} s, ${so_far:.2f}"
            f" · {left} more allowed</p>"
        )

    async def extend(
        self, ref: str, prompt: str, duration: int, request: gr.Request, model: str | None = None
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Add a segment from the last frame, in `model` (Ray 2 when none is given); the joined shot when
        it is made.
        """
        visit = self.store.visit(request)
        shots = self.playground.shots
        try:
            if not ref:
                raise InvalidRequest("Make a video first: the panel extends the latest finished one.")
            run = await shots.extend(ref, prompt, duration, visit.caller, model=model or MODEL_ID)
        except LumaPlaygroundError as error:
            raise ui_error(error) from None
        self.store.keep_shot(visit.session_hash, run)  # the tab's Cancel stops it too
        name = f"shot-{run.shot_id}"
        shown, note = gr.update(visible=True), _status("Starting the next segment…")
        try:
            async for job in run.segment_jobs():
                async for event in job.events(tick=TICK):
                    if event is not None:
                        note = _status(f"The next segment: {_phase(event).lower()}…")
                    yield gr.skip(), note, name, gr.skip(), shown, shown
            shot = await run.wait()
        except asyncio.CancelledError:
            await asyncio.shield(shots.cancel(name, visit.caller))
            raise
        records = shots.segments(shot)
        ended = "The shot is ready." if shot.state == ShotState.READY else f"Stopped: {shot.error}"
        ended = without_server_paths(ended)
        video = shots.video_of(name, visit.caller)
        yield (
            gr.update(value=shown_file(video, self.playground.settings), visible=True),
            _status(ended),
            name,
            _segments(records),
            gr.update(visible=False),
            gr.update(visible=bool(self.store.running(visit.session_hash))),
        )

    async def cancel(self, ref: str, request: gr.Request) -> tuple[Any, Any]:
        """Stop the shot where it is; what was made is kept."""
        if not ref:
            return _status("Nothing is being made."), gr.update(visible=False)
        try:
            note = await self.playground.shots.cancel(ref, self.store.visit(request).caller)
        except LumaPlaygroundError as error:
            raise ui_error(error) from None
        return _status(note), gr.update(visible=False)

    async def export(
        self, kind: str, ref: str, loop_mode: str, start: float | None, end: float | None, request: gr.Request
    ) -> str:
        """Make an export of the video or shot the panel follows, as a download."""
        visit = self.store.visit(request)
        try:
            if not ref:
                raise InvalidRequest("Make a video first.")
            span = f"{float(start or 0)}:{float(end or 0)}" if kind == "trim" else None
            spec = ExportSpec.create(kind, loop=loop_mode, span=span)
            video = self.playground.shots.video_of(ref, visit.caller)
            path = await export_video(video, spec, owner=visit.caller.owner)
        except LumaPlaygroundError as error:
            raise ui_error(error) from None
        return shown_file(path, self.playground.settings)

    async def read_settings(self, video: str | None) -> tuple[Any, Any]:
        """What a dropped MP4 says about how it was made, or one sentence on why it cannot be used."""
        hidden = gr.update(visible=False)
        try:
            settings = await _saved_settings(video)
        except LumaPlaygroundError as error:
            return f'<p class="lp-muted">{escape(error.message)}</p>', hidden
        if settings is None:
            return '<p class="lp-muted">This file carries no playground settings.</p>', hidden
        facts = [f"size: {settings.size.value}"] if settings.size else []
        facts += [f"duration: {settings.duration}"] if settings.duration else []
        return f"<p>“{escape(settings.prompt)}” ({escape(', '.join(facts))})</p>", gr.update(visible=True)

    async def use_settings(self, video: str | None) -> tuple[Any, ...]:
        """The form filled from a dropped MP4: its checked prompt, size and length, and its first frame."""
        try:
            settings = await _saved_settings(video)
            if not video or settings is None:
                return (gr.skip(),) * 4
            folder = self.playground.settings.data_dir / "pictures"
            folder.mkdir(parents=True, exist_ok=True)
            source = Path(video)
            picture = await read_video(source, _first_frame, source, folder / f"{source.stem}-first.png")
        except LumaPlaygroundError as error:
            raise ui_error(error) from None
        size = settings.size.value if settings.size else gr.skip()
        return settings.prompt, size, settings.duration or gr.skip(), str(picture)


async def _saved_settings(video: str | None) -> SavedSettings | None:
    """The checked settings a file carries (None for none); `UnreadableVideo` for a file PyAV cannot open."""
    if not video:
        return None
    path = Path(video)
    return checked_settings(await read_video(path, read_metadata, path))


def _first_frame(video: Path, dest: Path) -> Path:
    """The first frame of a clip as a PNG: the picture the playground's settings started from."""
    with av.open(str(video)) as container:
        frame = next(container.decode(video=0), None)
        if frame is None:
            raise ValueError(f"{video.name} has no frames")
        frame.to_image().save(dest, format="PNG")
    return dest


def _status(text: str) -> str:
    return f'<p class="lp-shot-note">{escape(text)}</p>'


def _segments(records: list[Any]) -> str:
    items = "".join(
        f'<li><a href="{escape(VIDEOS.address(record.video_path))}" target="_blank">'
        f"{escape(record.task_id or '')}</a>"
        f" · {record.duration} s · {escape(record.prompt[:80])}</li>"
        for record in records
        if record.video_path
    )
    return f'<ol class="lp-shot-list">{items}</ol>'


def _exporter(handlers: ShotHandlers, kind: str) -> Any:
    """The handler of one export button (a function of its own: Gradio reads its signature)."""

    async def export(
        ref: str, loop_mode: str, start: float | None, end: float | None, request: gr.Request
    ) -> str:
        return await handlers.export(kind, ref, loop_mode, start, end, request)

    export.__name__ = f"export_{kind}"
    return export


def wire(
    handlers: ShotHandlers, parts: ShotParts, form: Form, *, finished: Dependency, main_cancel: gr.Button
) -> None:
    """Connect the panel: it follows each finished video; Extend, Stop, the exports, the drop zone.

    `main_cancel` (the Generate tab's Cancel) shows while a segment is made, and stops it. Every
    event is private and named `page_...`: the public `extend` and `export` are `_api_shots`'s.
    """
    price = _price_event(handlers, parts)
    followed = finished.then(
        guarded(handlers.take_last),
        [form.prompt],
        [parts.panel, parts.source, parts.prompt, parts.shot, parts.segments],
        api_name="page_shot_follow",
        **QUIET,
    )
    followed.then(**price, **QUIET)
    for setting in (parts.duration, parts.model):
        setting.change(**price, **QUIET)
    extension = parts.extend.click(
        guarded(handlers.extend),
        [parts.source, parts.prompt, parts.duration, parts.model],
        [parts.shot, parts.status, parts.source, parts.segments, parts.cancel, main_cancel],
        api_name="page_extend",
        **QUIET,
    )
    extension.then(**price, **QUIET)
    parts.cancel.click(
        guarded(handlers.cancel),
        [parts.source],
        [parts.status, parts.cancel],
        cancels=[extension],
        api_name="page_shot_cancel",
        **QUIET,
    )
    export_inputs = [parts.source, parts.loop_mode, parts.trim_start, parts.trim_end]
    buttons = {"gif": parts.gif, "webp": parts.webp, "loop": parts.loop, "trim": parts.trim}
    for kind, button in buttons.items():
        button.click(
            guarded(_exporter(handlers, kind)),
            export_inputs,
            [parts.download],
            concurrency_limit=2,
            concurrency_id="export",
            api_name=f"page_export_{kind}",
            **QUIET,
        )
    parts.dropped.upload(
        guarded(handlers.read_settings),
        [parts.dropped],
        [parts.found, parts.reuse],
        api_name="page_read_settings",
        **QUIET,
    )
    parts.reuse.click(
        guarded(handlers.use_settings),
        [parts.dropped],
        [form.prompt, form.size, form.duration, form.image],
        api_name="page_use_settings",
        **QUIET,
    )


def wire_openers(
    handlers: ShotHandlers,
    parts: ShotParts,
    *,
    history_pick: gr.Textbox,
    history_extend: gr.Button,
    shared_shot: gr.State,
    opened: Dependency,
    tabs: gr.Tabs,
) -> None:
    """History's "Extend…" on its picked card, and a link's shot once the page has `opened`, bring
    the panel to that video or shot (then its price); the Extend click is the panel's own.
    """
    outputs = [parts.panel, parts.source, parts.prompt, parts.shot, parts.segments, parts.status, tabs]
    price = _price_event(handlers, parts)
    opener = dict(outputs=outputs, **QUIET)
    picked = history_extend.click(
        guarded(handlers.open_ref), [history_pick], api_name="page_shot_open", **opener
    )
    picked.success(**price, **QUIET)
    linked = opened.then(guarded(handlers.open_link), [shared_shot], api_name="page_shot_link", **opener)
    linked.then(**price, **QUIET)


def _price_event(handlers: ShotHandlers, parts: ShotParts) -> dict[str, Any]:
    """The event that shows the prices of the next segment and of the shot so far."""
    inputs = [parts.source, parts.duration, parts.model]
    return dict(fn=handlers.price, inputs=inputs, outputs=[parts.price], api_name="page_shot_price")
