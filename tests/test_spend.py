"""The daily budget of the server's key: reservations, releases, rows that settle them, days, restarts."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from luma_playground import Journal
from luma_playground._guard.limits import BudgetSpent
from luma_playground._guard.spend import CONTRACT_PRICE_PER_5S, SpendGuard, utc_day

from .test_journal import BASE

pytestmark = pytest.mark.anyio

#: 2026-03-01 23:59:30 UTC: half a minute before the budget's day turns.
LATE = dt.datetime(2026, 3, 1, 23, 59, 30, tzinfo=dt.UTC).timestamp()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    opened = Journal(tmp_path / "journal.sqlite3")
    yield opened
    opened.close()


def flushed(journal: Journal) -> None:
    """Wait until every queued write (settling is queued, not awaited) has landed."""
    journal.transact(lambda db: None)


def row(journal: Journal) -> int:
    """A journal row for one video, as a start on the owner's key writes it."""
    return journal.begin(**BASE)  # type: ignore[arg-type]


async def test_reservations_count_until_released(journal: Journal) -> None:
    """Reserved amounts count at once; a released one no longer does; the rest is what is left."""
    guard = SpendGuard(journal, 2.0)
    first = await guard.reserve(0.5, 2)
    assert len(first) == 2 and guard.spent_today() == pytest.approx(1.0)
    assert guard.left_today() == pytest.approx(1.0)
    guard.release(first[:1])
    flushed(journal)
    assert guard.spent_today() == pytest.approx(0.5) and guard.left_today() == pytest.approx(1.5)


async def test_a_reservation_past_the_budget_is_refused_whole(journal: Journal) -> None:
    """Three videos that would pass the budget reserve nothing; the sentence names the way on."""
    guard = SpendGuard(journal, 1.0)
    await guard.reserve(0.5, 1)
    with pytest.raises(BudgetSpent, match="enter your own WaveSpeed key") as refused:
        await guard.reserve(0.5, 3)
    assert "tomorrow (UTC)" in str(refused.value)
    assert guard.spent_today() == pytest.approx(0.5)  # nothing of the refused three
    assert await guard.reserve(0.5, 1)  # the last half still fits exactly


async def test_a_row_settles_its_reservation_by_how_it_ends(journal: Journal) -> None:
    """Tied to its row, a reservation is kept when the video completes, given back when it fails."""
    guard = SpendGuard(journal, 5.0)
    paid, failed, cancelled, unsent = await guard.reserve(1.0, 4)
    rows = [row(journal) for _ in range(3)]
    for reservation, row_id in zip((paid, failed, cancelled), rows, strict=True):
        guard.settle(reservation, row_id)
    guard.settle(unsent, None)  # ended before anything was submitted
    journal.update(rows[0], "completed")
    journal.update(rows[1], "failed", error="Task failed.")
    journal.update(rows[2], "cancelled")
    flushed(journal)
    assert guard.spent_today() == pytest.approx(1.0)  # the completed video alone


async def test_only_a_task_that_ended_without_a_video_gives_its_reservation_back(journal: Journal) -> None:
    """A row marked cancelled that holds an output (finished despite the cancel) keeps its amount."""
    guard = SpendGuard(journal, 5.0)
    stopped, finished = await guard.reserve(1.0, 2)
    rows = [row(journal) for _ in range(2)]
    for reservation, row_id in zip((stopped, finished), rows, strict=True):
        guard.settle(reservation, row_id)
    journal.update(rows[0], "cancelled")
    journal.update(rows[1], "cancelled", output_url="https://cdn.example/v.mp4")
    flushed(journal)
    assert guard.spent_today() == pytest.approx(1.0)  # the one WaveSpeed made a video for


async def test_a_pending_row_counts_until_it_fails_even_after_a_restart(tmp_path: Path) -> None:
    """The total is in the journal: a new process sees it, and a failure found later releases it."""
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path)
    guard = SpendGuard(journal, 1.0)
    reservations = await guard.reserve(0.5, 2)
    row_id = row(journal)
    guard.settle(reservations[0], row_id)
    journal.close()

    again = Journal(path)
    try:
        restarted = SpendGuard(again, 1.0)
        assert restarted.spent_today() == pytest.approx(1.0)
        with pytest.raises(BudgetSpent):
            await restarted.reserve(0.5, 1)
        again.update(row_id, "failed", error="Found failed after the restart.")
        assert restarted.spent_today() == pytest.approx(0.5)
        assert await restarted.reserve(0.5, 1)
    finally:
        again.close()


async def test_the_budget_is_per_utc_day(journal: Journal) -> None:
    """What was spent before midnight UTC does not count the next day; the day is UTC's, not local."""
    clock = Clock(LATE)
    guard = SpendGuard(journal, 1.0, clock=clock)
    assert utc_day(LATE) == "2026-03-01"
    await guard.reserve(1.0, 1)
    with pytest.raises(BudgetSpent):
        await guard.reserve(0.5, 1)
    clock.now = LATE + 60  # 00:00:30 on 2 March, UTC
    assert utc_day(clock.now) == "2026-03-02"
    assert guard.spent_today() == 0 and guard.left_today() == pytest.approx(1.0)
    assert await guard.reserve(1.0, 1)
    clock.now = LATE  # the first day's total is still there
    assert guard.spent_today() == pytest.approx(1.0)


async def test_a_budget_of_zero_turns_the_guard_off(journal: Journal) -> None:
    """0 (or less) is no budget: inactive, nothing left to show."""
    for budget in (0.0, -3.0):
        guard = SpendGuard(journal, budget)
        assert not guard.active and guard.left_today() is None


def test_the_price_is_the_known_one_per_started_5_seconds(journal: Journal) -> None:
    """Before the pricing route answers, the contract's price; after, the route's, per 5 s begun."""
    guard = SpendGuard(journal, 10.0)
    assert guard.price("1280*720", 5) == CONTRACT_PRICE_PER_5S
    assert guard.price("1280*720", 10) == 2 * CONTRACT_PRICE_PER_5S
    guard.note_price("1280*720", 0.3)
    assert guard.price("1280*720", 10) == pytest.approx(0.6)
    assert guard.price("720*1280", 5) == CONTRACT_PRICE_PER_5S  # another size is not known yet


async def test_concurrent_reserves_never_pass_the_budget(journal: Journal) -> None:
    """Fifty starts at once against 5 USD: exactly ten half-dollar videos get through."""
    guard = SpendGuard(journal, 5.0)
    results = await asyncio.gather(*(guard.reserve(0.5, 1) for _ in range(50)), return_exceptions=True)
    granted = [result for result in results if isinstance(result, list)]
    assert len(granted) == 10 and all(isinstance(r, BudgetSpent) for r in results if r not in granted)
    assert guard.spent_today() == pytest.approx(5.0)


def test_two_processes_on_one_journal_never_pass_the_budget(tmp_path: Path) -> None:
    """Two journals on one file (the app and a second worker), reserving from threads at once."""
    path = tmp_path / "journal.sqlite3"
    journals = [Journal(path), Journal(path)]
    guards = [SpendGuard(journal, 3.0) for journal in journals]
    granted: list[int] = []
    lock = threading.Lock()

    def reserve_many(guard: SpendGuard) -> None:
        for _ in range(20):
            try:
                ids = asyncio.run(guard.reserve(0.25, 1))
            except BudgetSpent:
                continue
            with lock:
                granted.extend(ids)

    try:
        threads = [threading.Thread(target=reserve_many, args=(guard,)) for guard in guards * 2]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(granted) == 12 and len(set(granted)) == 12
        assert guards[0].spent_today() == pytest.approx(3.0) == guards[1].spent_today()
    finally:
        for journal in journals:
            journal.close()
