"""When to retry a request, and how long to wait: retry only what is named here."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ._errors import (
    LumaPlaygroundError,
    NetworkError,
    RateLimited,
    ServerError,
    SubmitOutcomeUnknown,
)

__all__ = ["RetryPolicy", "retry_after_of"]


def retry_after_of(error: BaseException) -> float | None:
    """How long to wait before retrying a GET that failed with `error`; None: do not retry.

    Retryable: network failures, timeouts, 429 and 5xx. Never a lost submit: it may have
    created a task, and sending it again would bill twice.
    """
    if isinstance(error, SubmitOutcomeUnknown):
        return None
    if isinstance(error, RateLimited):
        return error.retry_after if error.retry_after is not None else 0.0
    if isinstance(error, NetworkError | ServerError):
        return 0.0
    return None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with full jitter; `scale=0` removes the waits (tests)."""

    attempts: int = 8
    initial: float = 0.5
    maximum: float = 8.0
    scale: float = 1.0

    def delay(self, attempt: int, error: LumaPlaygroundError) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None when the error is final."""
        hint = retry_after_of(error)
        if hint is None or attempt >= self.attempts:
            return None
        backoff = min(self.maximum, self.initial * 2 ** (attempt - 1))
        jittered = random.uniform(backoff / 2, backoff)
        # The server's Retry-After is a floor: waiting less only earns another 429.
        return max(hint, jittered * self.scale)
