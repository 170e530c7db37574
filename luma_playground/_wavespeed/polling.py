"""When to ask for a task's status next: sparse while it surely runs, dense where it likely ends.

The API has no status stream: polling is the only way to learn that a video is ready, and
every GET counts against the rate limit. A fixed interval wastes requests while the model
surely still works and adds up to a whole interval of latency at the end. The adaptive
schedule uses what the client can know: the task's phase, when processing was first seen,
and the inference times the server reported for earlier tasks of the same model, size and
duration (Ray 2 Flash ends in about a third of Ray 2's time: neither teaches the other).
With those it spends no more requests than a fixed 1 s poller, but places them where the
task is likely to end: each poll's interval shrinks where the chance of completion is high.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import itertools
import math
import random
import statistics
import threading
import weakref
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from .._config import MODEL_ID
from .._request import PredictionStatus

__all__ = [
    "AdaptiveSchedule",
    "CompletionModel",
    "FixedSchedule",
    "PollSchedule",
    "PushedSchedule",
    "TimingHistory",
    "Wake",
]


class PollSchedule(Protocol):
    """Decides the wait before each poll of one task."""

    def next_delay(self, status: str, elapsed: float) -> float:
        """Seconds to wait before the next GET, given the last status seen `elapsed` s after submit."""
        ...

    def expected_total(self) -> float | None:
        """The expected time from submit to completion, when it can be estimated."""
        ...


@dataclass(slots=True)
class FixedSchedule:
    """One GET every `interval` seconds (what the official SDK does with 1.0)."""

    interval: float = 1.0

    def next_delay(self, status: str, elapsed: float) -> float:
        return self.interval

    def expected_total(self) -> float | None:
        return None


#: A kind of task whose times are learnt together: (model id, size, duration).
_Kind = tuple[str, str, int]
#: An inference time as given to `TimingHistory`: (size, duration, seconds[, model id]).
Sample = tuple[str, int, float] | tuple[str, int, float, str]


class TimingHistory:
    """Inference times (seconds) of recent tasks, per (model, size, duration); thread-safe.

    Only the newest `keep` per kind are kept, so the schedule follows the service when it
    gets faster or slower. A sample or question without a model is Ray 2's.
    """

    def __init__(self, samples: Iterable[Sample] = (), keep: int = 100) -> None:
        self._lock = threading.Lock()
        self._samples: dict[_Kind, deque[float]] = defaultdict(lambda: deque(maxlen=keep))
        self._recorded: dict[_Kind, int] = defaultdict(int)
        self._following: dict[_Kind, weakref.WeakSet[object]] = defaultdict(weakref.WeakSet)
        for sample in samples:
            self.record(*sample)

    def record(self, size: str, duration: int, inference_seconds: float, model: str = MODEL_ID) -> None:
        if inference_seconds > 0 and math.isfinite(inference_seconds):
            with self._lock:
                kind = (model, size, int(duration))
                self._samples[kind].append(float(inference_seconds))
                self._recorded[kind] += 1

    def join(self, size: str, duration: int, schedule: object, model: str = MODEL_ID) -> tuple[int, int]:
        """Count `schedule` among the tasks of this kind being followed: (how many were before it,
        how many times of this kind were recorded). It counts while it exists (while its task polls).
        """
        with self._lock:
            following = self._following[kind := (model, size, int(duration))]
            following.add(schedule)
            return len(following) - 1, self._recorded.get(kind, 0)

    def samples(self, size: str, duration: int, model: str = MODEL_ID) -> list[float]:
        """The kept inference times of this kind, smallest first."""
        with self._lock:
            return sorted(self._samples.get((model, size, int(duration)), ()))

    def recorded(self, size: str, duration: int, model: str = MODEL_ID) -> int:
        """How many times of this kind were ever recorded (changes whenever `samples` does)."""
        with self._lock:
            return self._recorded.get((model, size, int(duration)), 0)


_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)


@dataclass(frozen=True, slots=True)
class CompletionModel:
    """The likely inference time: a kernel density over the logarithms of earlier times.

    A lognormal kernel per sample follows any shape the service shows (two GPU types, a slow
    tail) and widens by itself when there are few samples. A small share of a much wider
    lognormal keeps the tails honest: the service may have changed since those samples.
    """

    logs: tuple[float, ...]
    bandwidth: float
    median: float
    wide: float
    wide_share: float = 0.05

    @classmethod
    def fit(cls, samples: list[float], spread: float = 0.0) -> CompletionModel:
        """The model of `samples` (seconds); `spread`: seconds of doubt about when processing began."""
        logs = tuple(math.log(s) for s in samples)
        deviation = statistics.stdev(logs) if len(logs) > 1 else 0.1
        # Few samples understate the spread: widen by the uncertainty of the estimate.
        deviation *= 1 + 0.75 / math.sqrt(len(logs))
        # Silverman's rule, with a floor: a service is never exactly as fast as before.
        bandwidth = max(0.015, 1.06 * deviation * len(logs) ** -0.2)
        median = statistics.median(samples)
        if spread > 0:
            bandwidth = math.hypot(bandwidth, spread / math.sqrt(12) / median)
        return cls(logs, bandwidth, median, wide=max(0.25, 3 * math.hypot(deviation, bandwidth)))

    def density(self, seconds: float) -> float:
        """Probability density (per second) that inference takes `seconds`."""
        if seconds <= 0:
            return 0.0
        x, h = math.log(seconds), self.bandwidth
        near = sum(math.exp(-0.5 * ((x - m) / h) ** 2) for m in self.logs) / (len(self.logs) * h)
        far = math.exp(-0.5 * ((x - math.log(self.median)) / self.wide) ** 2) / self.wide
        return ((1 - self.wide_share) * near + self.wide_share * far) / (_SQRT2PI * seconds)

    def cdf(self, seconds: float) -> float:
        if seconds <= 0:
            return 0.0
        x, h = math.log(seconds), self.bandwidth
        near = sum(math.erfc((m - x) / (h * _SQRT2)) for m in self.logs) / (2 * len(self.logs))
        far = math.erfc((math.log(self.median) - x) / (self.wide * _SQRT2)) / 2
        return (1 - self.wide_share) * near + self.wide_share * far

    def quantile(self, p: float) -> float:
        low = math.log(self.median) - 8 * self.wide
        high = math.log(self.median) + 8 * self.wide
        for _ in range(60):
            middle = (low + high) / 2
            if self.cdf(math.exp(middle)) < p:
                low = middle
            else:
                high = middle
        return math.exp((low + high) / 2)


@dataclass(frozen=True, slots=True)
class _Fit:
    """A fitted model, the integral of density ** focus * survival, and where the likely end opens.

    `grid` and `remaining` give that integral from each grid point on, so that a plan made
    late, when the task is known to have run `since` seconds, costs no new integration.
    """

    model: CompletionModel
    weight: float
    opens: float
    grid: tuple[float, ...]
    remaining: tuple[float, ...]
    #: The logarithm of the density at each grid point.
    log_density: tuple[float, ...]

    def density(self, seconds: float) -> float:
        """The model's density, interpolated on the grid (exact outside it): plans ask it often."""
        grid = self.grid
        if not grid[0] < seconds < grid[-1]:
            return self.model.density(seconds)
        # The grid is even in log time: the point below `seconds` is found without a search.
        position = math.log(seconds / grid[0]) / math.log(grid[1] / grid[0])
        index = min(int(position), len(grid) - 2)
        share = position - index
        low, high = self.log_density[index], self.log_density[index + 1]
        return math.exp(low + (high - low) * share)

    def weight_after(self, since: float) -> float:
        """The integral from `since` on, given that the task has not ended by then."""
        index = bisect.bisect_left(self.grid, since)
        if index >= len(self.grid):
            return 0.0
        survival = 1 - self.model.cdf(since)
        return self.remaining[index] / survival if survival > 1e-9 else 0.0


@functools.lru_cache(maxsize=256)
def _fitted(samples: tuple[float, ...], spread: float, focus: float) -> _Fit:
    """The model of `samples` and the integrals its plans need.

    Fitting costs milliseconds; the tasks running at once share one fit (cached), so that a
    burst of them planning together does not stall the event loop.
    """
    model = CompletionModel.fit(list(samples), spread)
    low, high = model.quantile(0.001), model.quantile(0.999)
    # On a grid even in log time: fine where the density peaks, coarse in the tails.
    steps = 120
    ratio = (high / low) ** (1 / steps)
    grid = [low * ratio ** (i + 0.5) for i in range(steps)]
    densities = [max(model.density(t), 1e-300) for t in grid]
    parts = [d**focus * (1 - model.cdf(t)) * t * (ratio - 1) for d, t in zip(densities, grid, strict=True)]
    remaining = list(itertools.accumulate(reversed(parts)))[::-1]
    log_density = tuple(math.log(d) for d in densities)
    return _Fit(model, remaining[0], low, tuple(grid), tuple(remaining), log_density)


@dataclass(frozen=True, slots=True)
class _Plan:
    """The poll rate for one task, on a clock that starts where processing most likely began."""

    fit: _Fit
    origin: float
    scale: float
    focus: float
    dense: float
    sparse: float
    fallback: float

    @property
    def median(self) -> float:
        return self.fit.model.median

    def interval(self, elapsed: float) -> float:
        """The spacing of polls around `elapsed`: short where the task likely ends."""
        seconds = elapsed - self.origin
        likelihood = max(self.fit.density(seconds), 1e-12)
        longest = self.sparse if seconds < self.median else self.fallback
        return max(self.dense, min(longest, self.scale / likelihood**self.focus))

    def next_delay(self, elapsed: float) -> float:
        """The wait until the next poll: one interval's worth of the local poll rate."""
        # Walk forward in steps, so that a long sleep never jumps over a stretch that needs
        # dense polls; before the likely end, the steps are small next to the task's length.
        short_step = self.median / 50
        waited, share, interval = 0.0, 0.0, self.dense
        for _ in range(64):
            interval = self.interval(elapsed + waited)
            step = min(interval / 8, (1.0 - share) * interval)
            if elapsed + waited - self.origin < self.median:
                step = min(step, short_step)
            waited += step
            share += step / interval
            if share >= 1.0 - 1e-9:
                return waited
        return waited + (1.0 - share) * interval


@dataclass(slots=True, weakref_slot=True, eq=False)
class AdaptiveSchedule:
    """Polls by phase; with history, sleeps through the bulk and polls densely where it may end.

    Without history it polls every second like the baseline (jittered by up to 10 %, the same
    on average), so a cold start is no worse; until it has a plan it reads the history again at
    every poll, so tasks that end later learn from those that ended first. A 429's Retry-After
    is honoured by the client's retries, which never wait less than it asks.
    """

    history: TimingHistory | None = None
    size: str = "1280*720"
    duration: int = 5
    #: The model's id: the schedule learns from the times of its own model only.
    model: str = MODEL_ID
    min_samples: int = 4
    #: Queued: processing is about to begin; one look a second tells when it did.
    queued_interval: float = 1.0
    #: Without history, and once the likeliest end has passed: never slower than the baseline.
    fallback_interval: float = 1.0
    #: Never closer than this, however likely the end.
    dense_interval: float = 0.05
    #: Longest sleep before the likely end: a safety net if the service got much faster.
    sparse_interval: float = 8.0
    #: GETs expected while processing, as a share of the baseline's (one per second).
    budget: float = 0.8
    #: How strongly the interval follows the density: 0 is even, 0.5 minimizes the mean wait.
    focus: float = 0.4
    min_polls: int = 3
    jitter: float = 0.1
    #: Longest interval of a plan made late (after the earliest likely end).
    late_interval: float = 0.7
    #: Behind enough tasks of its kind to learn from, with no history and none of them ended yet:
    #: poll this sparsely while processing, saving GETs for the dense polls of the plan to come.
    banking_interval: float = 1.6
    #: Where the jitter comes from: the `random` module's generator unless given (a seeded one
    #: replays a task's polls exactly).
    rng: random.Random | None = None
    _processing_seen: float | None = None
    _processing_after: float = 0.0
    _processing_polls: int = 0
    _polls: int = 0
    _last_poll: float = 0.0
    _plan: _Plan | None = None
    _fitted: int = -1
    _ahead: int = 0
    _known_at_join: int = 0
    _late: bool = False

    @classmethod
    def for_task(
        cls,
        history: TimingHistory | None,
        size: str,
        duration: int,
        rng: random.Random | None = None,
        *,
        model: str = MODEL_ID,
    ) -> AdaptiveSchedule:
        """The schedule of one task of this model, size and duration, counted among those followed."""
        schedule = cls(history=history, size=size, duration=int(duration), model=model, rng=rng)
        if history is not None:
            schedule._ahead, schedule._known_at_join = history.join(size, int(duration), schedule, model)
        return schedule

    def next_delay(self, status: str, elapsed: float) -> float:
        previous, self._last_poll = self._last_poll, elapsed
        self._polls += 1
        if status != PredictionStatus.PROCESSING:
            return self._jittered(self.queued_interval)
        if self._processing_seen is None:
            # Processing began between the previous poll and this one.
            self._processing_seen, self._processing_after = elapsed, previous
        self._processing_polls += 1
        plan = self._current_plan(elapsed)
        if plan is None:
            # Enough of its kind ahead will teach it before it ends: sparser polls until then pay
            # for the plan's dense ones. Once one of its kind has ended, its own end may be near.
            known = self.history.recorded(self.size, self.duration, self.model) if self.history else 0
            banking = self._ahead >= self.min_samples and known == self._known_at_join
            return self._jittered(self.banking_interval if banking else self.fallback_interval)
        if not self._late:
            return plan.next_delay(elapsed)
        # A plan learnt late has no long sleep ahead to pay for its dense polls: it is held
        # to the baseline's count at every instant (its next GET is `polls` s after submit).
        return max(plan.next_delay(elapsed), self._polls * self.fallback_interval - elapsed)

    def _jittered(self, interval: float) -> float:
        # The same interval on average, but tasks started together do not stay in step: a
        # crowd of GETs at the same instant would stall the event loop and the server.
        uniform = random.uniform if self.rng is None else self.rng.uniform
        return interval * uniform(1 - self.jitter, 1 + self.jitter)

    def expected_total(self) -> float | None:
        plan = self._plan if self._processing_seen is not None else None
        return None if plan is None else plan.origin + plan.median

    def _current_plan(self, elapsed: float) -> _Plan | None:
        # A task keeps the plan it made; one that started without enough history makes its
        # plan as soon as earlier tasks have reported enough times; one learnt late remakes it
        # as more report (the first to end are the fastest: a plan from them alone ends too
        # soon), at a few counts only, so that a crowd of tasks shares a few fits.
        if (self._plan is None or self._late) and self.history is not None:
            recorded = self.history.recorded(self.size, self.duration, self.model)
            if recorded != self._fitted and (self._plan is None or self._refit(recorded)):
                self._fitted = recorded
                samples = self.history.samples(self.size, self.duration, self.model)
                if len(samples) >= self.min_samples:
                    self._plan = self._make_plan(samples, elapsed)
        return self._plan

    def _refit(self, recorded: int) -> bool:
        """True when a late plan is to be remade: a quarter more samples, up to 32 of them."""
        return self._fitted < 32 and recorded >= 1.25 * self._fitted

    def _make_plan(self, samples: list[float], elapsed: float) -> _Plan:
        assert self._processing_seen is not None
        spread = round(self._processing_seen - self._processing_after, 1)
        fit = _fitted(tuple(samples), spread, self.focus)
        model, weight, opens = fit.model, fit.weight, fit.opens
        origin = (self._processing_seen + self._processing_after) / 2
        late = self._late = self._late or (self._plan is None and elapsed - origin >= opens)
        if late:
            # Learnt late (a cold batch, from the tasks that ended first): the GETs left are
            # what the baseline would still spend until the likely end, less the ones spent at
            # its pace so far, placed on the rest of the curve.
            weight = fit.weight_after(elapsed - origin)
            baseline = (origin + model.median) / self.fallback_interval + 1
            polls = max(self.min_polls, baseline - self._polls)
        else:
            # interval = scale / density ** focus, the scale chosen so that the GETs expected
            # until the task ends fit the budget, less what was already spent.
            budget = self.budget * model.median / self.fallback_interval
            polls = max(self.min_polls, budget - self._processing_polls)
        return _Plan(
            fit=fit,
            origin=origin,
            scale=weight / polls if weight > 0 else math.inf,
            focus=self.focus,
            dense=self.dense_interval,
            # A plan made late, once the task may already be ending, never sleeps long: its
            # earlier polls at the baseline's pace told nothing the plan can use.
            sparse=self.late_interval if late else self.sparse_interval,
            fallback=self.late_interval if late else self.fallback_interval,
        )


@dataclass(slots=True)
class PushedSchedule:
    """With a completion callback on its way: rare safety polls, and quick re-checks once it came.

    The callback only wakes the poller; the GET it triggers is what is trusted. Should the
    service not show the end yet when the callback arrives, it is asked again shortly. While
    `trusted()` is false (callbacks have not proven to arrive) the `fallback` schedule decides,
    as it would without callbacks; it sees every poll either way, so it can take over at once.
    """

    callback_arrived: Callable[[], bool]
    #: How often to look when no callback has come (a lost callback costs at most this).
    safety_interval: float = 30.0
    recheck_interval: float = 0.5
    fallback: PollSchedule | None = None
    trusted: Callable[[], bool] = lambda: True

    def next_delay(self, status: str, elapsed: float) -> float:
        fallback = None if self.fallback is None else self.fallback.next_delay(status, elapsed)
        if self.callback_arrived():
            return self.recheck_interval
        if fallback is None or self.trusted():
            return self.safety_interval
        return fallback

    def expected_total(self) -> float | None:
        return None if self.fallback is None else self.fallback.expected_total()


class Wake:
    """A poller's wait that a completion callback can cut short; set and waited on one event loop.

    A wait costs what `asyncio.sleep` does (one future and one timer), where `asyncio.wait_for`
    on an `asyncio.Event` adds a task and, at the timeout, two more turns of the loop before the
    poll goes out: a task with a callback URL would poll later than one without.
    """

    __slots__ = ("_set", "_waiter")

    def __init__(self) -> None:
        self._set = False
        self._waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        self._set = True
        if self._waiter is not None:
            _release(self._waiter)

    def is_set(self) -> bool:
        return self._set

    def clear(self) -> None:
        self._set = False

    async def sleep(self, delay: float) -> None:
        """Wait `delay` seconds, or less if `set` is called meanwhile (or was, and not cleared)."""
        if self._set:
            return
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(delay, _release, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    async def wait(self) -> None:
        """Wait until `set` is called (returns at once if it was, and not cleared)."""
        while not self._set:
            await self.sleep(3600.0)


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
