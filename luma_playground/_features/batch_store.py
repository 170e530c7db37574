"""Batches in the journal: the `batches` and `batch_rows` tables, read and changed through its writer.

A row's state says where it is (`RowState`); its task's id, state and video come from the
journal's `tasks` row it is linked to, once it has one.
"""

from __future__ import annotations

import enum
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .._config import MODEL_ID
from .._guard.limits import Caller
from .._journal.journal import Journal
from .batch_input import BatchInput

__all__ = ["ENDED", "BatchInfo", "BatchRow", "BatchStore", "RowState", "counts", "select"]

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
    model: str = MODEL_ID

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    @property
    def input(self) -> BatchInput:
        return BatchInput.recorded(self.image, self.prompt, self.size, self.duration, self.model)


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


@dataclass(frozen=True, slots=True)
class BatchInfo:
    """A batch as stored: its owner, the fingerprint of the key that pays, its API and its state."""

    batch_id: int
    owner: str
    key_fingerprint: str
    backend: str
    base_url: str
    #: `running` until every row has ended, then `done` (or `cancelled` when cancelled).
    state: str
    created_at: float


_INFO_SELECT = "SELECT batch_id, owner, key_fingerprint, backend, base_url, state, created_at FROM batches"
_ROW_SELECT = (
    "SELECT r.batch_id, r.position, r.image, r.prompt, r.size, r.duration, r.state, r.task_row_id, "
    "r.error, r.started_at, t.task_id, t.state, t.video_path, r.model FROM batch_rows r "
    "LEFT JOIN tasks t ON t.row_id = r.task_row_id"
)


class BatchStore:
    """The batches in the journal: made, read and changed through the journal's writer."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def create(self, rows: Sequence[BatchInput], *, source_hash: str, caller: Caller, backend: Any) -> int:
        """Record a new batch with its rows, all waiting, for the caller's key on `backend`; its id."""
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
                "INSERT INTO batch_rows (batch_id, position, image, prompt, size, duration, model, state, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'waiting', ?)",
                [
                    (batch_id, n, r.image, r.prompt, r.size, r.duration, r.model, now)
                    for n, r in enumerate(rows)
                ],
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

    def info(self, batch_id: int) -> BatchInfo | None:
        """Who made the batch, with which key on which API, and whether it has ended."""
        found = select(self.journal, f"{_INFO_SELECT} WHERE batch_id = ?", (batch_id,))
        return _batch_info(found[0]) if found else None

    def newest(self, owner: str | None = None) -> BatchInfo | None:
        """The newest batch (of `owner` when given), if any."""
        where, params = ("WHERE owner = ?", (owner,)) if owner is not None else ("", ())
        found = select(self.journal, f"{_INFO_SELECT} {where} ORDER BY batch_id DESC LIMIT 1", params)
        return _batch_info(found[0]) if found else None

    def running(self, key_fingerprint: str, backend: str) -> list[BatchInfo]:
        """The batches of this key on this backend (at any address) that have not ended, oldest first."""
        found = select(
            self.journal,
            f"{_INFO_SELECT} WHERE state = 'running' AND key_fingerprint = ? AND backend = ? "
            "ORDER BY batch_id",
            (key_fingerprint, backend),
        )
        return [_batch_info(row) for row in found]

    def move(self, batch_id: int, base_url: str) -> None:
        """Run the batch's rows not started yet on another address of its backend."""

        def change(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE batches SET base_url = ?, updated_at = ? WHERE batch_id = ?",
                (base_url, time.time(), batch_id),
            )

        self.journal.transact(change)

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
            "AND model = ? AND key_fingerprint = ? AND created_at >= ? "
            "AND row_id NOT IN (SELECT task_row_id FROM batch_rows WHERE task_row_id IS NOT NULL) "
            "ORDER BY row_id LIMIT 1",
            (
                row.image,
                row.prompt,
                row.size,
                row.duration,
                row.model,
                key_fingerprint,
                (row.started_at or 0) - 1.0,
            ),
        )
        return int(found[0][0]) if found else None


def _batch_row(row: tuple[Any, ...]) -> BatchRow:
    batch_id, position, image, prompt, size, duration, state, *rest = row
    task_row_id, error, started_at, task_id, task_state, video_path, model = rest
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
        model,
    )


def _batch_info(row: tuple[Any, ...]) -> BatchInfo:
    batch_id, owner, key_fingerprint, backend, base_url, state, created_at = row
    return BatchInfo(
        int(batch_id),
        str(owner),
        str(key_fingerprint),
        str(backend),
        str(base_url),
        str(state),
        float(created_at),
    )
