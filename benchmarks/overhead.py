"""Overhead benchmark (target 4): what the playground adds to the model's own time.

One generation = upload of a 3 MB photo, submit, waiting, download, and the hand-off to a
`gr.Video` (its postprocess and Gradio's file caching, as in a running app). The model's own
time is the simulator's: completion minus creation. Overhead = all of it minus that.

- playground, polling: the pipeline with its adaptive schedule (history from warm-up tasks);
- playground, webhook: the pipeline with completion callbacks on 127.0.0.1;
- baseline: the naive wrapper: fixed 1 s polling, first GET right after submit, then the
  output URL handed to `gr.Video`, which downloads it on the server.

`python benchmarks/overhead.py [--tasks 15]`
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from _common import (
    KEY,
    Figure,
    SimulatorProcess,
    arguments,
    free_port,
    median,
    photo,
    quantile,
    report,
)
from detection import receiver

from luma_playground import ApiKey, Done, GenerationRequest, Journal, WaveSpeedClient
from luma_playground._run.pipeline import Pipeline
from luma_playground._wavespeed.polling import FixedSchedule
from luma_playground._wavespeed.webhooks import WebhookRegistry

TIME_SCALE = 0.05
PROMPT = "slow push in over the valley"


def video_block(outputs: Path):  # type: ignore[no-untyped-def]
    """A `gr.Video` as the UI has it: the outputs folder served as static files."""
    import gradio as gr
    from gradio import processing_utils

    gr.set_static_paths([outputs])
    # On loopback Gradio's SSRF guard would refuse the naive wrapper's simulator URL; a real
    # deployment downloads from WaveSpeed's public CDN through the same code path.
    if "127.0.0.1" not in processing_utils.PUBLIC_HOSTNAME_WHITELIST:
        processing_utils.PUBLIC_HOSTNAME_WHITELIST.append("127.0.0.1")
    return gr.Video()


async def hand_off(block: object, value: str) -> None:
    """What Gradio does with a handler's return value before telling the browser."""
    from gradio import processing_utils

    data = block.postprocess(value)  # type: ignore[attr-defined]
    await processing_utils.async_move_files_to_cache(data, block, postprocess=True)  # type: ignore[arg-type]


async def playground_run(pipeline: Pipeline, request: GenerationRequest, block: object) -> tuple[float, str]:
    started = time.time()
    async for event in pipeline.generate(request, api_key=ApiKey(KEY)):
        if isinstance(event, Done):
            await hand_off(block, str(event.video_path))
            return time.time() - started, event.task_id
    raise AssertionError("no video")


async def naive_run(client: WaveSpeedClient, request: GenerationRequest, block: object) -> tuple[float, str]:
    started = time.time()
    image_url = await client.upload_image(request.image)
    task_id = (await client.submit(request, image_url)).id
    polls = [p async for p in client.poll(task_id, schedule=FixedSchedule(1.0))]
    assert polls[-1].output_url
    await hand_off(block, polls[-1].output_url)
    return time.time() - started, task_id


async def series(
    run: Callable[[], Awaitable[tuple[float, str]]], count: int, simulator: SimulatorProcess
) -> list[float]:
    """Overheads of `count` runs one after the other."""
    overheads = []
    for _ in range(count):
        total, task_id = await run()
        task = simulator.control.task(task_id)
        overheads.append(total - (task["completed_at"] - task["created_at"]))
    return overheads


async def measure(count: int, work: Path) -> list[Figure]:
    block = video_block(work)
    image = photo(work / "photo.jpg", (2560, 1600), noise=12, quality=98)
    request = GenerationRequest.create(image, PROMPT)
    registry = WebhookRegistry(f"http://127.0.0.1:{free_port()}", allow_http=True)
    with SimulatorProcess(TIME_SCALE, seed=3) as simulator:
        client = WaveSpeedClient(simulator.base_url, KEY)
        polling = Pipeline.create(client, Journal(work / "polling.sqlite3"), work / "polling")
        pushed = Pipeline.create(client, Journal(work / "pushed.sqlite3"), work / "pushed", notifier=registry)
        # Warm-up: renders cached, connections open, and a history for the adaptive schedule.
        await asyncio.gather(*(playground_run(polling, request, block) for _ in range(10)))
        async with receiver(registry):
            assert await registry.reachable()
            polled, hooked, naive = await asyncio.gather(
                series(lambda: playground_run(polling, request, block), count, simulator),
                series(lambda: playground_run(pushed, request, block), count, simulator),
                series(lambda: naive_run(client, request, block), count, simulator),
            )
        await client.aclose()
        await registry.aclose()
    size = f"{image.stat().st_size / 1e6:.1f} MB photo, {count} runs per arm, time scale {TIME_SCALE}"
    return [
        Figure(
            "4",
            "overhead, playground polling: median",
            median(polled),
            "s",
            median(naive),
            "value < 0.5",
            f"p95 {quantile(polled, 0.95) * 1000:.0f} ms; {size}",
        ),
        Figure(
            "4",
            "overhead, playground webhook: median",
            median(hooked),
            "s",
            median(naive),
            "value < 0.5",
            f"p95 {quantile(hooked, 0.95) * 1000:.0f} ms",
        ),
    ]


def main() -> int:
    def options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--tasks", type=int, default=15, help="runs per arm (default 15)")

    args = arguments(__doc__.splitlines()[0], options)
    with tempfile.TemporaryDirectory(prefix="luma-overhead-") as folder:
        figures = asyncio.run(measure(args.tasks, Path(folder)))
    return report("Pipeline overhead (target 4)", figures, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
