"""Lanes: a client keeps at most so many API calls, and so many transfers, in flight at once."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from luma_playground import ApiKey, GenerationRequest, WaveSpeedClient
from luma_playground._wavespeed.client import API_LANES, TRANSFER_LANES
from luma_playground._wavespeed.connections import FairLanes, FairWorkers
from luma_playground._wavespeed.retry import RetryPolicy

pytestmark = pytest.mark.anyio
KEY = ApiKey("sk-lanes-test-key")
VIDEO = b"\x00\x00\x00\x18ftypisom" + bytes(4096)


@dataclass
class SlowServer:
    """Answers every request on 127.0.0.1 after `delay` s, and counts how many were open at once."""

    delay: float = 0.3
    open_now: int = 0
    most_open: int = 0
    answered: int = 0
    url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        length = next(
            (
                int(line.split(":")[1])
                for line in head.split("\r\n")
                if line.lower().startswith("content-length")
            ),
            0,
        )
        await reader.readexactly(length)
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        await asyncio.sleep(self.delay)
        self.open_now -= 1
        if head.startswith("GET /video"):
            body, kind = VIDEO, b"video/mp4"
        else:
            data = {"id": "task-1", "status": "processing", "outputs": [], "download_url": "u"}
            body, kind = json.dumps({"code": 200, "data": data}).encode(), b"application/json"
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: " + kind + b"\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % len(body) + body
        )
        await writer.drain()
        writer.close()
        self.answered += 1


@pytest.fixture
async def slow() -> AsyncIterator[SlowServer]:
    server = SlowServer()
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.url = f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}"
    async with listening:
        yield server


async def test_polls_beyond_the_api_lanes_wait_their_turn(slow: SlowServer) -> None:
    """Eighty polls at once: never more than the lanes on the wire, and every one answered."""
    async with WaveSpeedClient(slow.url, KEY, retry=RetryPolicy(scale=0)) as client:
        answers = await asyncio.gather(*(client.get("task-1") for _ in range(80)))
    assert [answer.status for answer in answers] == ["processing"] * 80
    assert slow.most_open == API_LANES and slow.answered == 80


async def test_downloads_and_uploads_have_lanes_of_their_own(
    slow: SlowServer, tmp_path: Path, landscape_image
) -> None:  # type: ignore[no-untyped-def]
    """Downloads and uploads at once fill the transfer lanes only; polls beside them still go out."""
    async with WaveSpeedClient(slow.url, KEY, retry=RetryPolicy(scale=0)) as client:
        transfers = [
            *(client.download(f"{slow.url}/video/{n}", tmp_path / f"{n}.mp4") for n in range(24)),
            *(client.upload_image(landscape_image) for _ in range(16)),
        ]
        moving = asyncio.gather(*transfers)
        while slow.most_open < TRANSFER_LANES:
            await asyncio.sleep(0.01)
        polls = await asyncio.wait_for(asyncio.gather(*(client.get("task-1") for _ in range(8))), 10)
        # Answered while the transfers (three turns of 0.3 s) were still going.
        assert len(polls) == 8 and not moving.done()
        await moving
    assert slow.most_open == TRANSFER_LANES + 8
    assert all((tmp_path / f"{n}.mp4").read_bytes() == VIDEO for n in range(24))


async def test_a_submit_is_recorded_as_sent_only_once_it_has_its_lane(
    slow: SlowServer, landscape_image
) -> None:  # type: ignore[no-untyped-def]
    """With one lane busy, the submit waits before `sending` marks it sent, not after."""
    sent_after: list[int] = []

    async def sending() -> None:
        sent_after.append(slow.answered)

    async with WaveSpeedClient(slow.url, KEY, retry=RetryPolicy(scale=0), api_lanes=1) as client:
        poll = asyncio.ensure_future(client.get("task-1"))
        while slow.open_now == 0:
            await asyncio.sleep(0.01)
        request = GenerationRequest.create(landscape_image, "a slow pan")
        prediction = await client.submit(request, "https://pictures.example/a.png", sending=sending)
        await poll
    assert prediction.id == "task-1"
    assert sent_after == [1]  # marked sent once the poll ahead of it had its answer


async def test_keys_take_turns_for_a_lane() -> None:
    """Waiters are served one key at a time: B's one request goes before A's second, not after A's last."""
    lanes = FairLanes(1)
    order: list[str] = []
    release = asyncio.Event()

    async def hold(key: str, name: str) -> None:
        async with lanes.lane(key):
            order.append(name)
            await release.wait()

    first = asyncio.ensure_future(hold("a", "a0"))
    await asyncio.sleep(0)
    waiters = [asyncio.ensure_future(hold("a", f"a{n}")) for n in (1, 2, 3)]
    waiters.append(asyncio.ensure_future(hold("b", "b1")))
    cancelled = asyncio.ensure_future(hold("c", "c1"))
    await asyncio.sleep(0)
    cancelled.cancel()  # a waiter that gives up leaves no hole in the round
    release.set()
    await asyncio.gather(first, *waiters)
    assert order == ["a0", "a1", "b1", "a2", "a3"]
    assert lanes.in_use == 0


@pytest.mark.slow
async def test_another_keys_one_download_waits_for_one_round_not_the_queue(
    slow: SlowServer, tmp_path: Path
) -> None:
    """With key A's 20 downloads queued on 2 lanes, key B's one is answered before A's fifth."""
    other = ApiKey("sk-lanes-other-key")
    async with WaveSpeedClient(slow.url, KEY, retry=RetryPolicy(scale=0), transfer_lanes=2) as client:
        mine = KEY.fingerprint
        batch = [
            asyncio.ensure_future(
                client.download(f"{slow.url}/video/{n}", tmp_path / f"a{n}.mp4", key_fingerprint=mine)
            )
            for n in range(20)
        ]
        while slow.open_now < 2:
            await asyncio.sleep(0.01)
        await client.download(f"{slow.url}/video/b", tmp_path / "b.mp4", key_fingerprint=other.fingerprint)
        answered_before_b = slow.answered - 1
        await asyncio.gather(*batch)
    assert answered_before_b <= 4, answered_before_b  # the 2 on the wire, then at most one round
    assert slow.most_open == 2


async def test_a_pool_serves_the_keys_waiting_for_its_workers_in_turn() -> None:
    """On one busy worker, key B's one job runs after one of key A's queued jobs, not after all ten."""
    workers = FairWorkers(1, "lanes-test")
    started = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def job(name: str) -> str:
        order.append(name)
        started.set()
        release.wait(10)
        return name

    holder = asyncio.ensure_future(workers.run("a", job, "a0"))
    await asyncio.to_thread(started.wait, 10)
    queued = [asyncio.ensure_future(workers.run("a", job, f"a{n}")) for n in range(1, 11)]
    await asyncio.sleep(0)
    alone = asyncio.ensure_future(workers.run("b", job, "b"))
    await asyncio.sleep(0)
    release.set()
    assert await alone == "b"
    await asyncio.gather(holder, *queued)
    assert order.index("b") == 2, order  # a0 held the worker; a1 had the turn before B came
