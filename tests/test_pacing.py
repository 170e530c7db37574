"""Pacing to the account: slots, submits per minute and 429s, on a fake clock and over real HTTP."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from pathlib import Path

import pytest

from luma_playground import ApiKey, GenerationRequest, Settings, WaveSpeedClient
from luma_playground._wavespeed.pacing import TIERS, Pace, PaceLimits, Pacing
from luma_playground._wavespeed.retry import RetryPolicy
from luma_playground.simulator import key_fingerprint

pytestmark = pytest.mark.anyio
KEY = ApiKey("sk-pacing-test")


class FakeClock:
    """Time that moves only when the test says so; sleepers wake in order of their deadline."""

    def __init__(self) -> None:
        self.time = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        waiter = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.time + seconds, next(self._order), waiter))
        await waiter

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, waking every sleeper due on the way at its instant."""
        target = self.time + seconds
        await _settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            due, _, waiter = heapq.heappop(self._sleepers)
            self.time = max(self.time, due)
            if not waiter.done():
                waiter.set_result(None)
            await _settle()
        self.time = target
        await _settle()


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


class Submits:
    """Submits through a pace, each answered at once; records the fake instant each was sent."""

    def __init__(self, pace: Pace, clock: FakeClock) -> None:
        self.pace, self.clock = pace, clock
        self.sent: list[float] = []

    async def one(self, *, rate_limited: bool = False, retry_after: float | None = None) -> None:
        await self.pace.before_submit()
        self.sent.append(self.clock.now())
        self.pace.after_submit(rate_limited=rate_limited, retry_after=retry_after)

    def start(self, count: int) -> list[asyncio.Task[None]]:
        return [asyncio.ensure_future(self.one()) for _ in range(count)]


async def test_bronze_sends_five_at_once_then_waits_a_minute() -> None:
    """Seven submits on Bronze: five at once, the other two when the first answers are a minute old."""
    clock = FakeClock()
    submits = Submits(Pace(PaceLimits.for_tier("bronze"), clock), clock)
    tasks = submits.start(7)
    await clock.advance(59.9)
    assert submits.sent == [0.0] * 5
    assert submits.pace.delay() == pytest.approx(0.1)
    await clock.advance(0.2)
    assert submits.sent == [0.0] * 5 + [60.0, 60.0]
    await asyncio.gather(*tasks)


async def test_a_submit_counts_from_its_answer() -> None:
    """A slow answer moves its place in the window: the server counted it no earlier than that."""
    clock = FakeClock()
    pace = Pace(PaceLimits(concurrency=3, submits_per_minute=1), clock)
    await pace.before_submit()
    await clock.advance(2.0)
    pace.after_submit()
    submits = Submits(pace, clock)
    task = submits.start(1)[0]
    await clock.advance(59.0)
    assert submits.sent == []
    await clock.advance(1.5)
    assert submits.sent == [62.0]
    await task


async def test_a_submit_in_flight_holds_its_place_until_answered() -> None:
    """With the window full of unanswered submits, the next waits for an answer, then its minute."""
    clock = FakeClock()
    pace = Pace(PaceLimits(concurrency=3, submits_per_minute=2), clock)
    await pace.before_submit()
    await pace.before_submit()
    assert pace.delay() == float("inf")
    waiting = asyncio.ensure_future(pace.before_submit())
    await clock.advance(100.0)
    assert not waiting.done()
    pace.after_submit()
    await clock.advance(59.9)
    assert not waiting.done()
    await clock.advance(0.2)
    assert waiting.done()


async def test_a_429_halves_the_rate_and_honours_retry_after() -> None:
    """After a 429 with Retry-After 10, nothing goes for 10 s and the rate is halved for a minute."""
    clock = FakeClock()
    pace = Pace(PaceLimits(concurrency=10, submits_per_minute=8, window=60.0, cooldown=60.0), clock)
    submits = Submits(pace, clock)
    await submits.one(rate_limited=True, retry_after=10.0)
    assert pace.rate == 4 and pace.rate_limited == 1
    tasks = submits.start(6)
    await clock.advance(9.9)
    assert submits.sent == [0.0]
    await clock.advance(0.2)
    assert submits.sent == [0.0] + [10.0] * 4
    await clock.advance(59.9)  # the slow minute is over, and the four sent at 10 s still count
    assert pace.rate == 8 and submits.sent[5:] == [60.0, 60.0]
    await asyncio.gather(*tasks)


async def test_a_429_without_retry_after_waits_one_interval_of_the_slower_rate() -> None:
    """No Retry-After: the next submit waits one window divided by the halved rate."""
    clock = FakeClock()
    pace = Pace(PaceLimits(concurrency=10, submits_per_minute=6), clock)
    submits = Submits(pace, clock)
    await submits.one(rate_limited=True)
    task = submits.start(1)[0]
    await clock.advance(19.9)
    assert submits.sent == [0.0]
    await clock.advance(0.2)
    assert submits.sent == [0.0, 20.0]
    await task


async def test_slots_limit_tasks_running_at_once() -> None:
    """A fourth task on Bronze waits for a slot; the pace reports itself locked meanwhile."""
    pace = Pacing(PaceLimits.for_tier("bronze")).pace("key")
    release = asyncio.Event()
    peak = 0

    async def run() -> None:
        nonlocal peak
        async with pace.slot():
            peak = max(peak, pace.running)
            await release.wait()

    tasks = [asyncio.ensure_future(run()) for _ in range(4)]
    await _settle()
    assert pace.running == 3 and pace.locked() and peak == 3
    release.set()
    await asyncio.gather(*tasks)
    assert pace.running == 0 and not pace.locked() and peak == 3


def test_tiers_follow_the_contract_and_settings_override_them() -> None:
    """The tier table, the tier setting and the explicit overrides from the environment."""
    assert [(t.name, t.concurrency, t.submits_per_minute) for t in TIERS.values()] == [
        ("bronze", 3, 5),
        ("silver", 100, 60),
        ("gold", 2000, 600),
        ("ultra", 5000, 5000),
    ]
    gold = Settings.from_env({"LUMA_PLAYGROUND_TIER": "Gold"})
    assert (gold.tier, gold.tasks_per_key, gold.submits_per_minute) == ("gold", 2000, 600)
    mixed = Settings.from_env({"LUMA_PLAYGROUND_TIER": "silver", "LUMA_PLAYGROUND_SUBMITS_PER_MINUTE": "30"})
    assert mixed.pace_limits == PaceLimits(concurrency=100, submits_per_minute=30)
    assert Settings.from_env({}).pace_limits == PaceLimits(concurrency=3, submits_per_minute=5)
    with pytest.raises(ValueError, match="bronze, silver, gold, ultra"):
        Settings.from_env({"LUMA_PLAYGROUND_TIER": "platinum"})
    assert PaceLimits.for_tier("bronze", concurrency=1).concurrency == 1


async def _submit_many(client: WaveSpeedClient, image: Path, count: int) -> list[str]:
    request = GenerationRequest.create(image, "a paced harbour")
    image_url = await client.upload_image(request.image, api_key=KEY)
    predictions = await asyncio.gather(
        *(client.submit(request, image_url, api_key=KEY) for _ in range(count))
    )
    return [prediction.id for prediction in predictions]


async def test_paced_client_never_passes_the_servers_rate(sim, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """Eight submits at once, paced to 3 a (scaled) minute: the simulator never refuses one."""
    sim.control.set_limits(submits_per_minute=3, concurrent_tasks=None)
    window = 60 * sim.config.time_scale
    pacing = Pacing(PaceLimits(concurrency=8, submits_per_minute=3, window=window))
    async with WaveSpeedClient(sim.base_url, KEY, retry=RetryPolicy(scale=0), pacing=pacing) as client:
        task_ids = await _submit_many(client, landscape_image, 8)
    usage = sim.control.limits()["keys"][key_fingerprint(KEY.reveal())]
    assert len(set(task_ids)) == 8 and usage["submits"] == 8
    assert usage["rate_limited"] == 0 and usage["peak_submits_per_window"] == 3


@pytest.mark.slow
async def test_a_429_slows_the_pace_instead_of_a_blind_retry(sim, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """A pace that believes in 6 a minute where the server allows 3 learns from its first 429s."""
    sim.control.set_limits(submits_per_minute=3, concurrent_tasks=None)
    window = 60 * sim.config.time_scale
    pacing = Pacing(PaceLimits(concurrency=8, submits_per_minute=6, window=window, cooldown=10 * window))
    async with WaveSpeedClient(sim.base_url, KEY, retry=RetryPolicy(scale=0), pacing=pacing) as client:
        task_ids = await _submit_many(client, landscape_image, 9)
    usage = sim.control.limits()["keys"][key_fingerprint(KEY.reveal())]
    assert len(set(task_ids)) == 9 and usage["submits"] == 9
    # Without the pace, retries with no backoff would meet hundreds of 429s within one window.
    assert 1 <= usage["rate_limited"] <= 4
    assert pacing.pace(KEY.fingerprint).rate_limited == usage["rate_limited"]


async def test_slots_hold_the_simulators_peak_to_the_concurrency(sim, tmp_path, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """Six generations through two slots: the simulator never sees more than two tasks active."""
    from luma_playground import Done, Journal
    from luma_playground._run.pipeline import Pipeline

    pacing = Pacing(PaceLimits(concurrency=2, submits_per_minute=None))
    client = WaveSpeedClient(sim.base_url, KEY, retry=RetryPolicy(scale=0), pacing=pacing)
    journal = Journal(tmp_path / "journal.sqlite3")
    pipeline = Pipeline.create(client, journal, tmp_path / "outputs")
    request = GenerationRequest.create(landscape_image, "two at a time")

    async def generate() -> Done:
        async with pacing.pace(KEY.fingerprint):
            events = [e async for e in pipeline.generate(request, api_key=KEY)]
        assert isinstance(events[-1], Done)
        return events[-1]

    try:
        done = await asyncio.gather(*(generate() for _ in range(6)))
    finally:
        await client.aclose()
        journal.close()
    usage = sim.control.limits()["keys"][key_fingerprint(KEY.reveal())]
    assert len({d.task_id for d in done}) == 6 and usage["submits"] == 6
    assert usage["peak_active"] == 2
