"""The shots in the journal's file: each one's state and its segments in order, each a row of `tasks`."""

from __future__ import annotations

import enum
import functools
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._config import MODEL_ID
from .._errors import ShotBusy
from .._journal.journal import Journal, TaskRecord

__all__ = ["Segment", "ShotRecord", "ShotState", "ShotStore", "shot_json"]


class ShotState(enum.StrEnum):
    """What a shot is doing: making a segment, done, or stopped (cancelled or failed) with what it has."""

    EXTENDING = "extending"
    READY = "ready"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Segment:
    """One clip of a shot: its place, its task's journal row (None until written), its first picture."""

    position: int
    row_id: int | None
    frame: str


@dataclass(frozen=True, slots=True)
class ShotRecord:
    """One shot: who made it, its state, the joined video, and how many segments it is to have."""

    shot_id: int
    owner: str
    key_fingerprint: str
    state: ShotState
    video_path: str | None
    planned: int
    prompt: str
    duration: int
    error: str | None
    created_at: float
    updated_at: float
    segments: tuple[Segment, ...]
    #: The model its next segments are made in (Ray 2 or Ray 2 Flash).
    model: str = MODEL_ID

    @property
    def name(self) -> str:
        """How faces name the shot: `shot-<id>`."""
        return f"shot-{self.shot_id}"

    @property
    def row_ids(self) -> list[int]:
        """The journal rows of the segments that have one, in order."""
        return [segment.row_id for segment in self.segments if segment.row_id is not None]


_SHOT_COLUMNS = (
    "shot_id, owner, key_fingerprint, state, video_path, planned, prompt, duration, error, "
    "created_at, updated_at, model"
)
#: The columns `ShotStore.change` may set.
_CHANGEABLE = frozenset({"state", "video_path", "planned", "prompt", "duration", "error"})


class ShotStore:
    """Reads and writes the `shots` and `segments` tables through the journal's writer and readers.

    Writes go through the journal's one writer thread, so they are ordered with the task rows'.
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def _awrite(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        return await self.journal._awrite(work)

    async def create(
        self,
        root_row_id: int,
        *,
        owner: str,
        key_fingerprint: str,
        planned: int,
        prompt: str,
        duration: int,
        model: str = MODEL_ID,
    ) -> int:
        """A new shot, extending, whose first segment is the finished task of `root_row_id`; its id.

        `ShotBusy` when that task is already in a shot (another call made it first): one write
        checks and inserts, so of calls made at once exactly one gets the shot.
        """
        values = (owner, key_fingerprint, ShotState.EXTENDING, planned, prompt, duration, model)
        return int(await self._awrite(functools.partial(_insert_shot, values, root_row_id, time.time())))

    async def claim(
        self, shot_id: int, *, count: int, planned: int, prompt: str, duration: int, model: str = MODEL_ID
    ) -> None:
        """Mark a shot of `count` segments extending for one caller, before anything is spent for it.

        `ShotBusy` when it is extending already, or no longer has `count` segments (another call
        extended it since it was read): one write checks and claims, so of calls made at once
        exactly one gets the shot, and the others change nothing.
        """
        fields = (ShotState.EXTENDING, planned, prompt, duration, model, time.time())
        await self._awrite(functools.partial(_claim_shot, shot_id, count, fields))

    async def add_segment(self, shot_id: int, position: int, frame: str) -> None:
        """Record the next segment, before its task's row exists (`ShotBusy` if that place is taken)."""
        sql = "INSERT INTO segments (shot_id, position, row_id, frame) VALUES (?, ?, NULL, ?)"
        try:
            await self._awrite(_run(sql, (shot_id, position, frame)))
        except sqlite3.IntegrityError:
            raise ShotBusy() from None

    async def link(self, shot_id: int, position: int, row_id: int) -> None:
        """Give a segment its task's journal row."""
        sql = "UPDATE segments SET row_id = ? WHERE shot_id = ? AND position = ?"
        await self._awrite(_run(sql, (row_id, shot_id, position)))

    async def drop_segment(self, shot_id: int, position: int) -> None:
        """Take a segment that produced no clip out of the shot (its task row stays in the journal)."""
        sql = "DELETE FROM segments WHERE shot_id = ? AND position = ?"
        await self._awrite(_run(sql, (shot_id, position)))

    async def change(self, shot_id: int, **fields: Any) -> None:
        """Set some of a shot's columns (state, video_path, planned, prompt, duration, error)."""
        if not set(fields) <= _CHANGEABLE:
            raise TypeError(f"a shot's changeable columns are {', '.join(sorted(_CHANGEABLE))}")
        fields["updated_at"] = time.time()
        assignments = ", ".join(f"{name} = ?" for name in fields)
        sql = f"UPDATE shots SET {assignments} WHERE shot_id = ?"
        await self._awrite(_run(sql, (*fields.values(), shot_id)))

    def get(self, shot_id: int) -> ShotRecord | None:
        found = self._select("WHERE shot_id = ?", (shot_id,))
        return found[0] if found else None

    def of_row(self, row_id: int) -> ShotRecord | None:
        """The shot a task's row is a segment of, if any."""
        where = "WHERE shot_id IN (SELECT shot_id FROM segments WHERE row_id = ?)"
        found = self._select(where, (row_id,))
        return found[0] if found else None

    def of_rows(self, row_ids: list[int]) -> dict[int, ShotRecord]:
        """The shot each of these rows is a segment of, by row (rows of no shot are left out)."""
        if not row_ids:
            return {}
        marks = ", ".join("?" * len(row_ids))
        where = f"WHERE shot_id IN (SELECT shot_id FROM segments WHERE row_id IN ({marks}))"
        return {row_id: shot for shot in self._select(where, tuple(row_ids)) for row_id in shot.row_ids}

    def extending(self) -> list[ShotRecord]:
        """The shots with a segment still to make, oldest first."""
        return self._select("WHERE state = ?", (ShotState.EXTENDING,), "ORDER BY created_at")

    def history(self, limit: int = 200) -> list[ShotRecord]:
        """Every shot, newest first."""
        return self._select("", (), f"ORDER BY created_at DESC LIMIT {int(limit)}")

    def row_started_from(self, frame: str) -> int | None:
        """The journal row of the task started from this picture, if one was written."""
        with self.journal._reading() as db:
            row = db.execute(
                "SELECT row_id FROM tasks WHERE image = ? ORDER BY row_id DESC LIMIT 1", (frame,)
            ).fetchone()
        return int(row[0]) if row else None

    def _select(self, where: str, params: tuple[Any, ...], tail: str = "") -> list[ShotRecord]:
        with self.journal._reading() as db:
            rows = db.execute(f"SELECT {_SHOT_COLUMNS} FROM shots {where} {tail}", params).fetchall()
            segments = {
                row[0]: db.execute(
                    "SELECT position, row_id, frame FROM segments WHERE shot_id = ? ORDER BY position",
                    (row[0],),
                ).fetchall()
                for row in rows
            }
        return [_record(row, segments[row[0]]) for row in rows]


def _run(sql: str, params: tuple[Any, ...]) -> Callable[[sqlite3.Connection], None]:
    def write(db: sqlite3.Connection) -> None:
        db.execute(sql, params)

    return write


def _insert_shot(values: tuple[Any, ...], root_row_id: int, now: float, db: sqlite3.Connection) -> int:
    if db.execute("SELECT 1 FROM segments WHERE row_id = ?", (root_row_id,)).fetchone():
        raise ShotBusy()
    cursor = db.execute(
        "INSERT INTO shots (owner, key_fingerprint, state, planned, prompt, duration, model, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*values, now, now),
    )
    shot_id = int(cursor.lastrowid or 0)
    db.execute("INSERT INTO segments VALUES (?, 0, ?, '')", (shot_id, root_row_id))
    return shot_id


def _claim_shot(shot_id: int, count: int, fields: tuple[Any, ...], db: sqlite3.Connection) -> None:
    found = db.execute("SELECT state FROM shots WHERE shot_id = ?", (shot_id,)).fetchone()
    (segments,) = db.execute("SELECT COUNT(*) FROM segments WHERE shot_id = ?", (shot_id,)).fetchone()
    if found is None or found[0] == ShotState.EXTENDING or segments != count:
        raise ShotBusy()
    db.execute(
        "UPDATE shots SET state = ?, error = NULL, planned = ?, prompt = ?, duration = ?, model = ?, "
        "updated_at = ? "
        "WHERE shot_id = ?",
        (*fields, shot_id),
    )


def _record(row: tuple[Any, ...], segments: list[tuple[Any, ...]]) -> ShotRecord:
    (
        shot_id,
        owner,
        fingerprint,
        state,
        video_path,
        planned,
        prompt,
        duration,
        error,
        created,
        updated,
        model,
    ) = row
    return ShotRecord(
        shot_id,
        owner,
        fingerprint,
        ShotState(state),
        video_path,
        planned,
        prompt,
        duration,
        error,
        created,
        updated,
        tuple(Segment(*segment) for segment in segments),
        model,
    )


def shot_json(shot: ShotRecord, records: list[TaskRecord]) -> dict[str, object]:
    """A plain dict of a shot and its segments' rows, for `--json` and the public API."""
    return {
        "shot": shot.name,
        "state": str(shot.state),
        "video_path": shot.video_path or (records[0].video_path if records else None),
        "planned": shot.planned,
        "error": shot.error,
        "seconds": sum(record.duration for record in records),
        "segments": [record.to_json() for record in records],
    }
