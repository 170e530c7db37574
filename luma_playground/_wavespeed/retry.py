"""When to retry a request, and how long to wait: retry only what is named here.

Every retried call goes through `retry_call`. What may be retried is a predicate: it takes
the error and answers None (final) or the least wait in seconds (the server's `Retry-After`,
else 0); the policy adds capped, jittered exponential backoff on top of that floor.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from .._errors import NetworkError, OutputError, OutputExpired, RateLimited, ServerError, SubmitOutcomeUnknown

__all__ = [
    "RetryPolicy",
    "Retryable",
    "retry_call",
    "retryable_download",
    "retryable_request",
    "retryable_submit",
]

T = TypeVar("T")

#: The error -> None (do not retry) or the least seconds to wait before the next attempt.
Retryable = Callable[[BaseException], float | None]


def _rate_limit_wait(error: RateLimited) -> float:
    return error.retry_after if error.retry_after is not None else 0.0


def retryable_request(error: BaseException) -> float | None:
    """An idempotent request (a GET, a price): network faults, timeouts, 429 and 5xx.

    Never a lost submit: it may have created a task, and sending it again would bill twice.
    """
    if isinstance(error, SubmitOutcomeUnknown):
        return None
    if isinstance(error, RateLimited):
        return _rate_limit_wait(error)
    if isinstance(error, NetworkError | ServerError):
        return 0.0
    return None


def retryable_submit(error: BaseException) -> float | None:
    """A submit: only when nothing can have been created (a refused connection, or a 429)."""
    if isinstance(error, RateLimited):
        # A 429 is a refusal: nothing was created, so sending again is safe.
        return _rate_limit_wait(error)
    if isinstance(error, NetworkError) and not error.sent:
        return 0.0
    return None


def retryable_download(error: BaseException) -> float | None:
    """A video download: a cut or failed transfer, never a video the API no longer has."""
    if isinstance(error, OutputError) and not isinstance(error, OutputExpired):
        return 0.0
    return None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with full jitter; `scale=0` removes the waits (tests)."""

    attempts: int = 8
    initial: float = 0.5
    maximum: float = 8.0
    scale: float = 1.0

    def delay(self, attempt: int, floor: float | None) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None when it is not to be made.

        `floor` is the predicate's answer: None for a final error.
        """
        if floor is None or attempt >= self.attempts:
            return None
        backoff = min(self.maximum, self.initial * 2 ** (attempt - 1))
        jittered = random.uniform(backoff / 2, backoff)
        # The server's Retry-After is a floor: waiting less only earns another 429.
        return max(floor, jittered * self.scale)


async def retry_call(
    call: Callable[[], Awaitable[T]],
    *,
    on: Retryable,
    policy: RetryPolicy,
    attempts: int | None = None,
    deadline: float | None = None,
    out_of_time: Callable[[BaseException], BaseException] | None = None,
) -> T:
    """`call()` until it returns, or fails with an error `on` does not retry.

    At most `attempts` calls (the policy's by default). When the next wait would pass
    `deadline` (a `time.monotonic()` instant), `out_of_time(error)` is raised instead, or the
    error itself without it.
    """
    limit = policy.attempts if attempts is None else min(attempts, policy.attempts)
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except Exception as error:
            delay = policy.delay(attempt, on(error)) if attempt < limit else None
            if delay is None:
                raise
            if deadline is not None and time.monotonic() + delay > deadline:
                if out_of_time is None:
                    raise
                raise out_of_time(error) from error
            await asyncio.sleep(delay)
