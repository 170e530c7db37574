"""What came back from the wire, as the playground's typed errors: the one place that maps them.

An HTTP answer becomes its `data` or an `ApiError`; a transport failure becomes a
`NetworkError` that says whether the request may have reached the server.
"""

from __future__ import annotations

import datetime as dt
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from .._config import ApiKey
from .._errors import (
    AuthenticationError,
    InsufficientBalance,
    InvalidRequest,
    LumaPlaygroundError,
    NetworkError,
    RateLimited,
    ServerError,
    SubmitOutcomeUnknown,
    TaskNotFound,
)

__all__ = [
    "api_time",
    "data_of",
    "history_item",
    "parse_api_time",
    "retry_after_seconds",
    "submit_error",
    "transport_error",
    "usd",
]

_MESSAGE_LIMIT = 300


def api_time(instant: float) -> str:
    """An instant as WaveSpeed's docs write it: ISO 8601 in UTC with a `Z` (`2023-04-01T12:34:56.789Z`)."""
    moment = dt.datetime.fromtimestamp(instant, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_api_time(value: object) -> float | None:
    """Unix seconds of an API timestamp (`...Z`, an offset, or none: UTC); None when it is not one."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=moment.tzinfo or dt.UTC).timestamp()


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The server's `Retry-After` in seconds from now: delta-seconds or an HTTP-date."""
    raw = response.headers.get("Retry-After", "").strip()
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _server_message(payload: object, key: ApiKey | None) -> str:
    """The server's own explanation, short, single-line and never echoing the key."""
    message = ""
    if isinstance(payload, dict):
        for field in ("message", "error", "detail", "msg"):
            value = payload.get(field)
            if isinstance(value, str) and value.strip():
                message = value
                break
    message = " ".join(message.split())[:_MESSAGE_LIMIT]
    if key is not None:
        message = message.replace(key.reveal(), "[key]")
    return message


def _error_for_status(
    status: int, payload: object, key: ApiKey | None, retry_after: float | None
) -> LumaPlaygroundError:
    """Translate one error answer of the API into the playground's typed error."""
    said = _server_message(payload, key)
    said_lower = said.lower()
    suffix = f" The API said: {said}" if said else ""
    if status == 402 or "balance" in said_lower or "insufficient" in said_lower:
        return InsufficientBalance(
            "Your WaveSpeed balance is too low for this task: top up your account and try again." + suffix,
            status_code=status,
        )
    if status in (401, 403):
        return AuthenticationError(
            "The WaveSpeed API key was refused: check it (a new key works only after the "
            "account's first top-up)." + suffix,
            status_code=status,
        )
    if status == 429:
        wait = f" in {retry_after:.0f} s" if retry_after else " in a minute"
        return RateLimited(
            f"WaveSpeed is rate limiting this key: try again{wait}." + suffix,
            retry_after=retry_after,
        )
    if status == 404:
        return TaskNotFound(
            "WaveSpeed does not know this task: it may belong to another key, or have been "
            "deleted after 7 days." + suffix,
            status_code=status,
        )
    if 400 <= status < 500:
        return InvalidRequest(
            "WaveSpeed refused the request." + (f" It said: {said}" if said else ""),
        )
    return ServerError(
        f"WaveSpeed had a server error (HTTP {status}): try again shortly." + suffix,
        status_code=status,
    )


def _unreadable(response: httpx.Response) -> ServerError:
    return ServerError(
        f"WaveSpeed answered with something that is not its JSON (HTTP {response.status_code}, "
        "probably a gateway fault): try again shortly.",
        status_code=response.status_code,
    )


def data_of(response: httpx.Response, key: ApiKey | None) -> dict[str, Any]:
    """The `data` of a success envelope, or the typed error the response stands for."""
    retry_after = retry_after_seconds(response)
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if response.status_code >= 400:
        if payload is None and response.status_code >= 500:
            raise _unreadable(response)
        raise _error_for_status(response.status_code, payload, key, retry_after)
    if not isinstance(payload, dict):
        raise _unreadable(response)
    code = payload.get("code", 200)
    # The envelope's code is said to mirror the HTTP status; believe whichever reports an error.
    if isinstance(code, int) and code >= 400:
        raise _error_for_status(code, payload, key, retry_after)
    data = payload.get("data")
    if not isinstance(data, dict):
        raise _unreadable(response)
    return data


def _never_sent(exc: httpx.TransportError) -> bool:
    """True only when the request provably never left: the connection could not be opened."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def transport_error(exc: httpx.TransportError, what: str) -> NetworkError:
    """The error for a request that got no answer; `sent=False` when it never left."""
    sent = not _never_sent(exc)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return NetworkError(f"Could not connect to WaveSpeed while {what}: check the network.", sent=sent)
    if isinstance(exc, httpx.TimeoutException):
        return NetworkError(f"WaveSpeed did not answer in time while {what}.", sent=sent)
    return NetworkError(f"The connection to WaveSpeed dropped while {what}.", sent=sent)


def submit_error(error: LumaPlaygroundError) -> LumaPlaygroundError:
    """A submit's failure as its caller must see it: any doubt that a task exists is explicit."""
    if isinstance(error, NetworkError) and error.sent:
        return SubmitOutcomeUnknown(
            "The task was sent to WaveSpeed but its answer was lost, so a task may exist "
            "and be charged: it is not sent again. Look for it in the history before "
            "trying again."
        )
    if isinstance(error, ServerError):
        return SubmitOutcomeUnknown(
            f"WaveSpeed failed while taking the task (HTTP {error.status_code}), so a task "
            "may or may not exist: it is not sent again. Look for it in the history "
            "before trying again."
        )
    return error


def usd(value: object) -> float | None:
    """A price as a number of USD; None when the answer has none."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = float(value)
    except ValueError:
        return None
    return amount if amount >= 0 else None


def history_item(item: dict[str, Any]) -> dict[str, Any]:
    """A history item with its input under `input`, whichever of the two names WaveSpeed used."""
    given = item.get("input")
    if not isinstance(given, dict):
        given = item.get("inputs")
    return (
        {**item, "input": dict(given)}
        if isinstance(given, dict)
        else {k: v for k, v in item.items() if k != "input"}
    )
