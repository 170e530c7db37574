"""The public endpoints for batches: `batch_price`, `batch`, `get_batch` and `cancel_batch`.

A batch runs in the playground, not in the call: an interrupted `batch` call (a closed client, a
restarted server) leaves it going, and `get_batch` finds it again by its id. Sending the same rows
again follows the unfinished batch they made instead of starting them twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from pathlib import Path
from typing import Any

import gradio as gr

from .._errors import InvalidRequest, LumaPlaygroundError, TaskNotFound, without_server_paths
from .._features.batch import BatchRun
from .._features.batch_input import BatchInput, batch_price, check_count, rows_from_records, rows_hash
from .._features.batch_store import BatchInfo, BatchRow, RowState, counts
from .._pictures.sources import Picture, picture_from_text
from ..ui._file_routes import ARCHIVES, VIDEOS
from ..ui._generate import ui_error
from ..ui._gradio_compat import app_root, file_data
from ..ui._parts import TICK, guarded
from ..ui._session import Visit
from .tasks import PublicApi, picture_of

__all__ = ["BatchApi"]

Header = gr.Header
_ROWS_HELP = (
    "rows must be a list of objects, each with image and prompt (and optionally size, duration, model)."
)


class BatchApi:
    """The batch endpoints over the public API's sessions, and the playground's batches."""

    def __init__(self, api: PublicApi) -> None:
        self.api = api
        self.playground = api.playground
        self.batches = api.playground.batches

    async def batch_price(
        self,
        rows: list[dict[str, Any]],
        request: gr.Request = None,  # type: ignore[assignment]
        x_wavespeed_key: Header = None,  # type: ignore[assignment]
    ) -> dict[str, Any]:
        """The total price of a batch before anything is spent (see `batch` for the rows).

        Args:
            rows: The batch's rows, as `batch` takes them.

        Returns:
            videos, blocks (5 s of video each), usd_total, usd_per_5s, simulated, and estimated:
            true when the pricing route gave no price and the contract's price stands in
            (problem then says why).
        """
        visit = self.api.store.visit(request, x_wavespeed_key)
        try:
            inputs, _ = await self._rows(rows)
        except LumaPlaygroundError as error:
            raise ui_error(error) from None
        price = await batch_price(self.playground, visit.user_key, inputs)
        return {
            "videos": price.rows,
            "blocks": price.blocks,
            "usd_total": price.total,
            "usd_per_5s": price.unit_price,
            "simulated": price.simulated,
            "estimated": price.estimated,
            "problem": price.problem,
        }

    async def batch(
        self,
        rows: list[dict[str, Any]],
        request: gr.Request = None,  # type: ignore[assignment]
        x_wavespeed_key: Header = None,  # type: ignore[assignment]
    ) -> Any:
        """Make a video for every row, never more at once (or per minute) than the key's tier allows.

        Each row is a normal paid generation (see `batch_price` for the total first). The call
        follows the batch to its end; progress says how many are done. The batch runs in the
        playground, not in the call: if the call is interrupted it goes on, and `get_batch` with
        its id follows it again. Sending the same rows while they are unfinished follows that
        batch instead of starting them twice. `cancel_batch` stops it. Over MCP without a key or a
        login, every caller counts as one visitor on the server's key, and following the batch
        again (`get_batch`) needs your own key.

        Args:
            rows: Up to 500 objects {"image": ..., "prompt": ..., "size": "1280*720" or "720*1280",
                "duration": 5 or 10, "model": "luma/ray-2-i2v" or "luma/ray-2-flash-i2v"}; size,
                duration and model may be left out (Ray 2 Flash drafts cheaply). The image is an http(s)
                URL, a "data:image/png;base64,..." URI, or a file uploaded with POST
                /gradio_api/upload (pass {"path": <returned path>, "meta": {"_type": "gradio.FileData"}}).

        Returns:
            A zip of the batch's MP4s (NNN-<task id>.mp4), and the batch's record (see `get_batch`).
        """
        visit = self.api.store.visit(request, x_wavespeed_key)
        try:
            inputs, source = await self._rows(rows)
        except LumaPlaygroundError as error:
            raise ui_error(error) from None
        run = self._unfinished(visit, source) or self.batches.start(
            inputs, source_hash=source, caller=visit.caller
        )
        await self._follow(run)
        return await self._answer(run.batch_id, request)

    async def get_batch(
        self,
        batch_id: int,
        wait: bool = False,
        request: gr.Request = None,  # type: ignore[assignment]
        x_wavespeed_key: Header = None,  # type: ignore[assignment]
    ) -> Any:
        """One of your batches by its id: each row's state, task id and video; the zip once it has ended.

        A batch paid by your own key that a restart left paused goes on when you call this with
        that key in `X-WaveSpeed-Key`. Over MCP on a shared playground this needs your own key in
        `X-WaveSpeed-Key` (or a sign-in), and answers only for its work: MCP callers cannot be
        told apart otherwise.

        Args:
            batch_id: The id `batch` gave (its record's batch_id, and its progress line).
            wait: Follow the batch until it ends (progress says how many are done).

        Returns:
            The zip of the MP4s made (None before the batch has ended), and the record: batch_id,
            state (running, paused, done or cancelled), videos, done, running, waiting, failed,
            cancelled, eta_seconds, and rows (row, state, task_id, prompt, size, duration, model,
            video_url, error).
        """
        info, run = self._found(batch_id, request, x_wavespeed_key)
        if wait and run is not None:
            await self._follow(run)
        return await self._answer(info.batch_id, request)

    async def cancel_batch(
        self,
        batch_id: int,
        request: gr.Request = None,  # type: ignore[assignment]
        x_wavespeed_key: Header = None,  # type: ignore[assignment]
    ) -> dict[str, Any]:
        """Cancel a batch of yours: rows not started never start; running ones are asked to stop.

        A cancel is a request to WaveSpeed, not a refund: a row WaveSpeed finishes anyway is
        charged, and its video is kept. Over MCP on a shared playground this needs your own key in
        `X-WaveSpeed-Key` (or a sign-in), and answers only for its work: MCP callers cannot be told
        apart otherwise.

        Args:
            batch_id: The batch's id.

        Returns:
            batch_id, notes (what WaveSpeed said for each running row) and the batch's state now.
        """
        info, run = self._found(batch_id, request, x_wavespeed_key)
        notes = [_not_running(info)]
        if run is not None:
            notes = await run.cancel_all()
            await self._follow(run)
        return {"batch_id": info.batch_id, "notes": notes, "state": self._state(info.batch_id)}

    # -- the steps ------------------------------------------------------------------------------

    async def _rows(self, rows: object) -> tuple[list[BatchInput], str]:
        """The rows with their pictures as local files kept for the batch, and their hash."""
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise InvalidRequest(_ROWS_HELP, field="rows")
        check_count(len(rows))
        records = []
        for number, row in enumerate(rows, start=1):
            try:
                picture = await self._picture(row.get("image"))
            except InvalidRequest as error:
                raise InvalidRequest(f"Row {number}: {error.message}", field="image") from None
            records.append({**row, "image": picture})
        inputs = rows_from_records(records)
        return inputs, rows_hash(inputs)

    async def _picture(self, image: object) -> Picture:
        """A row's picture as a file kept for the batch: fetched, decoded, or the caller's upload."""
        sent = picture_of(image)
        folder = self.playground.settings.data_dir / "batches" / "pictures"
        picture = await picture_from_text(sent, folder)
        if picture.source == "upload":
            # Gradio may clear its uploads: a row that waits past a restart needs its picture.
            return Picture.within(await asyncio.to_thread(_keep, picture.path, folder), [folder])
        return picture

    def _unfinished(self, visit: Visit, source: str) -> BatchRun | None:
        """The run of the caller's unfinished batch of these rows, when it can go on here."""
        _, key = self.playground.backend_for(visit.user_key)
        batch_id = self.batches.store.unfinished(source, key.fingerprint if key else "")
        info = self.batches.info(batch_id) if batch_id is not None else None
        if info is None or not self.playground.owns(visit.caller, info):
            return None
        return self._run_for(visit, info)

    def _found(
        self, batch_id: object, request: gr.Request | None, header_key: str | None
    ) -> tuple[BatchInfo, BatchRun | None]:
        """The caller's batch by its id, and its run here (resumed when the caller's key pays for it)."""
        visit = self.api.store.work_visit(request, header_key)
        text = str(batch_id).strip()
        info = self.batches.info(int(text)) if text.isdigit() and not isinstance(batch_id, bool) else None
        if info is None or not self.playground.owns(visit.caller, info):
            raise ui_error(TaskNotFound(f"There is no batch {batch_id} among your batches."))
        return info, self._run_for(visit, info)

    def _run_for(self, visit: Visit, info: BatchInfo) -> BatchRun | None:
        """The batch's run here; a paused batch of the caller's own key goes on first."""
        run = self.batches.run_of(info.batch_id)
        if run is not None and not run.finished:
            return run
        key = visit.user_key
        if info.state == "running" and key is not None and key.fingerprint == info.key_fingerprint:
            self.batches.resume(key)
        run = self.batches.run_of(info.batch_id)
        return run if run is not None and not run.finished else None

    async def _follow(self, run: BatchRun) -> None:
        progress = gr.Progress()
        async for rows in run.updates(tick=TICK):
            found = counts(rows)
            ended = sum(1 for row in rows if row.ended)
            line = (
                f"Batch {run.batch_id}: {found['done']} of {len(rows)} done, "
                f"{found['running'] + found['starting']} running, {found['waiting']} waiting"
            )
            progress((ended, len(rows)), desc=line, unit="videos")

    def _state(self, batch_id: int) -> str:
        info = self.batches.info(batch_id)
        run = self.batches.run_of(batch_id)
        if info is not None and info.state != "running":
            return info.state
        return "running" if run is not None and not run.finished else "paused"

    async def _answer(
        self, batch_id: int, request: gr.Request | None
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        rows = self.batches.store.rows(batch_id)
        run = self.batches.run_of(batch_id)
        root = app_root(request)
        ended = bool(rows) and all(row.ended for row in rows)
        done = any(row.state == RowState.DONE for row in rows)
        archive = await self.batches.archive(rows) if ended and done else None
        found = counts(rows)
        record: dict[str, Any] = {
            "batch_id": batch_id,
            "state": self._state(batch_id),
            "videos": len(rows),
            **{name: found[name] for name in ("done", "waiting", "failed", "cancelled")},
            "running": found["running"] + found["starting"],
            "eta_seconds": run.eta(rows) if run is not None and not ended else None,
            "rows": [_row(row, root) for row in rows],
        }
        return (file_data(archive, ARCHIVES, root) if archive else None), record

    def wire(self) -> None:
        """Declare the four endpoints (inside the Blocks)."""
        for endpoint in (self.batch_price, self.batch, self.get_batch, self.cancel_batch):
            gr.api(guarded(endpoint), api_name=endpoint.__name__, concurrency_limit=None)


def _row(row: BatchRow, root: str | None) -> dict[str, Any]:
    saved = row.state == RowState.DONE and row.video_path and Path(row.video_path).is_file()
    return {
        "row": row.position + 1,
        "state": row.state.value,
        "task_id": row.task_id,
        "prompt": row.prompt,
        "size": row.size,
        "duration": row.duration,
        "model": row.model,
        "video_url": VIDEOS.address(row.video_path or "", root) if saved else None,
        "error": without_server_paths(row.error) if row.error else None,
    }


def _keep(path: Path, folder: Path) -> Path:
    """A copy of an uploaded picture in the batch's own folder (named by its content)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:24]
    kept = folder / f"{digest}{path.suffix.lower()}"
    if not kept.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, kept)
    return kept


def _not_running(info: BatchInfo) -> str:
    """Why there was nothing to cancel."""
    if info.state != "running":
        return f"Nothing to cancel: batch {info.batch_id} has ended ({info.state})."
    return (
        f"Nothing to cancel now: batch {info.batch_id} is paused until the key that pays for it "
        "is given again (in X-WaveSpeed-Key), and nothing of it is running."
    )
