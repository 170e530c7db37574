"""The spend guard: how much the server's key may spend per UTC day on a shared deployment.

A start on the owner's key reserves each video's price before its submit, in the journal's
`spend` table, in the same write transaction that checks the day's total: two starts at once
cannot both pass the last dollar. A reservation is tied to its journal row when the job ends;
it is given back only when the task ended without a video: a row that ends failed, cancelled
(WaveSpeed said it stopped), refused or lost, and has no output, releases its amount by itself
(the total is read through the row), so a failure found after a restart is released too. A
cancelled task that WaveSpeed finished anyway is completed, and keeps its amount. A job that
ends before anything was submitted releases its reservation at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import time
from collections.abc import Callable
from typing import Protocol

from .._config import MODEL_ID, MODELS, RAY_2
from .._journal.journal import Journal, TaskState
from .limits import BudgetSpent

__all__ = ["CONTRACT_PRICE_PER_5S", "OPTIMIZER_PRICE", "SpendGuard", "utc_day"]

#: USD per 5 s of Luma Ray 2 video when the pricing route has not been asked yet (each model
#: has its own: `Model.price_per_5s`).
CONTRACT_PRICE_PER_5S = RAY_2.price_per_5s
#: USD reserved for one prompt suggestion: the prompt optimizer's model page lists 0.001 USD a run.
OPTIMIZER_PRICE = 0.001
#: Row states of a task that ended without a video: their reservation no longer counts.
_RELEASING = (TaskState.FAILED, TaskState.CANCELLED, TaskState.REJECTED, TaskState.LOST)
_SPENT_SQL = (
    "SELECT COALESCE(SUM(spend.amount), 0) FROM spend LEFT JOIN tasks ON tasks.row_id = spend.row_id "
    "WHERE spend.day = ? AND spend.released = 0 AND (tasks.state IS NULL OR NOT (tasks.state IN "
    f"({', '.join('?' * len(_RELEASING))}) AND tasks.output_url IS NULL AND tasks.video_path IS NULL))"
)


class _Ended(Protocol):
    """A job that has ended: its journal row, if it got one before it ended."""

    @property
    def row_id(self) -> int | None: ...


def utc_day(now: float | None = None) -> str:
    """The UTC date of a moment, as the budget's day."""
    return dt.datetime.fromtimestamp(time.time() if now is None else now, tz=dt.UTC).date().isoformat()


def _spent(db: sqlite3.Connection, day: str) -> float:
    return float(db.execute(_SPENT_SQL, (day, *_RELEASING)).fetchone()[0])


class SpendGuard:
    """Reserves, settles and reports the server's spending against the daily budget."""

    def __init__(self, journal: Journal, budget: float, *, clock: Callable[[], float] = time.time) -> None:
        self.journal = journal
        self.budget = max(0.0, budget)
        self._clock = clock
        #: The latest unit price (USD per 5 s) the pricing route gave, per model and size.
        self._prices: dict[tuple[str, str], float] = {}

    @property
    def active(self) -> bool:
        return self.budget > 0

    def note_price(self, size: str, unit_price: float, model: str = MODEL_ID) -> None:
        """Remember the pricing route's answer for a model and size (the cost line asks it anyway)."""
        self._prices[(model, size)] = unit_price

    def unit_price(self, size: str, model: str = MODEL_ID) -> float:
        """USD per 5 s of a model and size: the pricing route's latest answer, else the model's fallback."""
        known = MODELS.get(model)
        return self._prices.get((model, size), known.price_per_5s if known else CONTRACT_PRICE_PER_5S)

    def price(self, size: str, duration: int, model: str = MODEL_ID) -> float:
        """USD for one video of a model: the known unit price (else the contract's) per started 5 s."""
        return self.unit_price(size, model) * max(1, -(-int(duration) // 5))

    def spent_today(self) -> float:
        return self.journal.query(lambda db: _spent(db, utc_day(self._clock())))

    def left_today(self) -> float | None:
        """USD left in today's budget; None when the guard is off."""
        if not self.active:
            return None
        return max(0.0, self.budget - self.spent_today())

    async def reserve(self, amount: float, count: int) -> list[int]:
        """Reserve `count` videos of `amount` USD each for today, or raise `BudgetSpent`."""
        day, now, budget = utc_day(self._clock()), self._clock(), self.budget

        def work(db: sqlite3.Connection) -> list[int] | None:
            if _spent(db, day) + amount * count > budget + 1e-9:
                return None
            return [
                int(
                    db.execute(
                        "INSERT INTO spend (day, amount, created_at) VALUES (?, ?, ?)", (day, amount, now)
                    ).lastrowid
                    or 0
                )
                for _ in range(count)
            ]

        ids = await self.journal.atransact(work)
        if ids is None:
            raise BudgetSpent(
                "This playground has spent today's budget for its own key: enter your own WaveSpeed "
                "key to go on now (your videos are then billed to you), or come back tomorrow (UTC)."
            )
        return ids

    def settle(self, reservation: int, row_id: int | None) -> None:
        """Tie a reservation to its row, or release it when nothing was submitted (no wait)."""

        def work(db: sqlite3.Connection) -> None:
            if row_id is None:
                db.execute("UPDATE spend SET released = 1 WHERE id = ?", (reservation,))
            else:
                db.execute("UPDATE spend SET row_id = ? WHERE id = ?", (row_id, reservation))

        with contextlib.suppress(RuntimeError, sqlite3.ProgrammingError):  # closed at shutdown
            self.journal.transact(work, wait=False)

    def settler(self, reservation: int) -> Callable[[_Ended], None]:
        """What settles a reservation when its job ends (for `Job.when_finished`): see `settle`."""
        return lambda job: self.settle(reservation, job.row_id)

    def release(self, reservations: list[int]) -> None:
        """Give back reservations whose start was refused after all."""
        for reservation in reservations:
            self.settle(reservation, None)
