"""Batch benchmark: 50 generations paced to an account's limits, checked from the server's side.

The simulator (in a process of its own) enforces a small tier: 3 tasks at once and 12 submits
per minute, the minute shortened to 12 s and the tasks to about a second (time scale 0.02),
so that the per-minute limit is the one that binds and the run takes about a minute. The
playground starts all 50 at once; every generation takes a slot of its key's `Pace` and
every submit waits for the pace. Measured: the total time against the ideal for those limits
(each submit at the first instant both limits allow, each task as long as the simulator
planned it), and what the simulator saw: the most tasks active at once, the most submits
within one window, and the 429s it had to send.
`python benchmarks/batch.py [--tasks 50]`
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import tempfile
import time
from collections import deque
from pathlib import Path

from _common import KEY, Figure, SimulatorProcess, arguments, photo, report, task_records

from luma_playground import ApiKey, Done, GenerationRequest, Journal, WaveSpeedClient
from luma_playground._run.pipeline import Pipeline
from luma_playground._wavespeed.pacing import PaceLimits, Pacing
from luma_playground.simulator import key_fingerprint

TIME_SCALE = 0.02
CONCURRENCY = 3
SUBMITS_PER_WINDOW = 12
WINDOW_S = 12.0
PROMPT = "a slow pan over the rooftops"


def ideal_seconds(durations: list[float]) -> float:
    """The shortest run of these tasks, in order, within the concurrency and the rate."""
    running: list[float] = []  # when each running task ends
    sent: deque[float] = deque()
    now = finish = 0.0
    for duration in durations:
        while len(running) >= CONCURRENCY:
            now = max(now, heapq.heappop(running))
        while sent and sent[0] <= now - WINDOW_S:
            sent.popleft()
        if len(sent) >= SUBMITS_PER_WINDOW:
            now = sent[len(sent) - SUBMITS_PER_WINDOW] + WINDOW_S
        sent.append(now)
        heapq.heappush(running, now + duration)
        finish = max(finish, now + duration)
    return finish


async def run_batch(simulator: SimulatorProcess, count: int, work: Path) -> tuple[float, list[str]]:
    """Start `count` generations at once through the pace; seconds until the last is saved."""
    key = ApiKey(KEY)
    limits = PaceLimits(concurrency=CONCURRENCY, submits_per_minute=SUBMITS_PER_WINDOW, window=WINDOW_S)
    pacing = Pacing(limits)
    client = WaveSpeedClient(simulator.base_url, key, pacing=pacing)
    journal = Journal(work / "journal.sqlite3")
    pipeline = Pipeline.create(client, journal, work / "outputs")
    request = GenerationRequest.create(photo(work / "rooftops.jpg"), PROMPT)
    image_url = await client.upload_image(request.image, api_key=key)

    async def generate() -> str:
        async with pacing.pace(key.fingerprint):
            events = [e async for e in pipeline.generate(request, api_key=key, image_url=image_url)]
        assert isinstance(events[-1], Done)
        return events[-1].task_id

    started = time.monotonic()
    try:
        task_ids = await asyncio.gather(*(generate() for _ in range(count)))
    finally:
        await client.aclose()
        journal.close()
    return time.monotonic() - started, list(task_ids)


def measure(count: int, work: Path) -> list[Figure]:
    with SimulatorProcess(TIME_SCALE, seed=3) as simulator:
        simulator.control.set_account(KEY, balance=10_000)
        simulator.control.set_limits(
            submits_per_minute=SUBMITS_PER_WINDOW, concurrent_tasks=CONCURRENCY, window_s=WINDOW_S
        )
        elapsed, task_ids = asyncio.run(run_batch(simulator, count, work))
        records = sorted(task_records(simulator.control, task_ids), key=lambda r: float(r["created_at"]))  # type: ignore[arg-type]
        usage = simulator.control.limits()["keys"][key_fingerprint(KEY)]
    durations = [TIME_SCALE * (r["planned"]["queue_s"] + r["planned"]["inference_s"]) for r in records]  # type: ignore[index]
    ideal = ideal_seconds(durations)
    completed = sum(r["status"] == "completed" for r in records)
    limits = f"{CONCURRENCY} at once, {SUBMITS_PER_WINDOW} per {WINDOW_S:.0f} s window"
    return [
        Figure("11", "batch: generations completed", completed, "", count, f"value >= {count}", limits),
        Figure(
            "11",
            "batch: total time, against the ideal for the limits",
            elapsed,
            "s",
            ideal,
            "ratio <= 1.1",
            f"{count} tasks of {min(durations):.1f}-{max(durations):.1f} s each",
        ),
        Figure(
            "11",
            "batch: most tasks active at once (simulator)",
            usage["peak_active"],
            "",
            CONCURRENCY,
            f"value <= {CONCURRENCY}",
        ),
        Figure(
            "11",
            "batch: most submits in one window (simulator)",
            usage["peak_submits_per_window"],
            "",
            SUBMITS_PER_WINDOW,
            f"value <= {SUBMITS_PER_WINDOW}",
        ),
        Figure("11", "batch: 429s sent by the simulator", usage["rate_limited"], "", None, "value <= 0"),
    ]


def main() -> int:
    def options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--tasks", type=int, default=50)

    args = arguments(__doc__.splitlines()[0], options)
    limits = f"{CONCURRENCY} at once, {SUBMITS_PER_WINDOW} per {WINDOW_S:.0f} s"
    print(f"batch benchmark: {args.tasks} generations, {limits}")
    with tempfile.TemporaryDirectory(prefix="luma-batch-") as folder:
        figures = measure(args.tasks, Path(folder))
    return report("Batch at a tier's limits (target 9)", figures, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
