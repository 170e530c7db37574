"""The poll schedules: the baseline without history, sparse then dense with it, safety with callbacks."""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import statistics

import pytest

from luma_playground._wavespeed.polling import (
    AdaptiveSchedule,
    CompletionModel,
    FixedSchedule,
    PollSchedule,
    PushedSchedule,
    TimingHistory,
    Wake,
    _fitted,
)

SIZE = "1280*720"


def _history(median: float = 45.0, sigma: float = 0.09, count: int = 60, seed: int = 1) -> TimingHistory:
    rng = random.Random(seed)
    return TimingHistory([(SIZE, 5, rng.lognormvariate(math.log(median), sigma)) for _ in range(count)])


def _follow(schedule: PollSchedule, queue: float, inference: float, first: float) -> tuple[float, int]:
    """Replay one task against a schedule: (detection latency, GETs)."""
    done, instant, gets = queue + inference, first, 0
    while True:
        gets += 1
        if instant >= done:
            return instant - done, gets
        status = "created" if instant < queue else "processing"
        instant += schedule.next_delay(status, instant)


def test_cold_start_is_the_baseline() -> None:
    """With no history the schedule polls every second on average (in step with none), like the SDK."""
    schedule = AdaptiveSchedule.for_task(TimingHistory(), SIZE, 5)
    delays = [schedule.next_delay("created", 0.5)]
    delays += [schedule.next_delay("processing", 1.5 + i) for i in range(400)]
    assert all(0.9 <= d <= 1.1 for d in delays) and len(set(delays)) > 1
    assert statistics.mean(delays) == pytest.approx(1.0, abs=0.02)
    assert schedule.expected_total() is None


def test_history_makes_it_sparse_then_dense() -> None:
    """With history it sleeps through the bulk, polls densely near the likely end, then at 1 s."""
    schedule = AdaptiveSchedule.for_task(_history(), SIZE, 5)
    assert 0.9 <= schedule.next_delay("created", 0.5) <= 1.1
    assert schedule.next_delay("processing", 1.5) == schedule.sparse_interval
    near_the_end = schedule.next_delay("processing", 1.0 + 45.0)
    assert near_the_end < 0.5
    assert schedule.next_delay("processing", 200.0) == schedule.fallback_interval
    assert 44 < schedule.expected_total() < 48  # type: ignore[operator]


def test_no_sleep_jumps_over_the_likely_end() -> None:
    """Walking from the start of processing, every second of the likely window gets a poll."""
    schedule = AdaptiveSchedule.for_task(_history(), SIZE, 5)
    schedule.next_delay("created", 0.5)
    instant, polls = 1.5, []
    while instant < 70:
        polls.append(instant)
        instant += schedule.next_delay("processing", instant)
    gaps = [b - a for a, b in itertools.pairwise(polls) if 38 < a < 55]
    assert gaps and max(gaps) < 1.0
    assert min(b - a for a, b in itertools.pairwise(polls)) >= schedule.dense_interval


def test_warm_schedule_halves_the_latency_with_fewer_gets() -> None:
    """Over realistic tasks: median latency at most half the 1 s baseline's, p95 at most 3/4, fewer GETs."""
    rng, history = random.Random(5), _history(count=40, seed=9)
    baseline, adaptive = [], []
    for _ in range(150):
        queue, inference = rng.lognormvariate(math.log(3), 0.5), rng.lognormvariate(math.log(45), 0.09)
        baseline.append(_follow(FixedSchedule(1.0), queue, inference, first=0.0))
        adaptive.append(_follow(AdaptiveSchedule.for_task(history, SIZE, 5), queue, inference, 0.5))

    def figures(runs: list[tuple[float, int]]) -> tuple[float, float, float]:
        latencies = sorted(latency for latency, _ in runs)
        p95 = latencies[round(0.95 * (len(latencies) - 1))]
        return statistics.median(latencies), p95, statistics.mean(gets for _, gets in runs)

    base_median, base_p95, base_gets = figures(baseline)
    median, p95, gets = figures(adaptive)
    assert median <= 0.5 * base_median and p95 <= 0.75 * base_p95 and gets <= base_gets


def test_learns_while_it_waits() -> None:
    """A task that started cold turns adaptive once earlier tasks report their times."""
    history = TimingHistory()
    schedule = AdaptiveSchedule.for_task(history, SIZE, 5)
    schedule.next_delay("created", 0.5)
    assert 0.9 <= schedule.next_delay("processing", 1.5) <= 1.1
    for seconds in _history().samples(SIZE, 5):
        history.record(SIZE, 5, seconds)
    assert schedule.next_delay("processing", 2.5) == schedule.sparse_interval
    assert schedule.expected_total() is not None


def test_follows_the_time_scale_of_the_history() -> None:
    """Tasks of half a second are polled in tens of milliseconds near their end, not seconds."""
    schedule = AdaptiveSchedule.for_task(_history(median=0.45), SIZE, 5)
    schedule.next_delay("created", 0.02)
    first = schedule.next_delay("processing", 0.04)
    assert 0.2 < first < 0.45
    assert schedule.next_delay("processing", 0.03 + 0.45) <= 0.1


def test_history_is_per_size_and_duration() -> None:
    """Timings of 10 s clips do not shape the schedule of 5 s clips."""
    history = TimingHistory([(SIZE, 10, 90.0)] * 10)
    assert history.samples(SIZE, 5) == []
    assert len(history.samples(SIZE, 10)) == 10


def test_history_keeps_the_newest_and_ignores_nonsense() -> None:
    """Only the newest `keep` times count; zero, negative and infinite times are dropped."""
    history = TimingHistory([(SIZE, 5, float(s)) for s in range(1, 21)], keep=5)
    history.record(SIZE, 5, 0)
    history.record(SIZE, 5, -3)
    history.record(SIZE, 5, math.inf)
    assert history.samples(SIZE, 5) == [16.0, 17.0, 18.0, 19.0, 20.0]
    assert history.recorded(SIZE, 5) == 20


def test_completion_model_matches_its_samples() -> None:
    """The model's median is the samples' and its density integrates to one."""
    samples = _history().samples(SIZE, 5)
    model = CompletionModel.fit(samples)
    assert model.quantile(0.5) == pytest.approx(statistics.median(samples), rel=0.03)
    step = 0.05
    total = sum(model.density(i * step) * step for i in range(1, 4000))
    assert total == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("count", [4, 60])
def test_a_fit_gives_its_model_s_density_between_grid_points(count: int) -> None:
    """Plans read the density from the fit's grid: within 1 % of the model's, and exact off the grid."""
    fit = _fitted(tuple(_history(count=count).samples(SIZE, 5)), 0.5, 0.4)
    low, high = fit.grid[0], fit.grid[-1]
    for seconds in [low * (high / low) ** (i / 997) for i in range(1, 997)]:
        assert fit.density(seconds) == pytest.approx(fit.model.density(seconds), rel=0.01)
    for seconds in (low / 2, high * 2):
        assert fit.density(seconds) == fit.model.density(seconds)


def test_pushed_schedule_waits_for_the_callback() -> None:
    """With a callback expected it looks rarely, and promptly again once the callback came."""
    arrived = False
    schedule = PushedSchedule(lambda: arrived)
    assert schedule.next_delay("created", 0.0) == schedule.safety_interval == 30.0
    arrived = True
    assert schedule.next_delay("processing", 40.0) == schedule.recheck_interval
    assert schedule.expected_total() is None


@pytest.mark.parametrize("warm", [False, True])
def test_untrusted_callbacks_poll_exactly_as_without(warm: bool) -> None:
    """Until callbacks have proven to arrive, a task with one polls at the adaptive schedule's instants."""

    def replay(with_callback: bool) -> tuple[float, int]:
        random.seed(7)  # the same jitter for both
        history = _history() if warm else TimingHistory()
        polled = AdaptiveSchedule.for_task(history, SIZE, 5)
        if not with_callback:
            return _follow(polled, 3.0, 44.0, 0.5)
        return _follow(PushedSchedule(lambda: False, fallback=polled, trusted=lambda: False), 3.0, 44.0, 0.5)

    assert replay(with_callback=True) == replay(with_callback=False)


@pytest.mark.anyio
async def test_a_wake_cuts_the_wait_short_until_cleared() -> None:
    """Set during a wait it ends that wait; set before one, it ends it at once until cleared."""
    wake = Wake()
    asyncio.get_running_loop().call_soon(wake.set)
    await asyncio.wait_for(wake.sleep(3600), 10)
    assert wake.is_set()
    await asyncio.wait_for(wake.sleep(3600), 10)
    await asyncio.wait_for(wake.wait(), 10)
    wake.clear()
    sleeping = asyncio.ensure_future(wake.sleep(3600))
    await asyncio.sleep(0.01)
    assert not sleeping.done()
    wake.set()
    await asyncio.wait_for(sleeping, 10)


def _replay_cold_batch(seed: int, count: int = 60) -> tuple[list[float], list[int], list[int]]:
    """A batch started 0.25 s apart with no history, on simulated time: latencies, GETs, baseline GETs."""
    import heapq

    rng = random.Random(seed)
    tasks = [
        (i * 0.25, rng.lognormvariate(math.log(3.0), 0.5), rng.lognormvariate(math.log(45.0), 0.09))
        for i in range(count)
    ]
    history = TimingHistory()
    schedules = [AdaptiveSchedule.for_task(history, "1280*720", 5) for _ in tasks]
    polls = [(submitted + 0.5, i) for i, (submitted, _, _) in enumerate(tasks)]
    heapq.heapify(polls)
    gets, latencies = [0] * count, [0.0] * count
    while polls:
        now, i = heapq.heappop(polls)
        submitted, queue, inference = tasks[i]
        gets[i] += 1
        elapsed = now - submitted
        if elapsed >= queue + inference:
            latencies[i] = elapsed - queue - inference
            history.record("1280*720", 5, inference)
            continue
        status = "processing" if elapsed >= queue else "created"
        heapq.heappush(polls, (now + schedules[i].next_delay(status, elapsed), i))
    return latencies, gets, [math.floor(q + inf) + 1 for _, q, inf in tasks]


@pytest.mark.parametrize("seed", [0, 11])
def test_a_cold_batch_spends_no_more_gets_than_the_baseline_and_sees_the_end_sooner(seed: int) -> None:
    """Tasks that learn from the first to end bank GETs first, so the dense window costs nothing extra."""
    latencies, gets, baseline_gets = _replay_cold_batch(seed)
    assert statistics.fmean(gets) <= statistics.fmean(baseline_gets)
    # The baseline sees the end on average half a second late.
    assert statistics.median(latencies) < 0.45


def test_a_task_behind_others_banks_until_the_first_of_its_kind_ends() -> None:
    """Behind four of its kind it polls every 1.6 s; once one of them has ended, every second again."""
    history = TimingHistory([(SIZE, 10, 90.0)] * 3)  # three times of another kind, one of this
    history.record(SIZE, 5, 44.0)
    ahead = [AdaptiveSchedule.for_task(history, SIZE, 5) for _ in range(4)]  # followed while they exist
    schedule = AdaptiveSchedule.for_task(history, SIZE, 5, random.Random(3))
    banked = [schedule.next_delay("processing", 2.0 + i) for i in range(5)]
    assert all(1.6 * 0.9 <= d <= 1.6 * 1.1 for d in banked)
    history.record(SIZE, 5, 45.0)  # the first of those ahead ended: two times, still no plan
    after = [schedule.next_delay("processing", 9.0 + i) for i in range(5)]
    assert all(0.9 <= d <= 1.1 for d in after) and schedule.expected_total() is None
    del ahead


def test_a_seeded_schedule_replays_its_jitter() -> None:
    """Two schedules drawing from generators with the same seed wait alike; another seed differs."""

    def waits(seed: int) -> list[float]:
        schedule = AdaptiveSchedule.for_task(TimingHistory(), SIZE, 5, random.Random(seed))
        return [schedule.next_delay("created" if i < 3 else "processing", i * 1.0) for i in range(10)]

    assert waits(5) == waits(5) != waits(6)
