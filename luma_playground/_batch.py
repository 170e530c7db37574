"""Batches: many videos started one after another, no faster than the key's pace allows.

A batch and its rows live in the journal (`batches`, `batch_rows`). A row waits until one of the
batch's places is free (as many as the key's pace has slots), then goes through the one start
path, `Playground.start`, so that prices, limits and the journal apply to it as to any video.
Waiting rows are not jobs yet: each can be seen and cancelled on its own.

Surviving a crash: a row is marked `starting` before its start and linked to its journal row as
soon as that row exists, which is before its submit is sent. After a restart a linked row is
followed by the journal's resume (never submitted again); a `starting` row without a link is
matched to a journal row with the same inputs made after it started, or, when there is none,
was never submitted and starts again.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ._batch_input import BatchInput
from ._errors import LumaPlaygroundError
from ._jobs import Job, cancel_all
from ._journal import Journal, TaskRecord, TaskState
from ._limits import Caller
from ._service import Backend, Playground

__all__ = ["BatchRow", "BatchRun", "BatchStore", "RowState", "counts", "select"]

_T = TypeVar("_T")


class RowState(enum.StrEnum):
    """Where a batch row is: waiting for a place, started, or ended."""

    WAITING = "waiting"
    #: Being started: its journal row may exist already (matched after a crash).
    STARTING = "starting"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: The states a row ends in.
ENDED = (RowState.DONE, RowState.FAILED, RowState.CANCELLED)


@dataclass(frozen=True, slots=True)
class BatchRow:
    """One row of a batch as stored, with its task's id, state and video once it has one."""

    batch_id: int
    position: int
    image: str
    prompt: str
    size: str
    duration: int
    state: RowState
    task_row_id: int | None = None
    error: str | None = None
    started_at: float | None = None
    task_id: str | None = None
    task_state: str | None = None
    video_path: str | None = None

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    @property
    def input(self) -> BatchInput:
        return BatchInput(self.image, self.prompt, self.size, self.duration)


def counts(rows: Sequence[BatchRow]) -> dict[str, int]:
    """How many rows are in each state (every state named, zero or not)."""
    found = {state.value: 0 for state in RowState}
    for row in rows:
        found[row.state.value] += 1
    return found


def select(journal: Journal, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The rows of one read-only query on the journal."""
    return journal.query(lambda db: db.execute(sql, params).fetchall())


def _written(result: _T | None) -> _T:
    assert result is not None  # a write waited for returns its result
    return result


_ROW_SELECT = (
    "SELECT r.batch_id, r.position, r.image, r.prompt, r.size, r.duration, r.state, r.task_row_id, "
    "r.error, r.started_at, t.task_id, t.state, t.video_path FROM batch_rows r "
    "LEFT JOIN tasks t ON t.row_id = r.task_row_id"
)


class BatchStore:
    """The batches in the journal: made, read and changed through the journal's writer."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def create(
        self, rows: Sequence[BatchInput], *, source_hash: str, caller: Caller, backend: Backend
    ) -> int:
        """Record a new batch with its rows, all waiting; its id."""
        key = caller.user_key or backend.default_key
        now = time.time()

        def insert(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "INSERT INTO batches (source_hash, owner, key_fingerprint, backend, base_url, state, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
                (
                    source_hash,
                    caller.owner,
                    key.fingerprint if key else "",
                    backend.name,
                    backend.client.base_url,
                    now,
                    now,
                ),
            )
            batch_id = int(cursor.lastrowid or 0)
            db.executemany(
                "INSERT INTO batch_rows (batch_id, position, image, prompt, size, duration, state, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, 'waiting', ?)",
                [(batch_id, n, r.image, r.prompt, r.size, r.duration, now) for n, r in enumerate(rows)],
            )
            return batch_id

        return _written(self.journal.transact(insert))

    def rows(self, batch_id: int) -> list[BatchRow]:
        found = select(self.journal, f"{_ROW_SELECT} WHERE r.batch_id = ? ORDER BY r.position", (batch_id,))
        return [_batch_row(row) for row in found]

    def unfinished(self, source_hash: str, key_fingerprint: str) -> int | None:
        """The newest batch of this source and key that has not ended, if any."""
        found = select(
            self.journal,
            "SELECT batch_id FROM batches WHERE source_hash = ? AND key_fingerprint = ? "
            "AND state = 'running' ORDER BY batch_id DESC LIMIT 1",
            (source_hash, key_fingerprint),
        )
        return int(found[0][0]) if found else None

    def batches(self, owner: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """The newest batches (of `owner` when given) as plain dicts."""
        where, params = ("WHERE owner = ?", (owner,)) if owner is not None else ("", ())
        found = select(
            self.journal,
            f"SELECT batch_id, owner, state, created_at FROM batches {where} ORDER BY batch_id DESC LIMIT ?",
            (*params, limit),
        )
        return [dict(zip(("batch_id", "owner", "state", "created_at"), row, strict=True)) for row in found]

    async def mark(self, batch_id: int, position: int, state: RowState, **fields: Any) -> None:
        """Change one row's state (and `task_row_id`, `error`, `started_at` when given)."""
        values = {"state": state.value, "updated_at": time.time(), **fields}
        assignments = ", ".join(f"{name} = ?" for name in values)

        def change(db: sqlite3.Connection) -> None:
            db.execute(
                f"UPDATE batch_rows SET {assignments} WHERE batch_id = ? AND position = ?",
                (*values.values(), batch_id, position),
            )

        await self.journal.atransact(change)

    async def end(self, batch_id: int, state: str) -> None:
        def change(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE batches SET state = ?, updated_at = ? WHERE batch_id = ?",
                (state, time.time(), batch_id),
            )

        await self.journal.atransact(change)

    def match(self, row: BatchRow, key_fingerprint: str) -> int | None:
        """The journal row a `starting` row made before a crash: same inputs, made since, not linked."""
        found = select(
            self.journal,
            "SELECT row_id FROM tasks WHERE image = ? AND prompt = ? AND size = ? AND duration = ? "
            "AND key_fingerprint = ? AND created_at >= ? "
            "AND row_id NOT IN (SELECT task_row_id FROM batch_rows WHERE task_row_id IS NOT NULL) "
            "ORDER BY row_id LIMIT 1",
            (row.image, row.prompt, row.size, row.duration, key_fingerprint, (row.started_at or 0) - 1.0),
        )
        return int(found[0][0]) if found else None


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
        self._finished = True
        self._notify()
        return self.rows()

    async def updates(self, tick: float = 1.0) -> AsyncIterator[list[BatchRow]]:
        """The rows now, then after every change (or every `tick` s), until the batch ends."""
        while True:
            self._changed.clear()
            yield self.rows()
            if self._finished:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), tick)

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
        followed = {job.row_id: job for job in self.backend.runner.jobs.values() if not job.finished}
        jobs = []
        for row in self.rows():
            if row.state not in (RowState.STARTING, RowState.RUNNING):
                continue
            link = row.task_row_id or self.store.match(row, self.fingerprint)
            record = self.playground.journal.get(link) if link is not None else None
            if record is None:  # never reached the journal: never submitted
                await self.store.mark(self.batch_id, row.position, RowState.WAITING)
                continue
            if record.pending:
                job = followed.get(record.row_id) or self._resume(record)
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


def _batch_row(row: tuple[Any, ...]) -> BatchRow:
    batch_id, position, image, prompt, size, duration, state, *rest = row
    task_row_id, error, started_at, task_id, task_state, video_path = rest
    return BatchRow(
        batch_id,
        position,
        image,
        prompt,
        size,
        duration,
        RowState(state),
        task_row_id,
        error,
        started_at,
        task_id,
        task_state,
        video_path,
    )
