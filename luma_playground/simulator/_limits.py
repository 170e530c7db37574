"""An account's tier limits as WaveSpeed applies them, and what the simulator saw of each key.

"Videos / min" counts accepted video submits in any window of a minute (scaled like every wait,
unless a window of its own is given): one more
gets a 429 with `Retry-After`. "Concurrent tasks": a task submitted beyond the limit is
accepted and waits, still created, until one of the key's tasks ends. Either limit is off
when None. Per key, the simulator records the most video tasks active at once (submitted and
not yet ended, whether running or waiting) and the most submits accepted within one window,
so that a client's pacing can be checked from the server's side.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from ._envelopes import ApiError

#: A minute of the account's allowance, in real-world seconds (scaled like every wait).
WINDOW_S = 60.0


@dataclass(slots=True)
class KeyUsage:
    """What one key did: tasks active now and at most, submits per window, 429s received."""

    active: int = 0
    peak_active: int = 0
    peak_submits_per_window: int = 0
    submits: int = 0
    rate_limited: int = 0
    accepted_at: deque[float] = field(default_factory=deque)

    def to_json(self) -> dict[str, int]:
        """The usage as the control API shows it."""
        return {
            "active": self.active,
            "peak_active": self.peak_active,
            "peak_submits_per_window": self.peak_submits_per_window,
            "submits": self.submits,
            "rate_limited": self.rate_limited,
        }


class AccountLimits:
    """Per-key submit rate and concurrency; used only from the simulator's event loop."""

    def __init__(
        self,
        time_scale: float,
        submits_per_minute: int | None = None,
        concurrent_tasks: int | None = None,
        window_s: float | None = None,
    ) -> None:
        self._defaults = (
            submits_per_minute,
            concurrent_tasks,
            WINDOW_S * time_scale if window_s is None else window_s,
        )
        self.submits_per_minute, self.concurrent_tasks, self.window_s = self._defaults
        self._usage: defaultdict[str, KeyUsage] = defaultdict(KeyUsage)
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._holders: dict[str, asyncio.Semaphore] = {}
        self._tracked: set[str] = set()

    def configure(
        self, submits_per_minute: int | None, concurrent_tasks: int | None, window_s: float | None = None
    ) -> None:
        """Set both limits (None: off) and the minute's length; waiting tasks keep their slots."""
        self.submits_per_minute, self.concurrent_tasks = submits_per_minute, concurrent_tasks
        if window_s is not None:
            self.window_s = window_s
        self._slots.clear()

    def admit(self, fingerprint: str) -> None:
        """Count one video submit, or refuse it with a 429 when the key is past its rate."""
        usage, now = self._usage[fingerprint], time.monotonic()
        while usage.accepted_at and usage.accepted_at[0] <= now - self.window_s:
            usage.accepted_at.popleft()
        limit = self.submits_per_minute
        if limit is not None and self.window_s > 0 and len(usage.accepted_at) >= limit:
            usage.rate_limited += 1
            free_in = usage.accepted_at[0] + self.window_s - now
            raise ApiError(
                429,
                f"Rate limit exceeded: {limit} videos per minute",
                headers={"Retry-After": str(max(1, math.ceil(free_in)))},
            )
        usage.accepted_at.append(now)
        usage.submits += 1
        usage.peak_submits_per_window = max(usage.peak_submits_per_window, len(usage.accepted_at))

    def started(self, task_id: str, fingerprint: str) -> None:
        """A video task was created: it is active until `ended`."""
        self._tracked.add(task_id)
        usage = self._usage[fingerprint]
        usage.active += 1
        usage.peak_active = max(usage.peak_active, usage.active)

    async def acquire(self, task_id: str, fingerprint: str) -> None:
        """Wait, still created, until the key runs fewer tasks than its concurrency allows."""
        if self.concurrent_tasks is None:
            return
        slot = self._slots.get(fingerprint)
        if slot is None:
            slot = self._slots[fingerprint] = asyncio.Semaphore(max(1, self.concurrent_tasks))
        await slot.acquire()
        self._holders[task_id] = slot

    def ended(self, task_id: str, fingerprint: str) -> None:
        """A task ended (any way): free its slot and stop counting it as active."""
        slot = self._holders.pop(task_id, None)
        if slot is not None:
            slot.release()
        if task_id in self._tracked:
            self._tracked.discard(task_id)
            self._usage[fingerprint].active -= 1

    def snapshot(self) -> dict[str, Any]:
        """The limits and each key's usage, as JSON."""
        return {
            "submits_per_minute": self.submits_per_minute,
            "concurrent_tasks": self.concurrent_tasks,
            "window_s": self.window_s,
            "keys": {fingerprint: usage.to_json() for fingerprint, usage in self._usage.items()},
        }

    def clear(self) -> None:
        """Back to the configured limits, with no usage remembered."""
        self.submits_per_minute, self.concurrent_tasks, self.window_s = self._defaults
        self._usage.clear()
        self._slots.clear()
        self._holders.clear()
        self._tracked.clear()
