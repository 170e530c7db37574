"""The journal's inference times, the newest per model, size and duration: where poll schedules start."""

from __future__ import annotations

import sqlite3

from .._journal.journal import Journal, TaskState
from .._wavespeed.polling import TimingHistory

__all__ = ["learnt_timings"]

#: Times kept per kind (model, size, duration): as many as `TimingHistory` keeps.
PER_KIND = 100

#: The newest completed times of each kind, oldest first: one model's drafts never crowd out
#: another model's times (a window over the whole table would).
_TIMINGS_SQL = """
    SELECT size, duration, inference_ms, model FROM (
        SELECT size, duration, inference_ms, model, completed_at, ROW_NUMBER() OVER (
            PARTITION BY model, size, duration ORDER BY completed_at DESC
        ) AS newest
        FROM tasks
        WHERE backend = ? AND base_url = ? AND state = ? AND inference_ms > 0
    )
    WHERE newest <= ? ORDER BY completed_at
"""


def learnt_timings(journal: Journal, backend: str, base_url: str) -> TimingHistory:
    """A timing history from the journal's completed tasks of this backend and base URL."""

    def read(db: sqlite3.Connection) -> list[tuple[str, int, float, str]]:
        rows = db.execute(_TIMINGS_SQL, (backend, base_url, TaskState.COMPLETED.value, PER_KIND))
        return [(size, duration, inference_ms / 1000, model) for size, duration, inference_ms, model in rows]

    return TimingHistory(journal.query(read), keep=PER_KIND)
