"""Who starts work, and how much of the owner's credits they may spend on a shared deployment.

A `Caller` is what every face knows of the person or program behind a start: the name the journal
records as the tasks' owner, and the key they gave, if any; what they made is `Owned`.
`VisitorLimits` holds the running and daily limits that apply when the server's key pays on a
deployment others can reach.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from .._config import ApiKey, Settings
from .._errors import LumaPlaygroundError

__all__ = [
    "DAY",
    "BudgetSpent",
    "Caller",
    "DailyCounts",
    "LimitReached",
    "LoginRequired",
    "ModelNotServed",
    "Owned",
    "VisitorLimits",
]

#: The window of the daily limit, in seconds.
DAY = 24 * 60 * 60.0


class LimitReached(LumaPlaygroundError):
    """A visitor asked for more tasks than a shared deployment allows on the owner's key."""

    kind = "input"
    title = "Limit reached"


class BudgetSpent(LimitReached):
    """The server's key has spent today's budget on a shared deployment."""

    title = "Today's budget is spent"


class LoginRequired(LimitReached):
    """The server's key serves signed-in visitors only, and this one is not."""

    title = "Sign in to use this playground"


class ModelNotServed(LimitReached):
    """The server's key does not serve this model to visitors (`LUMA_PLAYGROUND_MODELS`)."""

    title = "Model not served on this key"


class Owned(Protocol):
    """Something made by an owner with a key on an API: a task's row, a batch."""

    @property
    def owner(self) -> str: ...

    @property
    def backend(self) -> str: ...

    @property
    def key_fingerprint(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks for work: the tasks' owner in the journal, and the key they gave, if any.

    `layers` are every identity the visitor has (login, address, session): the limits on the
    owner's key apply to each, so that a new session from one address shares its limits.
    """

    owner: str = "local"
    user_key: ApiKey | None = field(default=None, repr=False)
    #: The visitor's sign-in name (a login or a Hugging Face account), if signed in.
    login: str | None = None
    layers: tuple[str, ...] = ()
    #: True when `owner` is shared by callers that cannot be told apart (an MCP call with no
    #: login and no key of its own): it counts their limits together and grants no work.
    anonymous: bool = False

    @property
    def limited_as(self) -> tuple[str, ...]:
        """The identities the limits count against: the layers, else the owner alone."""
        return self.layers or (self.owner,)


def _plural(count: int) -> str:
    return "s" if count != 1 else ""


class DailyCounts:
    """The times of each visitor's actions over the last day, for a per-day limit."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._times: dict[str, deque[float]] = {}

    def recent(self, visitor: str) -> deque[float]:
        """The visitor's times within the last day, oldest first (older ones are dropped)."""
        times = self._times.setdefault(visitor, deque())
        horizon = self._clock() - DAY
        while times and times[0] < horizon:
            times.popleft()
        return times

    def add(self, visitor: str, count: int = 1) -> None:
        self.recent(visitor).extend([self._clock()] * count)


class VisitorLimits:
    """The per-visitor running and daily limits, and the starts and suggestions of the last day."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._started = DailyCounts(clock)
        self._suggested = DailyCounts(clock)

    def check(self, settings: Settings, owner: str, running: int, count: int = 1) -> None:
        """Refuse `count` more starts for `owner`, who has `running` tasks going, beyond the limits."""
        running_limit = settings.session_running_limit
        daily_limit = settings.session_daily_limit
        used = len(self._started.recent(owner))
        if count > 1 and running < running_limit < running + count:
            raise LimitReached(
                f"{count} videos at once are more than this shared playground allows: "
                f"{running_limit} at a time, {running} already generating. Ask for fewer, or "
                "enter your own WaveSpeed key."
            )
        if count > 1 and used < daily_limit < used + count:
            raise LimitReached(
                f"{count} more videos would pass this shared playground's limit of {daily_limit} "
                f"a day ({daily_limit - used} left today). Ask for fewer, or enter your own "
                "WaveSpeed key."
            )
        if running >= running_limit:
            raise LimitReached(
                f"You already have {running} video{_plural(running)} generating; this "
                f"shared playground allows {running_limit} at a time. Wait for one to finish, or "
                "enter your own WaveSpeed key."
            )
        if used >= daily_limit:
            raise LimitReached(
                f"You have reached this shared playground's limit of {daily_limit} videos a day. "
                "Enter your own WaveSpeed key to go on."
            )

    def record(self, owner: str, count: int = 1) -> None:
        """Count `count` starts for `owner` against today's limit."""
        self._started.add(owner, count)

    def take_suggestion(self, settings: Settings, layers: tuple[str, ...]) -> None:
        """Count one prompt suggestion against every layer, or refuse it when any has used its day's."""
        limit = settings.session_daily_suggestions
        if any(len(self._suggested.recent(layer)) >= limit for layer in layers):
            raise LimitReached(
                f"This shared playground allows {limit} prompt suggestions a day. Enter your own "
                "WaveSpeed key to ask for more."
            )
        for layer in layers:
            self._suggested.add(layer)
