"""Batches: many videos started one after another, no faster than the key's pace allows.

A batch and its rows live in the journal (`_batch_store`). A row waits until one of the
batch's places is free (as many as the key's pace has slots), then goes through the one start
path, `Playground.start`, so that prices, limits and the journal apply to it as to any video.
Waiting rows are not jobs yet: each can be seen and cancelled on its own.

Surviving a crash: a row is marked `starting` before its start and linked to its journal row as
soon as that row exists, which is before its submit is sent. After a restart a linked row is
followed by the journal's resume (never submitted again); a `starting` row without a link is
matched to a journal row with the same inputs made after it started, or, when there is none,
was never submitted and starts again, as does a row whose journal row says its submit was never
sent (it waited for the key's pace when the process stopped). `Batches.resume` goes on with
the batches of the server's key when the server starts, and with a visitor's when their key is
given again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import zipfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._config import ApiKey
from .._errors import LumaPlaygroundError
from .._guard.limits import Caller
from .._journal.file_names import unguessable
from .._journal.journal import NEVER_SENT, TaskRecord, TaskState
from .._run.jobs import Job, cancel_all
from .batch_input import BatchInput, Playground
from .batch_store import BatchInfo, BatchRow, BatchStore, RowState, select
from .bounded_zip import extraction_folders, remove_folders, stale_extractions

__all__ = ["BatchRun", "Batches"]

logger = logging.getLogger("luma_playground")

#: How long the pictures of a zip previewed but not started are kept.
DRAFT_SECONDS = 3600.0
#: The owner of the command line's batches: resumed by running the same command again.
CLI_OWNER = "local"
#: After reading a batch's rows for t seconds, a follower waits READ_SPACING * t before the next
#: read: a tenth of the event loop at most, however large the batch and however busy its rows.
READ_SPACING = 9.0


@dataclass(eq=False)
class BatchRun:
    """One batch being run by this process: starts rows as places free up, follows, cancels.

    `run()` drives the batch to its end (or until cancelled: a shutdown leaves its rows for the
    next run to resume). `cancel(position)` and `cancel_all()` may be called meanwhile.
    """

    playground: Playground
    caller: Caller
    batch_id: int
    concurrency: int | None = None
    jobs: dict[int, Job] = field(default_factory=dict)
    #: Seconds each row took from its start to its video, for the ETA.
    durations: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    _stopped: bool = False
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _places: asyncio.Condition = field(default_factory=asyncio.Condition)
    _active: int = 0
    _finished: bool = False

    def __post_init__(self) -> None:
        self.store = BatchStore(self.playground.journal)
        self.backend, self.key = self.playground.backend_for(self.caller.user_key)

    @property
    def fingerprint(self) -> str:
        return self.key.fingerprint if self.key else ""

    @property
    def limit(self) -> int:
        """How many rows run at once: the key's slots, or fewer when asked (or when the owner pays)."""
        pace = self.backend.runner.pacing.pace(self.fingerprint)
        limit = min(self.concurrency or pace.concurrency, pace.concurrency)
        if self.playground.pays_owner(self.caller.user_key):
            limit = min(limit, self.playground.settings.session_running_limit)
        return max(1, limit)

    @property
    def finished(self) -> bool:
        return self._finished

    def rows(self) -> list[BatchRow]:
        return self.store.rows(self.batch_id)

    def eta(self, rows: Sequence[BatchRow] | None = None) -> float | None:
        """Seconds until the batch ends, from the rows done so far (None before the first)."""
        if not self.durations:
            return None
        rows = self.rows() if rows is None else rows
        left = sum(1 for row in rows if not row.ended)
        mean = sum(self.durations) / len(self.durations)
        return -(-left // self.limit) * mean

    async def run(self) -> list[BatchRow]:
        """Resume what was started before, start the waiting rows in turn; the rows at the end."""
        try:
            return await self._run()
        finally:
            self._finished = True  # also when stopped or broken: followers see the end
            self._notify()

    async def _run(self) -> list[BatchRow]:
        followers = [
            asyncio.ensure_future(self._follow(position, job)) for position, job in await self._recover()
        ]
        try:
            for row in self.rows():
                if row.state != RowState.WAITING:
                    continue
                await self._take_place()
                if self._stopped or self._row_state(row.position) != RowState.WAITING:
                    await self._free_place()
                    continue
                job = await self._start(row)
                if job is None:
                    await self._free_place()
                    continue
                followers.append(asyncio.ensure_future(self._follow(row.position, job)))
            await asyncio.gather(*followers)
        except asyncio.CancelledError:
            for follower in followers:
                follower.cancel()
            await asyncio.gather(*followers, return_exceptions=True)
            raise
        rows = self.rows()
        if all(row.ended for row in rows):
            await self.store.end(self.batch_id, "cancelled" if self._stopped else "done")
            # The pictures extracted from a zip for it are not needed any more.
            folder = self.playground.settings.data_dir / "batches"
            extracted = extraction_folders((row.image for row in rows), folder)
            await asyncio.to_thread(remove_folders, extracted)
        return rows

    async def updates(self, tick: float = 1.0) -> AsyncIterator[list[BatchRow]]:
        """The rows now, then after every change (or every `tick` s), until the batch ends.

        Reading the rows takes the event loop for a time that grows with the batch: after a
        change, the next read waits `READ_SPACING` times as long as the last one took, so that
        a 500-row batch whose rows change all the time leaves the loop to the other visitors.
        """
        while True:
            self._changed.clear()
            began = time.monotonic()
            rows = self.rows()
            spent = time.monotonic() - began
            yield rows
            if self._finished:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(tick):  # not `wait_for`, which may swallow a cancel
                    await self._changed.wait()
            if not self._finished:
                await asyncio.sleep(min(spent * READ_SPACING, tick))

    async def cancel(self, position: int) -> str:
        """Cancel one row: a waiting one never starts; a running one's task is cancelled."""
        job = self.jobs.get(position)
        if job is not None:
            return await job.cancel()
        if self._row_state(position) == RowState.WAITING:
            await self.store.mark(
                self.batch_id, position, RowState.CANCELLED, error="Cancelled before it started."
            )
            self._notify()
            return "Cancelled before it started: nothing was charged."
        return "Nothing to cancel: the row has already ended."

    async def cancel_all(self) -> list[str]:
        """Cancel every row not ended yet: the waiting ones first, then the running ones."""
        self._stopped = True
        for row in self.rows():
            if row.state == RowState.WAITING:
                await self.store.mark(self.batch_id, row.position, RowState.CANCELLED, error="Cancelled.")
        self._notify()
        async with self._places:
            self._places.notify_all()
        return await cancel_all(list(self.jobs.values()))

    # -- the steps ------------------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()

    def _row_state(self, position: int) -> RowState | None:
        found = select(
            self.playground.journal,
            "SELECT state FROM batch_rows WHERE batch_id = ? AND position = ?",
            (self.batch_id, position),
        )
        return RowState(found[0][0]) if found else None

    async def _take_place(self) -> None:
        async with self._places:
            await self._places.wait_for(lambda: self._stopped or self._active < self.limit)
            self._active += 1

    async def _free_place(self) -> None:
        async with self._places:
            self._active -= 1
            self._places.notify_all()

    async def _start(self, row: BatchRow) -> Job | None:
        await self.store.mark(self.batch_id, row.position, RowState.STARTING, started_at=time.time())
        self._notify()
        try:
            [job] = await self.playground.start(row.input.request(), self.caller)
        except LumaPlaygroundError as error:
            await self.store.mark(self.batch_id, row.position, RowState.FAILED, error=error.message)
            self._notify()
            return None
        return job

    async def _follow(self, position: int, job: Job) -> None:
        """Link the row to its journal row as soon as it exists; record how it ended."""
        self.jobs[position] = job
        began = time.monotonic()
        linked = False
        try:
            async for _ in job.events(tick=1.0):
                if not linked and job.row_id is not None:
                    linked = True
                    await self.store.mark(self.batch_id, position, RowState.RUNNING, task_row_id=job.row_id)
                    self._notify()
            with contextlib.suppress(LumaPlaygroundError, asyncio.CancelledError):
                await job.wait()
            await self._ended(position, job, time.monotonic() - began)
        finally:
            self.jobs.pop(position, None)
            await asyncio.shield(self._free_place())

    async def _ended(self, position: int, job: Job, elapsed: float) -> None:
        fields: dict[str, Any] = {} if job.row_id is None else {"task_row_id": job.row_id}
        if job.done is not None:
            self.durations.append(elapsed)
            await self.store.mark(self.batch_id, position, RowState.DONE, **fields)
        elif job.error is not None:
            await self.store.mark(self.batch_id, position, RowState.FAILED, error=job.error.message, **fields)
        elif job.cancel_note is not None:
            await self.store.mark(
                self.batch_id, position, RowState.CANCELLED, error=job.cancel_note, **fields
            )
        # Otherwise a shutdown stopped it: the row stays running, its task pending for the next run.
        self._notify()

    async def _recover(self) -> list[tuple[int, Job]]:
        """The jobs that follow rows started before (by a process that has ended, or this one)."""
        jobs = []
        for row in self.rows():
            if row.state not in (RowState.STARTING, RowState.RUNNING):
                continue
            link = row.task_row_id or self.store.match(row, self.fingerprint)
            record = self.playground.journal.get(link) if link is not None else None
            if record is None or record.unsent:  # never reached the journal, or never sent: start again
                if record is not None and record.pending:
                    await self.playground.journal.aupdate(
                        record.row_id, TaskState.LOST, detail="never sent", error=NEVER_SENT
                    )
                await self.store.mark(self.batch_id, row.position, RowState.WAITING, task_row_id=None)
                continue
            if record.pending:
                job = self._resume(record)
                if job is not None:
                    await self.store.mark(
                        self.batch_id, row.position, RowState.RUNNING, task_row_id=record.row_id
                    )
                    self._active += 1
                    jobs.append((row.position, job))
                    continue
            await self._settle(row, record)
        return jobs

    def _resume(self, record: TaskRecord) -> Job | None:
        """The job following a pending row here (the one already following it, if any)."""
        if self.playground.backend_of(record) is not self.backend:
            return None
        return self.backend.runner.resume(record, api_key=self.key)

    async def _settle(self, row: BatchRow, record: TaskRecord) -> None:
        """Record the end of a row whose task ended (or cannot be followed here) while nobody ran it."""
        if record.state == TaskState.COMPLETED and record.video_path:
            state, error = RowState.DONE, None
        elif record.state == TaskState.CANCELLED:
            state, error = RowState.CANCELLED, record.error
        elif record.pending:
            state, error = RowState.FAILED, "The task ran elsewhere and cannot be followed here."
        else:
            state, error = RowState.FAILED, record.error or f"The task ended as {record.state}."
        await self.store.mark(self.batch_id, row.position, state, task_row_id=record.row_id, error=error)


class Batches:
    """The batches of one playground: started and run in the background, zipped, resumed.

    A run outlives whoever started it (a tab, an API call): the page and the API follow it by
    its batch id. `resume` picks up the batches a stopped process left unfinished.
    """

    def __init__(self, playground: Playground) -> None:
        self.playground = playground
        self.store = BatchStore(playground.journal)
        self.runs: dict[int, BatchRun] = {}
        self._tasks: set[asyncio.Future[list[BatchRow]]] = set()
        #: Per batch, the videos its zip holds and the build of that zip.
        self._archives: dict[int, tuple[tuple[tuple[str, str], ...], asyncio.Future[Path]]] = {}

    def start(
        self, rows: Sequence[BatchInput], *, source_hash: str, caller: Caller, concurrency: int | None = None
    ) -> BatchRun:
        """Record a new batch of `rows` for the caller's key, and run it in the background."""
        backend, _ = self.playground.backend_for(caller.user_key)
        batch_id = self.store.create(rows, source_hash=source_hash, caller=caller, backend=backend)
        return self._launch(BatchRun(self.playground, caller, batch_id, concurrency=concurrency))

    def info(self, batch_id: int) -> BatchInfo | None:
        return self.store.info(batch_id)

    def run_of(self, batch_id: int) -> BatchRun | None:
        """The batch's run in this process, if it has one (running or ended)."""
        return self.runs.get(batch_id)

    def resume(self, user_key: ApiKey | None = None) -> list[BatchRun]:
        """Go on, in the background, with every unfinished batch of this key (the server's when None).

        Call it on the loop that serves the faces, after `Playground.resume_pending` for the same
        key. A batch running here already is skipped; the command line's are left to that command.
        """
        backend, key = self.playground.backend_for(user_key)
        if key is None:
            return []
        runs = []
        for info in self.store.running(key.fingerprint, backend.name):
            current = self.runs.get(info.batch_id)
            if info.owner == CLI_OWNER or (current is not None and not current.finished):
                continue
            if info.base_url != backend.client.base_url:
                if not backend.simulated:
                    continue  # made on another API address: not this process's to run
                # The offline simulator of an earlier process has gone with its tasks (which
                # end lost); the rows not sent yet go on with this one's.
                self.store.move(info.batch_id, backend.client.base_url)
            runs.append(self._launch(BatchRun(self.playground, Caller(info.owner, user_key), info.batch_id)))
        if runs:
            logger.info("resuming %d unfinished batch(es)", len(runs))
        return runs

    async def archive(self, rows: Sequence[BatchRow]) -> Path:
        """A zip of the batch's videos (NNN-<task id>.mp4) in the outputs folder, which is served.

        Built once, off the event loop, and reused while the batch's videos are the same: callers
        asking at once share one build, and a zip left by an earlier process is kept when it holds
        the same videos.
        """
        batch_id = rows[0].batch_id
        entries = tuple(
            (row.video_path, f"{row.position + 1:03d}-{row.task_id}.mp4")
            for row in rows
            if row.state == RowState.DONE and row.video_path and Path(row.video_path).is_file()
        )
        built = self._archives.get(batch_id)
        if built is None or built[0] != entries or _gone(built[1]):
            settings = self.playground.settings
            name = unguessable(settings.data_dir, f"batch-{batch_id}")
            target = settings.outputs_dir / "batches" / f"{name}.zip"
            built = (entries, asyncio.ensure_future(asyncio.to_thread(_write_archive, target, entries)))
            self._archives[batch_id] = built
        try:
            return await asyncio.shield(built[1])
        except Exception:
            if self._archives.get(batch_id) is built:
                del self._archives[batch_id]  # the next call builds it again
            raise

    @property
    def extractions(self) -> Path:
        """Where the pictures of previewed zips are extracted (`bounded_zip`)."""
        return self.playground.settings.data_dir / "batches"

    def drop_draft(self, rows: Sequence[BatchInput]) -> None:
        """Remove the extracted pictures of a preview that will not run (never those a batch uses)."""
        remove_folders(extraction_folders((row.image for row in rows), self.extractions) - self._in_use())

    def sweep_extractions(self) -> None:
        """Remove the extractions no unfinished batch uses, left for an hour (a preview never started)."""
        remove_folders(stale_extractions(self.extractions, self._in_use(), older_than=DRAFT_SECONDS))

    def _in_use(self) -> set[Path]:
        images = select(
            self.playground.journal,
            "SELECT DISTINCT r.image FROM batch_rows r JOIN batches b ON b.batch_id = r.batch_id "
            "WHERE b.state = 'running'",
        )
        return extraction_folders((image for (image,) in images), self.extractions)

    async def aclose(self) -> None:
        """Stop running the batches of this loop; their rows stay for the next `resume`."""
        loop = asyncio.get_running_loop()
        tasks = [task for task in self._tasks if not task.done() and task.get_loop() is loop]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _launch(self, run: BatchRun) -> BatchRun:
        self.runs[run.batch_id] = run
        task = asyncio.ensure_future(run.run())
        self._tasks.add(task)
        task.add_done_callback(self._ended)
        return run

    def _ended(self, task: asyncio.Future[list[BatchRow]]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "a batch stopped on an error; it resumes at the next start", exc_info=task.exception()
            )


def _gone(build: asyncio.Future[Path]) -> bool:
    """Whether a finished build's zip has been removed since (by hand, or a clean-up)."""
    return (
        build.done() and not build.cancelled() and build.exception() is None and not build.result().is_file()
    )


def _write_archive(target: Path, entries: tuple[tuple[str, str], ...]) -> Path:
    """Write the zip of these (video, name in the zip) entries, unless `target` holds them already."""
    names = [name for _, name in entries]
    if target.is_file():
        try:
            with zipfile.ZipFile(target) as existing:
                if existing.namelist() == names:
                    return target
        except zipfile.BadZipFile:
            pass
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and moved in place: a reader never sees half a zip.
    partial = target.with_name(f"{target.name}.{secrets.token_hex(4)}.part")
    try:
        with zipfile.ZipFile(partial, "w") as bundle:
            for video, name in entries:
                bundle.write(video, name)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target
