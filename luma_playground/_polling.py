"""When to ask for a task's status next: dense near its likely end, sparse before.

The API has no status stream: polling is the only way to learn that a video is ready, and
every GET counts against the rate limit. A fixed interval wastes requests while the model
surely still works and adds up to a whole interval of latency at the end. The adaptive
schedule uses what the client can know: the task's phase, the time since processing was
first seen, and the inference times of earlier tasks of the same size and duration.
"""

from __future__ import annotations

import statistics
import threading
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["AdaptiveSchedule", "FixedSchedule", "PollSchedule", "TimingHistory"]


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


class TimingHistory:
    """Inference times (seconds) of earlier tasks, per (size, duration); thread-safe."""

    def __init__(self, samples: Iterable[tuple[str, int, float]] = (), keep: int = 200) -> None:
        self._lock = threading.Lock()
        self._samples: dict[tuple[str, int], deque[float]] = defaultdict(lambda: deque(maxlen=keep))
        for size, duration, seconds in samples:
            self.record(size, duration, seconds)

    def record(self, size: str, duration: int, inference_seconds: float) -> None:
        if inference_seconds > 0:
            with self._lock:
                self._samples[(size, int(duration))].append(float(inference_seconds))

    def samples(self, size: str, duration: int) -> list[float]:
        with self._lock:
            return sorted(self._samples.get((size, int(duration)), ()))


def _quantile(sorted_values: list[float], q: float) -> float:
    index = q * (len(sorted_values) - 1)
    low = int(index)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (index - low)


@dataclass(slots=True)
class AdaptiveSchedule:
    """Polls by phase; with enough history, sleeps through the bulk and polls densely at the end.

    Without history it behaves like the fixed 1 s baseline, so a cold start is no worse.
    """

    samples: list[float] = field(default_factory=list)
    min_samples: int = 5
    queued_interval: float = 0.5
    fallback_interval: float = 1.0
    dense_interval: float = 0.25
    sparse_interval: float = 8.0
    _processing_seen: float | None = None
    _last_poll: float = 0.0
    _processing_after: float = 0.0

    @classmethod
    def for_task(cls, history: TimingHistory | None, size: str, duration: int) -> AdaptiveSchedule:
        return cls(samples=history.samples(size, duration) if history else [])

    def _window(self) -> tuple[float, float] | None:
        """The interval after the start of processing where completion is likely."""
        if len(self.samples) < self.min_samples:
            return None
        spread = statistics.pstdev(self.samples)
        low = _quantile(self.samples, 0.02) - 0.5 * spread
        high = _quantile(self.samples, 0.98) + 0.5 * spread
        return max(0.0, low), high

    def next_delay(self, status: str, elapsed: float) -> float:
        previous, self._last_poll = self._last_poll, elapsed
        if status != "processing":
            # Queued: the queue is short; a prompt look tells when processing began.
            return self.queued_interval if self.samples else self.fallback_interval
        if self._processing_seen is None:
            self._processing_seen, self._processing_after = elapsed, previous
        window = self._window()
        if window is None:
            return self.fallback_interval
        # Processing began between the previous poll and this one: take the earliest start for
        # the window's beginning and the latest for its end.
        opens = self._processing_after + window[0]
        closes = self._processing_seen + window[1]
        if elapsed < opens:
            return max(self.dense_interval, min(self.sparse_interval, opens - elapsed))
        if elapsed < closes:
            return self.dense_interval
        return self.fallback_interval

    def expected_total(self) -> float | None:
        if len(self.samples) < self.min_samples or self._processing_seen is None:
            return None
        return self._processing_seen + statistics.median(self.samples)
