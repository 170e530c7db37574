"""Which errors are retried, how long is waited, and both forms of `Retry-After`."""

from __future__ import annotations

import datetime as dt
import socket
from email.utils import format_datetime

import pytest

from luma_playground import (
    AuthenticationError,
    DeadlineExceeded,
    GenerationRequest,
    InsufficientBalance,
    InvalidRequest,
    NetworkError,
    OutputError,
    OutputExpired,
    RateLimited,
    ServerError,
    SubmitOutcomeUnknown,
    TaskNotFound,
    WaveSpeedClient,
)
from luma_playground._wavespeed.retry import (
    RetryPolicy,
    retry_call,
    retryable_download,
    retryable_request,
    retryable_submit,
)

KEY = "sk-retry-test-0123456789"

UNSENT = NetworkError("could not connect", sent=False)
SENT = NetworkError("the connection dropped")
FINAL_FOR_ALL = [
    AuthenticationError("refused", status_code=401),
    InsufficientBalance("top up", status_code=402),
    InvalidRequest("bad size"),
    TaskNotFound("no such task", status_code=404),
    ValueError("not ours"),
]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (UNSENT, 0.0),
        (SENT, 0.0),
        (ServerError("502", status_code=502), 0.0),
        (RateLimited("slow down", retry_after=3.0), 3.0),
        (RateLimited("slow down"), 0.0),
        (SubmitOutcomeUnknown("a task may exist"), None),
        (OutputError("cut short"), None),
        *[(error, None) for error in FINAL_FOR_ALL],
    ],
)
def test_idempotent_requests_retry_transient_faults(error: BaseException, expected: float | None) -> None:
    """A GET is retried on network faults, 429 (its Retry-After the floor) and 5xx, nothing else."""
    assert retryable_request(error) == expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (UNSENT, 0.0),
        (RateLimited("slow down", retry_after=2.5), 2.5),
        (RateLimited("slow down"), 0.0),
        (SENT, None),
        (ServerError("500", status_code=500), None),
        (SubmitOutcomeUnknown("a task may exist"), None),
        *[(error, None) for error in FINAL_FOR_ALL],
    ],
)
def test_a_submit_is_retried_only_when_nothing_was_created(
    error: BaseException, expected: float | None
) -> None:
    """A submit is resent after a refused connection or a 429 only: never when it may have arrived."""
    assert retryable_submit(error) == expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (OutputError("cut short"), 0.0),
        (OutputExpired("gone"), None),
        (SENT, None),
        (ServerError("500", status_code=500), None),
    ],
)
def test_a_download_is_retried_unless_the_video_is_gone(error: BaseException, expected: float | None) -> None:
    """A failed download is tried again; one the API no longer has is not."""
    assert retryable_download(error) == expected


def test_the_policy_waits_at_least_the_floor_and_stops_after_its_attempts() -> None:
    """Backoff is capped and jittered, never below the server's wait, and ends at `attempts`."""
    policy = RetryPolicy(attempts=3, initial=1.0, maximum=2.0)
    assert 0.5 <= policy.delay(1, 0.0) <= 1.0
    assert 1.0 <= policy.delay(2, 0.0) <= 2.0
    assert policy.delay(2, 30.0) == 30.0
    assert policy.delay(3, 0.0) is None
    assert policy.delay(1, None) is None
    assert RetryPolicy(scale=0).delay(1, 0.0) == 0.0


class Flaky:
    """An attempt that fails with `errors` in turn, then returns "done"; counts its calls."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


@pytest.mark.anyio
async def test_retry_call_retries_what_the_predicate_names() -> None:
    """Retryable errors are retried until the call succeeds; a final one is raised at once."""
    flaky = Flaky(SENT, ServerError("503", status_code=503))
    assert await retry_call(flaky, on=retryable_request, policy=RetryPolicy(scale=0)) == "done"
    assert flaky.calls == 3
    final = Flaky(InvalidRequest("bad"), SENT)
    with pytest.raises(InvalidRequest):
        await retry_call(final, on=retryable_request, policy=RetryPolicy(scale=0))
    assert final.calls == 1


@pytest.mark.anyio
async def test_retry_call_stops_at_the_attempts_and_before_the_deadline() -> None:
    """The last error is raised after `attempts`; a wait past the deadline raises `out_of_time`."""
    capped = Flaky(*[SENT] * 5)
    with pytest.raises(NetworkError):
        await retry_call(capped, on=retryable_request, policy=RetryPolicy(scale=0), attempts=2)
    assert capped.calls == 2
    late = Flaky(RateLimited("slow down", retry_after=60.0))
    with pytest.raises(DeadlineExceeded) as raised:
        await retry_call(
            late,
            on=retryable_request,
            policy=RetryPolicy(),
            deadline=0.0,
            out_of_time=lambda error: DeadlineExceeded("out of time"),
        )
    assert late.calls == 1 and isinstance(raised.value.__cause__, RateLimited)


@pytest.fixture
async def client(sim):  # type: ignore[no-untyped-def]
    async with WaveSpeedClient(sim.base_url, KEY, retry=RetryPolicy(attempts=1, scale=0)) as client:
        yield client


@pytest.mark.anyio
async def test_retry_after_in_seconds_over_http(client, sim) -> None:  # type: ignore[no-untyped-def]
    """A 429's `Retry-After: 7` reaches the error as 7 seconds."""
    sim.control.add_fault("balance", "status", status=429, retry_after=7, count=-1)
    with pytest.raises(RateLimited) as raised:
        await client.balance()
    assert raised.value.retry_after == 7.0


@pytest.mark.anyio
async def test_retry_after_as_an_http_date_over_http(client, sim) -> None:  # type: ignore[no-untyped-def]
    """A 429's `Retry-After` HTTP-date becomes the seconds until then; a past date is no wait."""
    soon = format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120), usegmt=True)
    sim.control.add_fault("balance", "status", status=429, retry_after=soon, count=1)
    with pytest.raises(RateLimited) as raised:
        await client.balance()
    assert raised.value.retry_after is not None and 60 < raised.value.retry_after <= 120
    sim.control.add_fault("balance", "status", status=429, retry_after="Wed, 21 Oct 2026 07:28:00 GMT")
    with pytest.raises(RateLimited) as raised:
        await client.balance()
    assert raised.value.retry_after == 0.0


@pytest.mark.anyio
async def test_a_refused_submit_connection_is_a_network_error(landscape_image) -> None:  # type: ignore[no-untyped-def]
    """A submit nobody could receive is retried, then fails as never sent, not as a lost submit."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    request = GenerationRequest.create(landscape_image, "pan left")
    async with WaveSpeedClient(
        f"http://127.0.0.1:{port}", KEY, retry=RetryPolicy(attempts=3, scale=0)
    ) as client:
        with pytest.raises(NetworkError) as raised:
            await client.submit(request, "https://images.example.com/cat.png")
    assert not isinstance(raised.value, SubmitOutcomeUnknown) and raised.value.sent is False
