"""Concurrency benchmark (target 5): 1,000 generations at once in one app process.

Each arm runs in a fresh process of its own against a simulator in another process:

- pipeline: 1,000 `Pipeline.generate` at once on one event loop (the playground);
- threads: the naive wrapper, a thread per generation (what a synchronous Gradio handler
  gets), each polling every second with a blocking client and reading the video into memory.

Measured in the arm's process: that every generation completes, the lag of an event loop
(how late a 10 ms sleep wakes up: the Gradio server's loop would see the same), the growth
of resident memory over the run, and the number of threads.
`python benchmarks/concurrency.py [--generations 1000]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import KEY, Figure, SimulatorProcess, arguments, photo, quantile, report

#: Realistic timings (a minute of inference for a 5 s clip): the poll rate, and so the loop's
#: load, depends on them.
TIME_SCALE = 1.0
PROMPT = "orbit around the lighthouse"


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


class Monitor:
    """Samples event-loop lag, memory and threads every 10 ms on the running loop."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.peak_rss = rss_mb()
        self.peak_threads = os_threads()
        self._running = True

    async def run(self) -> None:
        while self._running:
            started = time.perf_counter()
            await asyncio.sleep(0.01)
            self.lags.append(time.perf_counter() - started - 0.01)
            self.peak_rss = max(self.peak_rss, rss_mb())
            self.peak_threads = max(self.peak_threads, os_threads())

    def stop(self) -> None:
        self._running = False


async def pipeline_arm(
    base_url: str, count: int, work: Path, journal_path: Path | None = None
) -> dict[str, float]:
    """`count` generations at once on this loop; `journal_path` may be a file others write too."""
    from luma_playground import ApiKey, Done, GenerationRequest, Journal, WaveSpeedClient
    from luma_playground._run.pipeline import Pipeline

    image = photo(work / "lighthouse.jpg")
    request = GenerationRequest.create(image, PROMPT)
    client = WaveSpeedClient(base_url, KEY)
    journal = Journal(journal_path or work / "journal.sqlite3")
    pipeline = Pipeline.create(client, journal, work / "outputs")

    async def generate() -> bool:
        events = [e async for e in pipeline.generate(request, api_key=ApiKey(KEY))]
        return isinstance(events[-1], Done)

    await generate()  # warm: imports, connections, the render
    before = rss_mb()
    monitor = Monitor()
    watching = asyncio.ensure_future(monitor.run())
    started = time.monotonic()
    results = await asyncio.gather(*(generate() for _ in range(count)), return_exceptions=True)
    elapsed = time.monotonic() - started
    monitor.stop()
    await watching
    await client.aclose()
    for failure in {repr(r) for r in results if r is not True}:
        print(f"failed: {failure}", file=sys.stderr)
    return {
        "completed": sum(r is True for r in results),
        "lag_p99": quantile(monitor.lags, 0.99),
        "growth": monitor.peak_rss - before,
        "threads": monitor.peak_threads,
        "elapsed": elapsed,
    }


def threads_arm(base_url: str, count: int, work: Path) -> dict[str, float]:
    import httpx

    image = photo(work / "lighthouse.jpg")
    http = httpx.Client(
        base_url=base_url,
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=60,
        limits=httpx.Limits(max_connections=count),
    )

    def generate(index: int) -> bool:
        with image.open("rb") as file:
            uploaded = http.post("/api/v3/media/upload/binary", files={"file": file}).json()
        body = {"image": uploaded["data"]["download_url"], "prompt": PROMPT}
        task_id = http.post("/api/v3/luma/ray-2-i2v", json=body).json()["data"]["id"]
        while True:
            data = http.get(f"/api/v3/predictions/{task_id}/result").json()["data"]
            if data["status"] not in ("created", "processing"):
                break
            time.sleep(1.0)
        video = http.get(data["outputs"][0]).content
        (work / f"{index}.mp4").write_bytes(video)
        return True

    generate(-1)  # warm
    results: list[bool] = []

    def worker(index: int) -> None:
        try:
            results.append(generate(index))
        except Exception as error:
            print(f"failed: {error!r}", file=sys.stderr)
            results.append(False)

    async def watch() -> dict[str, float]:
        before = rss_mb()
        monitor = Monitor()
        watching = asyncio.ensure_future(monitor.run())
        started = time.monotonic()
        workers = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
        for thread in workers:
            thread.start()
        while any(thread.is_alive() for thread in workers):
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started
        monitor.stop()
        await watching
        return {
            "completed": sum(results),
            "lag_p99": quantile(monitor.lags, 0.99),
            "growth": monitor.peak_rss - before,
            "threads": monitor.peak_threads,
            "elapsed": elapsed,
        }

    try:
        return asyncio.run(watch())
    finally:
        http.close()


def run_arm(arm: str, base_url: str, count: int) -> dict[str, float]:
    """One arm in a fresh process, so that its memory and threads are its own."""
    output = subprocess.run(
        [sys.executable, __file__, "--arm", arm, "--base-url", base_url, "--generations", str(count)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if output.returncode != 0:
        raise RuntimeError(f"the {arm} arm failed:\n{output.stderr[-3000:]}")
    if output.stderr.strip():
        print(f"{arm} arm: {output.stderr.strip()[-1500:]}")
    result: dict[str, float] = json.loads(output.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    def options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--generations", type=int, default=1000)
        parser.add_argument("--arm", choices=("pipeline", "threads"), help=argparse.SUPPRESS)
        parser.add_argument("--base-url", help=argparse.SUPPRESS)

    args = arguments(__doc__.splitlines()[0], options)
    if args.arm:
        with tempfile.TemporaryDirectory(prefix="luma-concurrency-") as folder:
            if args.arm == "pipeline":
                result = asyncio.run(pipeline_arm(args.base_url, args.generations, Path(folder)))
            else:
                result = threads_arm(args.base_url, args.generations, Path(folder))
        print(json.dumps(result))
        return 0
    count = args.generations
    with SimulatorProcess(TIME_SCALE, seed=5) as simulator:
        simulator.control.set_account(KEY, balance=10_000)
        ours = run_arm("pipeline", simulator.base_url, count)
        simulator.control.reset()
        simulator.control.set_account(KEY, balance=10_000)
        naive = run_arm("threads", simulator.base_url, count)
    detail = (
        f"{count} at once, time scale {TIME_SCALE}: {ours['elapsed']:.1f} s "
        f"(thread per generation: {naive['elapsed']:.1f} s)"
    )
    figures = [
        Figure(
            "5",
            "generations completed",
            ours["completed"],
            "",
            naive["completed"],
            f"value >= {count}",
            detail,
        ),
        Figure("5", "event loop lag p99", ours["lag_p99"], "s", naive["lag_p99"], "value < 0.05"),
        Figure("5", "memory growth of the app process", ours["growth"], "MB", naive["growth"], "value < 300"),
        Figure(
            "5", "threads in the app process (peak)", ours["threads"], "", naive["threads"], "value <= 20"
        ),
    ]
    return report("Concurrency (target 5)", figures, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
