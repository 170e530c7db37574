"""The poll schedule: baseline without history, sparse then dense with it."""

from __future__ import annotations

from luma_playground import AdaptiveSchedule, TimingHistory


def test_cold_start_is_the_baseline() -> None:
    """With no history the schedule polls every second, like the official SDK."""
    schedule = AdaptiveSchedule.for_task(TimingHistory(), "1280*720", 5)
    assert schedule.next_delay("created", 0.5) == 1.0
    assert schedule.next_delay("processing", 1.5) == 1.0
    assert schedule.expected_total() is None


def test_history_makes_it_sparse_then_dense() -> None:
    """With history it sleeps through the bulk and polls densely around the likely end."""
    history = TimingHistory([("1280*720", 5, s) for s in (40, 41, 42, 43, 44, 45)])
    schedule = AdaptiveSchedule.for_task(history, "1280*720", 5)
    assert schedule.next_delay("created", 0.5) == schedule.queued_interval
    first = schedule.next_delay("processing", 3.0)
    assert first > 5, "sleeps long right after processing starts"
    assert schedule.next_delay("processing", 41.0) == schedule.dense_interval
    assert schedule.next_delay("processing", 200.0) == schedule.fallback_interval
    assert 40 < schedule.expected_total() < 50


def test_history_is_per_size_and_duration() -> None:
    """Timings of 10 s clips do not shape the schedule of 5 s clips."""
    history = TimingHistory([("1280*720", 10, 90.0)] * 10)
    assert history.samples("1280*720", 5) == []
    assert len(history.samples("1280*720", 10)) == 10
