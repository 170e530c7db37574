"""The Batch tab: many pictures with one prompt (or a CSV), previewed and priced, then run in turn.

The rows start no faster than the key's slots free up (`BatchRun`), keep running when the tab
closes, and show again on the next visit. A restarted server goes on with the batches of its own
key as it starts (`Playground.resume_at_startup`); a batch of a visitor's key waits until that
key is entered again. Every event here is private.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import gradio as gr

from .._config import MODELS, ApiKey
from .._errors import InvalidRequest, LumaPlaygroundError
from .._features.batch import BatchRun
from .._features.batch_input import (
    CSV_HEADER,
    BatchInput,
    SentFiles,
    batch_price,
    content_hash,
    read_csv,
    rows_from_pictures,
    rows_from_zip,
    sent_name,
)
from .._features.batch_store import BatchRow, RowState, counts
from .._playground import Playground
from .._request import DURATION, MODEL, SIZE, Size
from ._components import field_radio
from ._format import status_card
from ._gradio_compat import shown_file, uploaded_picture
from ._parts import QUIET, page_error, session_hash
from ._session import SessionStore

__all__ = ["BatchHandlers", "BatchParts", "place", "wire"]

HEADERS = ["#", "state", "", "picture", "prompt", "size", "s", "model", "note"]
#: The words of a running row's cell that cancels it, and that cell's column.
CANCEL = "✕ Cancel"
CANCEL_COLUMN = HEADERS.index("")
#: The most previews kept waiting for their Confirm, all tabs together.
MAX_DRAFTS = 64
#: The prompt of the rows a CSV's pictures would make alone (the CSV's own rows replace them).
_SENT_WITH_CSV = "a picture sent with a CSV"
IDLE = status_card(
    "idle",
    "No batch yet",
    "Add pictures (or a zip of them) and a prompt, or a CSV with a row per video, then press Preview: "
    "every row and the total price show before anything starts.",
)


@dataclass(frozen=True)
class BatchParts:
    """The Batch tab's components."""

    pictures: gr.File
    prompt: gr.Textbox
    size: gr.Radio
    duration: gr.Radio
    #: The model of every row (a CSV's `model` column overrides it row by row).
    model: gr.Radio
    rows_csv: gr.File
    preview: gr.Button
    price: gr.HTML
    confirm: gr.Button
    status: gr.HTML
    #: The rows, the results and Cancel all: hidden until there is a batch or a preview.
    rows: gr.Column
    table: gr.Dataframe
    cancel_all: gr.Button
    gallery: gr.Gallery
    download: gr.DownloadButton

    @property
    def view(self) -> list[Any]:
        """What a batch's progress updates, in `BatchHandlers.view`'s order."""
        return [self.status, self.table, self.gallery, self.download, self.rows, self.cancel_all]


def place() -> BatchParts:
    """The Batch tab: the inputs and the preview on the left, the progress and results on the right."""
    with gr.Tab("Batch", id="batch", elem_id="lp-batch-tab"), gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=320):
            pictures = gr.File(
                label="Pictures (or a zip of them)",
                file_count="multiple",
                file_types=["image", ".zip"],
                elem_id="lp-batch-pictures",
            )
            prompt = gr.Textbox(label="Prompt for every picture", lines=2, elem_id="lp-batch-prompt")
            with gr.Row():
                size = field_radio(SIZE, short=True, elem_id="lp-batch-size")
                duration = field_radio(DURATION, short=True, elem_id="lp-batch-duration")
            model = field_radio(MODEL, elem_id="lp-batch-model", info="A CSV's model column overrides it.")
            rows_csv = gr.File(label=f"Or a CSV: {CSV_HEADER}", file_types=[".csv"], elem_id="lp-batch-csv")
            preview = gr.Button("Preview", elem_id="lp-batch-preview")
            price = gr.HTML("", elem_id="lp-batch-price")
            confirm = gr.Button(
                "Confirm and start", variant="primary", visible=False, elem_id="lp-batch-confirm"
            )
        with gr.Column(scale=6, min_width=340):
            status = gr.HTML(IDLE, elem_id="lp-batch-status")
            with gr.Column(visible=False, elem_id="lp-batch-rows") as rows:
                table = gr.Dataframe(
                    headers=HEADERS,
                    label=f"Rows: “{CANCEL}” on a row stops it",
                    interactive=False,
                    wrap=True,
                    elem_id="lp-batch-table",
                )
                cancel_all = gr.Button(
                    "Cancel all", variant="stop", visible=False, elem_id="lp-batch-cancel-all"
                )
                gallery = gr.Gallery(label="Results", columns=3, height=360, elem_id="lp-batch-gallery")
            download = gr.DownloadButton("Download all", visible=False, elem_id="lp-batch-download")
    return BatchParts(
        pictures,
        prompt,
        size,
        duration,
        model,
        rows_csv,
        preview,
        price,
        confirm,
        status,
        rows,
        table,
        cancel_all,
        gallery,
        download,
    )


def _table(rows: Sequence[BatchRow | BatchInput], *, live: bool = False) -> list[list[Any]]:
    """The table's rows; while the batch runs here (`live`), a row not yet ended has its Cancel."""
    return [
        [
            number,
            row.state.value if isinstance(row, BatchRow) else "to start",
            CANCEL if live and isinstance(row, BatchRow) and not row.ended else "",
            Path(row.image).name[:40],
            row.prompt[:80],
            row.size,
            row.duration,
            MODELS[row.model].label if row.model in MODELS else row.model,
            (row.error or row.task_id or "") if isinstance(row, BatchRow) else "",
        ]
        for number, row in enumerate(rows, start=1)
    ]


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f" · about {seconds / 60:.0f} min left" if seconds >= 90 else f" · about {seconds:.0f} s left"


def status_html(rows: Sequence[BatchRow], run: BatchRun | None) -> str:
    """The batch's card: counts of done, running and waiting rows, and the ETA (or why it waits)."""
    found = counts(rows)
    running = found["running"] + found["starting"]
    others = "".join(f" · {found[name]} {name}" for name in ("failed", "cancelled") if found[name])
    detail = f"{found['done']} done · {running} running · {found['waiting']} waiting{others}"
    ended = all(row.ended for row in rows)
    if not ended and (run is None or run.finished):
        waits = " · it goes on when the key that started it is entered again"
        return status_card("idle", f"Batch paused: {found['done']} of {len(rows)} done", detail + waits)
    if not ended:
        assert run is not None
        return status_card(
            "running", f"Batch: {found['done']} of {len(rows)} done", detail + _eta(run.eta(rows))
        )
    if found["done"] == len(rows):
        return status_card("done", f"Batch done: {len(rows)} videos", detail)
    tone = "cancelled" if found["cancelled"] else "error"
    return status_card(tone, f"Batch ended: {found['done']} of {len(rows)} videos", detail)


#: An update of `BatchParts.view` that leaves every part of it as it is.
_UNCHANGED: tuple[Any, ...] = (gr.skip(),) * 6


class BatchHandlers:
    """The Batch tab's handlers: preview, confirm and follow, cancel, download; runs outlive tabs."""

    def __init__(self, playground: Playground, store: SessionStore, *, tick: float = 1.0) -> None:
        self.playground = playground
        self.store = store
        self.batches = playground.batches
        self.tick = tick
        self._drafts: dict[str, tuple[list[BatchInput], str]] = {}
        self._latest: dict[str, int] = {}

    # -- before the start ---------------------------------------------------------------------

    async def preview(
        self,
        pictures: list[str] | None,
        rows_csv: str | None,
        prompt: str | None,
        size: str | None,
        duration: int | None,
        request: gr.Request,
        model: str | None = None,
    ) -> tuple[list[list[Any]], str, Any]:
        """The rows that would run, their total price, and the Confirm button.

        Every row is made in `model` (Ray 2 when none is given), but where a CSV's `model` says otherwise.
        """
        visit = self.store.visit(request)
        await self._drop_draft(visit.session_hash)
        try:
            # Reading a CSV or a zip is bounded, but seconds of work: never on the event loop.
            rows, source = await asyncio.to_thread(
                self._rows, pictures, rows_csv, prompt or "", size, duration, model
            )
        except LumaPlaygroundError as error:
            raise page_error(error.message, title="Cannot make this batch") from None
        try:
            price = await batch_price(self.playground, visit.user_key, rows)
        except BaseException:
            await asyncio.to_thread(self.batches.drop_draft, rows)
            raise
        self._drafts[visit.session_hash] = (rows, source)
        while len(self._drafts) > MAX_DRAFTS:  # the oldest previews of tabs that went away
            await self._drop_draft(next(iter(self._drafts)))
        line = (
            f'<div class="lp-batch-price" data-total="{price.total}" '
            f'data-estimated="{str(price.estimated).lower()}">{escape(price.describe())}</div>'
        )
        return _table(rows), line, gr.update(visible=True)

    async def _drop_draft(self, session: str) -> None:
        rows, _ = self._drafts.pop(session, ([], ""))
        if rows:
            await asyncio.to_thread(self.batches.drop_draft, rows)

    def _rows(
        self,
        pictures: list[str] | None,
        rows_csv: str | None,
        prompt: str,
        size: Any,
        duration: Any,
        model: Any = None,
    ) -> tuple[list[BatchInput], str]:
        """The rows from what this visitor sent: their pictures and zips, or a CSV naming them."""
        self.batches.sweep_extractions()
        if rows_csv:
            # The pictures sent with a CSV are what its cells may name; the CSV gives the prompts.
            rows, sent = self._sent(pictures, _SENT_WITH_CSV, Size.LANDSCAPE.value, 5)
            try:
                return read_csv(uploaded_picture(rows_csv).path, sent, {"model": model})
            except BaseException:
                self.batches.drop_draft(rows)  # the zips extracted for it
                raise
        rows, _ = self._sent(pictures, prompt, size, duration, model)
        if not rows:
            rows = rows_from_pictures([], prompt, size=size, duration=duration)  # says that it is empty
        return rows, content_hash("\n".join(f"{r.image}\t{r.prompt}" for r in rows).encode())

    def _sent(
        self, pictures: list[str] | None, prompt: str, size: Any, duration: Any, model: Any = None
    ) -> tuple[list[BatchInput], SentFiles]:
        """A row per picture this visitor uploaded (each picture of a zip too), and those pictures by name."""
        folder = self.playground.settings.data_dir / "batches"
        sent = SentFiles()
        rows = []
        options = {"size": size, "duration": duration, "model": model}
        try:
            for name in pictures or []:
                upload = uploaded_picture(name)
                if upload.path.suffix.lower() == ".zip":
                    zipped = rows_from_zip(upload.path, prompt, folder, **options)
                    for row in zipped:
                        assert row.picture is not None
                        sent.add(sent_name(row.picture.path), row.picture)
                    rows.extend(zipped)
                else:
                    sent.add(upload.path.name, upload)
                    rows.extend(rows_from_pictures([upload], prompt, **options))
        except BaseException:
            self.batches.drop_draft(rows)  # the zips extracted before this file
            raise
        return rows, sent

    # -- running ------------------------------------------------------------------------------

    async def confirm(self, request: gr.Request) -> AsyncIterator[tuple[Any, ...]]:
        """Start the previewed batch in the background, and follow it on the page."""
        visit = self.store.visit(request)
        draft = self._drafts.pop(visit.session_hash, None)
        if draft is None:
            raise page_error("Press Preview first: nothing is waiting to start.")
        rows, source = draft
        run = self.batches.start(rows, source_hash=source, caller=visit.caller)
        self._latest[visit.session_hash] = run.batch_id
        async for update in self._follow(run):
            yield update

    async def _follow(self, run: BatchRun) -> AsyncIterator[tuple[Any, ...]]:
        async for rows in run.updates(tick=self.tick):
            yield await self.view(rows, run)
        yield await self.view(run.rows(), run)

    async def view(self, rows: Sequence[BatchRow], run: BatchRun | None) -> tuple[Any, ...]:
        """The status card, the table, the gallery, "Download all", the rows' panel and Cancel all."""
        settings = self.playground.settings
        videos = [(row.video_path, f"#{row.position + 1}") for row in rows if row.state == RowState.DONE]
        videos = [
            (shown_file(path, settings), label) for path, label in videos if path and Path(path).is_file()
        ]
        ended = bool(rows) and all(row.ended for row in rows)
        archive = await self.batches.archive(rows) if ended and videos else None
        download = gr.update(
            value=shown_file(archive, settings) if archive else None, visible=archive is not None
        )
        live = run is not None and not run.finished and not ended
        return (
            status_html(rows, run),
            _table(rows, live=live),
            videos,
            download,
            gr.update(visible=bool(rows)),
            gr.update(visible=live),
        )

    def _run_of(self, request: gr.Request) -> BatchRun | None:
        batch_id = self._latest.get(session_hash(request))
        return None if batch_id is None else self.batches.run_of(batch_id)

    async def cancel_row(self, picked: gr.SelectData, request: gr.Request) -> None:
        """A click on a row's Cancel cancels that row of this tab's batch; other cells do nothing."""
        row, column = picked.index if isinstance(picked.index, list | tuple) else (None, None)
        if column != CANCEL_COLUMN or picked.value != CANCEL or row is None:
            return
        run = self._run_of(request)
        if run is None or run.finished:
            raise page_error("This batch is no longer running here.")
        number = (picked.row_value or [row + 1])[0]
        gr.Info(await run.cancel(int(number) - 1))

    async def cancel_all(self, request: gr.Request) -> None:
        """Cancel every row of this tab's batch that has not ended."""
        run = self._run_of(request)
        if run is not None:
            await run.cancel_all()
            gr.Info("Batch cancelled: rows not yet started will not start.")

    # -- on a visit ---------------------------------------------------------------------------

    async def on_load(self, request: gr.Request) -> AsyncIterator[tuple[Any, ...]]:
        """Show this visitor's newest batch again: followed while it runs here, else as it stands."""
        visit = self.store.visit(request)
        owner = visit.owner if self.playground.settings.shared else None
        newest = self.batches.store.newest(owner)
        if newest is None:
            yield _UNCHANGED  # the empty state stays: a stream that yields nothing would blank it
            return
        async for update in self._show(visit.session_hash, newest.batch_id):
            yield update

    async def resume_for_key(self, key: str | None, request: gr.Request) -> AsyncIterator[tuple[Any, ...]]:
        """A key was entered: go on with the unfinished batches it pays for, and show the first."""
        api_key = None
        with contextlib.suppress(ValueError, InvalidRequest):  # a refused key: the badge says why
            api_key = ApiKey.parse(key)
        runs = self.batches.resume(api_key) if api_key is not None else []
        if not runs:
            yield _UNCHANGED
            return
        gr.Info(f"Going on with {len(runs)} unfinished batch{'es' if len(runs) != 1 else ''} of your key.")
        async for update in self._show(session_hash(request), runs[0].batch_id):
            yield update

    async def _show(self, session: str, batch_id: int) -> AsyncIterator[tuple[Any, ...]]:
        self._latest[session] = batch_id
        run = self.batches.run_of(batch_id)
        if run is None or run.finished:
            yield await self.view(self.batches.store.rows(batch_id), run)
            return
        async for update in self._follow(run):
            yield update


def _previewed() -> tuple[Any, Any, Any]:
    """A preview's rows show with what to do next; nothing runs yet, so nothing to cancel."""
    card = status_card("idle", "Preview", "Check the rows and the price, then press Confirm and start.")
    return card, gr.update(visible=True), gr.update(visible=False)


def wire(demo: gr.Blocks, handlers: BatchHandlers, parts: BatchParts, key: gr.Textbox) -> None:
    """Connect the Batch tab (every event private); a batch of the key typed into `key` goes on."""
    inputs = [parts.pictures, parts.rows_csv, parts.prompt, parts.size, parts.duration, parts.model]
    previewed = parts.preview.click(
        handlers.preview, [*inputs], [parts.table, parts.price, parts.confirm], **QUIET
    )
    previewed.success(_previewed, None, [parts.status, parts.rows, parts.cancel_all], queue=False, **QUIET)
    started = parts.confirm.click(lambda: gr.update(visible=False), None, [parts.confirm], **QUIET)
    started.then(handlers.confirm, None, parts.view, concurrency_limit=None, **QUIET)
    parts.table.select(handlers.cancel_row, None, None, concurrency_limit=None, **QUIET)
    parts.cancel_all.click(handlers.cancel_all, None, None, concurrency_limit=None, **QUIET)
    demo.load(handlers.on_load, None, parts.view, concurrency_limit=None, **QUIET)
    key.change(
        handlers.resume_for_key,
        [key],
        parts.view,
        trigger_mode="always_last",
        concurrency_limit=None,
        **QUIET,
    )
