"""Pacing to the account: never more tasks at once, or submits per minute, than the key's tier allows.

WaveSpeed limits each account by tier: tasks running at once (more are accepted but wait)
and video submits per minute (more get a 429). A `Pace` holds one key's allowance: a slot
for each running task (`async with pace:`) and a sliding window of submits
(`await pace.before_submit()` ... `pace.after_submit(...)`). A submit counts from when its
answer arrived, so that the server, which counted it earlier, never sees more than the
limit in any minute. A 429 means the account is busier than this process knows (another
script, another server on the same key): the pace halves for a while and honours
`Retry-After`, instead of sending again at once.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

__all__ = ["TIERS", "Clock", "Pace", "PaceLimits", "Pacing", "Tier"]


@dataclass(frozen=True, slots=True)
class Tier:
    """An account tier: tasks running at once and video submits per minute."""

    name: str
    concurrency: int
    submits_per_minute: int


#: WaveSpeed's tiers (by top-up): Bronze is every new account's.
TIERS: Mapping[str, Tier] = {
    tier.name: tier
    for tier in (
        Tier("bronze", 3, 5),
        Tier("silver", 100, 60),
        Tier("gold", 2000, 600),
        Tier("ultra", 5000, 5000),
    )
}


@dataclass(frozen=True, slots=True)
class PaceLimits:
    """One key's allowance; `submits_per_minute=None` leaves submits unpaced.

    `window` is how long the account's "minute" lasts (60 s; shorter against a simulator
    whose time is scaled). After a 429 the rate is halved for `cooldown` seconds.
    """

    concurrency: int = 3
    submits_per_minute: int | None = 5
    window: float = 60.0
    cooldown: float = 60.0

    @classmethod
    def for_tier(
        cls,
        tier: str = "bronze",
        *,
        concurrency: int | None = None,
        submits_per_minute: int | None = None,
        window: float = 60.0,
    ) -> PaceLimits:
        """The limits of a named tier, with explicit overrides; ValueError for an unknown tier."""
        try:
            known = TIERS[tier.strip().lower()]
        except KeyError:
            raise ValueError(f"unknown tier {tier!r}: one of {', '.join(TIERS)}") from None
        return cls(
            concurrency=max(1, concurrency or known.concurrency),
            submits_per_minute=max(1, submits_per_minute or known.submits_per_minute),
            window=window,
            cooldown=window,
        )


class Clock(Protocol):
    """Where a pace reads the time and waits (a fake one in tests)."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class _MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Pace:
    """One key's allowance: a slot per running task, and the submits of the last minute.

    Used as the slot itself (`async with pace:`, `pace.locked()`), like the semaphore it
    replaces. Submits wait their turn in order.
    """

    def __init__(self, limits: PaceLimits, clock: Clock | None = None) -> None:
        self.limits = limits
        self._clock = clock or _MonotonicClock()
        self._slots = asyncio.Semaphore(max(1, limits.concurrency))
        self.running = 0
        #: When the answers of the submits in the window arrived, oldest first.
        self._sent: deque[float] = deque()
        self._in_flight = 0
        self._turn = asyncio.Lock()
        self._answered = asyncio.Event()
        self._paused_until = -math.inf
        self._slowed_until = -math.inf
        self._slowed_rate: int | None = None
        self.rate_limited = 0

    def __repr__(self) -> str:
        return (
            f"Pace(running={self.running}/{self.limits.concurrency}, "
            f"rate={self.rate}/{self.limits.window:g}s, in_flight={self._in_flight})"
        )

    # -- the slot: tasks running at once ---------------------------------------------------

    @property
    def concurrency(self) -> int:
        return max(1, self.limits.concurrency)

    def locked(self) -> bool:
        """True when every slot is taken: a new task would wait."""
        return self._slots.locked()

    def slot(self) -> Pace:
        """The slot as an async context manager (the pace itself)."""
        return self

    async def __aenter__(self) -> Pace:
        await self._slots.acquire()
        self.running += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.running -= 1
        self._slots.release()

    # -- submits per minute ----------------------------------------------------------------

    @property
    def rate(self) -> int | None:
        """Submits allowed per window now: the tier's, or less for a while after a 429."""
        full = self.limits.submits_per_minute
        if full is None or self._slowed_rate is None:
            return full
        if self._clock.now() >= self._slowed_until:
            self._slowed_rate = None
            return full
        return self._slowed_rate

    def delay(self) -> float:
        """Seconds until a submit could go out (0: now; inf: once a submit in flight is answered)."""
        now = self._clock.now()
        rate = self.rate
        while self._sent and self._sent[0] <= now - self.limits.window:
            self._sent.popleft()
        if now < self._paused_until:
            return self._paused_until - now
        if rate is None or len(self._sent) + self._in_flight < rate:
            return 0.0
        excess = len(self._sent) + self._in_flight - rate
        # The oldest answers leave the window first: enough of them must leave.
        wait = math.inf if excess >= len(self._sent) else self._sent[excess] + self.limits.window - now
        # A slowed pace ends at its time, and with it perhaps the wait.
        return min(wait, self._slowed_until - now) if self._slowed_rate is not None else wait

    async def before_submit(self) -> None:
        """Wait until one more submit fits the allowance, and count it (call `after_submit` next)."""
        async with self._turn:
            while (wait := self.delay()) > 0:
                self._answered.clear()
                if math.isinf(wait):
                    await self._answered.wait()
                else:
                    await self._sleep_or_answer(wait)
            self._in_flight += 1

    async def _sleep_or_answer(self, seconds: float) -> None:
        # An answer may end the wait early (a 429 that frees its place), so both are watched.
        sleeping = asyncio.ensure_future(self._clock.sleep(seconds))
        answered = asyncio.ensure_future(self._answered.wait())
        try:
            await asyncio.wait({sleeping, answered}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeping.cancel()
            answered.cancel()

    def after_submit(self, *, rate_limited: bool = False, retry_after: float | None = None) -> None:
        """Record the answer of a submit counted by `before_submit`.

        `rate_limited`: a 429 created nothing and does not count, but slows the pace: half
        the rate for `cooldown` seconds, and no submit for `retry_after` seconds (or one
        interval of the slower rate without it).
        """
        now = self._clock.now()
        self._in_flight = max(0, self._in_flight - 1)
        if rate_limited:
            self.rate_limited += 1
            current = self.rate or max(1, self._in_flight + len(self._sent))
            self._slowed_rate = max(1, current // 2)
            self._slowed_until = now + self.limits.cooldown
            pause = retry_after if retry_after is not None else self.limits.window / self._slowed_rate
            self._paused_until = max(self._paused_until, now + pause)
        else:
            self._sent.append(now)
        self._answered.set()


class Pacing:
    """The paces of every key one process uses, by key fingerprint ("" for no key)."""

    def __init__(self, limits: PaceLimits | None = None, clock: Clock | None = None) -> None:
        self.limits = limits or PaceLimits()
        self._clock = clock
        self._paces: dict[str, Pace] = {}

    def __repr__(self) -> str:
        return f"Pacing({self.limits!r}, keys={len(self._paces)})"

    def pace(self, fingerprint: str) -> Pace:
        """The pace of one key, made on first use."""
        pace = self._paces.get(fingerprint)
        if pace is None:
            pace = self._paces[fingerprint] = Pace(self.limits, self._clock)
        return pace
