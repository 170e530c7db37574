"""Detection benchmark (targets 1 and 2): how soon a finished task is seen, and for how many GETs.

Four arms follow the same tasks side by side, each on a simulator of its own with the same
seed (so the i-th submit of every arm gets the same queue and inference time), at the
realistic time scale 1.0 (Ray 2 phases first):

- baseline: a fixed 1.0 s poller, first GET right after submit (the official SDK, the app);
- adaptive: the playground's pipeline polling with its adaptive schedule, first cold (no
  history: it learns from the tasks that end first), then warm (history from the journal);
- webhook: the pipeline with completion callbacks to a receiver on 127.0.0.1;
- lost webhook: the same, but the simulator never delivers a callback (a proxy that drops
  them): the key never earns trust, so its tasks poll as the adaptive arm does. It is compared
  with the adaptive arm task by task: the two pipelines share a jitter seed, so the i-th task of
  each gets the same queue, inference time and jitter, and a difference is the path's own.

After the Ray 2 phases, the Flash arm: baseline and adaptive follow Ray 2 Flash tasks (about a
third of Ray 2's time), cold then warm, with the adaptive pipeline on the same journal as
before: it holds Ray 2's times, which must not teach Flash's schedule.

Detection latency is measured by the simulator: the first answer that showed the task
completed, minus the instant it completed.
`python benchmarks/detection.py [--tasks 40] [--flash-only]`
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import socket
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn
from _common import (
    KEY,
    Figure,
    SimulatorProcess,
    arguments,
    detection_latency,
    free_port,
    mean,
    median,
    photo,
    quantile,
    report,
    simulators,
    task_records,
)
from starlette.applications import Starlette

from luma_playground import MODEL_ID, ApiKey, Done, GenerationRequest, Journal, Submitted, WaveSpeedClient
from luma_playground._config import RAY_2_FLASH
from luma_playground._run.pipeline import Pipeline
from luma_playground._wavespeed.polling import FixedSchedule
from luma_playground._wavespeed.webhooks import WebhookRegistry, webhook_routes

PROMPT = "slow push in over the valley"
#: Seconds between two submits of an arm: a stream of tasks, not one burst, so that the
#: three simulators and the clients share this small machine without queueing on the CPU.
STAGGER_S = 0.25
#: The phases in order, with their model: Ray 2 cold and warm, then Ray 2 Flash cold and warm.
PHASES = {"cold": MODEL_ID, "warm": MODEL_ID, "flash, cold": RAY_2_FLASH.id, "flash, warm": RAY_2_FLASH.id}


async def baseline_arm(
    simulator: SimulatorProcess, request: GenerationRequest, count: int, outputs: Path, model: str = MODEL_ID
) -> list[str]:
    """Submit `count` tasks of `model` in order; follow each with a fixed 1 s poller; download the video."""
    client = WaveSpeedClient(simulator.base_url, KEY)

    async def follow(task_id: str) -> None:
        polls = [p async for p in client.poll(task_id, schedule=FixedSchedule(1.0))]
        prediction = polls[-1]
        assert prediction.output_url
        await client.download(prediction.output_url, outputs / f"{task_id}.mp4")

    task_ids, followers = [], []
    try:
        for _ in range(count):
            image_url = await client.upload_image(request.image)
            task_id = (await client.submit(request, image_url, model=model)).id
            task_ids.append(task_id)
            followers.append(asyncio.ensure_future(follow(task_id)))
            await asyncio.sleep(STAGGER_S)
        await asyncio.gather(*followers)
    finally:
        await client.aclose()
    return task_ids


async def pipeline_arm(
    pipeline: Pipeline, request: GenerationRequest, count: int, model: str = MODEL_ID
) -> list[str]:
    """Run `count` generations of `model`, each started once the previous one is submitted (same order)."""
    task_ids: list[str] = []

    async def run(submitted: asyncio.Event) -> None:
        async for event in pipeline.generate(request, api_key=ApiKey(KEY), model=model):
            if isinstance(event, Submitted):
                task_ids.append(event.task_id)
                submitted.set()
            elif isinstance(event, Done):
                assert event.video_path.exists()

    runs = []
    for _ in range(count):
        submitted = asyncio.Event()
        runs.append(asyncio.ensure_future(run(submitted)))
        await asyncio.wait(
            {runs[-1], asyncio.ensure_future(submitted.wait())}, return_when=asyncio.FIRST_COMPLETED
        )
        await asyncio.sleep(STAGGER_S)
    await asyncio.gather(*runs)
    return task_ids


@contextlib.asynccontextmanager
async def receiver(registry: WebhookRegistry) -> AsyncIterator[None]:
    """The callback routes served on 127.0.0.1 from this event loop, as a Gradio server would."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", int(registry.public_url.rsplit(":", 1)[1])))
    listener.listen(128)
    server = uvicorn.Server(
        uvicorn.Config(Starlette(routes=webhook_routes(registry)), log_level="warning", lifespan="off")
    )
    serving = asyncio.ensure_future(server.serve(sockets=[listener]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await serving


def paired_ratio_interval(
    values: list[float], baseline: list[float], resamples: int = 2000
) -> tuple[float, float]:
    """A 95 % bootstrap interval of median(values) / median(baseline), resampling the pairs."""
    rng = random.Random(0)
    pairs = list(zip(values, baseline, strict=True))
    ratios = []
    for _ in range(resamples):
        drawn = rng.choices(pairs, k=len(pairs))
        ratios.append(median([a for a, _ in drawn]) / median([b for _, b in drawn]))
    return quantile(ratios, 0.025), quantile(ratios, 0.975)


def figures_of(control: object, task_ids: list[str]) -> tuple[list[float], list[int]]:
    records = task_records(control, task_ids)  # type: ignore[arg-type]
    assert len(records) == len(task_ids) and all(r["status"] == "completed" for r in records)
    return [detection_latency(r) for r in records], [int(r["polls"]) for r in records]  # type: ignore[call-overload]


def phase_figures(
    phase: str, base: list[float], base_gets: list[int], poll: list[float], gets: list[int]
) -> list[Figure]:
    """The adaptive poller against the baseline in one phase: median and p95 detection, GETs per task."""
    cold = phase.endswith("cold")
    gate = "ratio <= 1.0" if cold else None
    label = f"adaptive polling, {phase}"
    return [
        Figure("2", f"{label}: median detection", median(poll), "s", median(base), gate or "ratio <= 0.5"),
        Figure(
            "2",
            f"{label}: p95 detection",
            quantile(poll, 0.95),
            "s",
            quantile(base, 0.95),
            gate or "ratio <= 0.75",
        ),
        Figure(
            "2",
            f"{label}: GETs per task",
            mean(gets),
            "",
            mean(base_gets),
            "ratio <= 1.0",
            "cold: tasks behind others of their kind poll sparser until these teach them" if cold else "",
        ),
    ]


def webhook_figures(sims: list[SimulatorProcess], results: dict[str, list[list[str]]]) -> list[Figure]:
    """Callbacks (Ray 2 phases): their detection and GETs, and a key whose callbacks never come."""
    base_sim, poll_sim, hook_sim, lost_sim = sims
    base_latency, base_gets = figures_of(base_sim.control, results["cold"][0] + results["warm"][0])
    hook_latency, _ = figures_of(hook_sim.control, results["cold"][2] + results["warm"][2])
    # Callbacks replace polling once one has arrived: in the cold phase, the tasks already
    # running poll until the first callback comes; in the warm phase the key is trusted.
    _, learning_gets = figures_of(hook_sim.control, results["cold"][2])
    _, hook_gets = figures_of(hook_sim.control, results["warm"][2])
    poll_latency, poll_gets = figures_of(poll_sim.control, results["cold"][1] + results["warm"][1])
    lost_latency, lost_gets = figures_of(lost_sim.control, results["cold"][3] + results["warm"][3])
    low, high = paired_ratio_interval(lost_latency, poll_latency)
    return [
        Figure(
            "1",
            "webhook: median detection",
            median(hook_latency),
            "s",
            median(base_latency),
            "value < 0.05",
            f"p95 {quantile(hook_latency, 0.95) * 1000:.0f} ms over {len(hook_latency)} tasks",
        ),
        Figure(
            "1",
            "webhook, trusted: most GETs for one task",
            max(hook_gets),
            "",
            max(base_gets),
            "value <= 3",
            f"mean {mean(hook_gets):.2f}; {mean(learning_gets):.1f} per task while the first "
            "callback had not yet come (cold phase)",
        ),
        Figure(
            "1",
            "webhook never delivered: median detection",
            median(lost_latency),
            "s",
            median(poll_latency),
            "",
            f"baseline: the adaptive poller, task by task ({len(lost_latency)} pairs); ratio 95 % "
            f"interval {low:.2f}-{high:.2f}; GETs per task {mean(lost_gets):.1f} vs {mean(poll_gets):.1f}",
        ),
        # Callbacks that never come leave the same poller at work: the two arms differ by noise
        # alone, so the gate is on the paired difference, not on a ratio of two equal medians.
        Figure(
            "1",
            "webhook never delivered: median delay per task",
            median([a - b for a, b in zip(lost_latency, poll_latency, strict=True)]),
            "s",
            None,
            "value < 0.02",
            "over the adaptive poller without callbacks, task by task: at most 20 ms",
        ),
    ]


async def measure(count: int, work: Path, time_scale: float = 1.0, flash_only: bool = False) -> list[Figure]:
    image = photo(work / "valley.jpg")
    request = GenerationRequest.create(image, PROMPT)
    registry = WebhookRegistry(f"http://127.0.0.1:{free_port()}", allow_http=True)
    phases = {phase: model for phase, model in PHASES.items() if not flash_only or model != MODEL_ID}
    with simulators(4, time_scale=time_scale, seed=11) as sims:
        base_sim, poll_sim, hook_sim, lost_sim = sims
        lost_sim.control.add_fault("submit", "webhook_lost", count=-1)
        journal = Journal(work / "journal.sqlite3")
        poll_client = WaveSpeedClient(poll_sim.base_url, KEY)
        hook_client = WaveSpeedClient(hook_sim.base_url, KEY)
        lost_client = WaveSpeedClient(lost_sim.base_url, KEY)
        hook_pipeline = Pipeline.create(
            hook_client, Journal(work / "hooks.sqlite3"), work / "hooks", notifier=registry
        )
        lost_journal = Journal(work / "lost.sqlite3")
        results: dict[str, list[list[str]]] = {}
        async with receiver(registry):
            assert await registry.reachable()
            for seed, (phase, model) in enumerate(phases.items()):
                # Cold: no times of the model in the journal; warm: a pipeline opened on the
                # journal the cold phase filled. Callbacks are measured on Ray 2 only.
                pipeline = Pipeline.create(poll_client, journal, work / "adaptive", jitter_seed=seed)
                arms = [
                    baseline_arm(base_sim, request, count, work / "baseline", model),
                    pipeline_arm(pipeline, request, count, model),
                ]
                if model == MODEL_ID:
                    lost_pipeline = Pipeline.create(
                        lost_client, lost_journal, work / "lost", notifier=registry, jitter_seed=seed
                    )
                    arms += [
                        pipeline_arm(hook_pipeline, request, count),
                        pipeline_arm(lost_pipeline, request, count),
                    ]
                started = time.monotonic()
                results[phase] = await asyncio.gather(*arms)
                print(f"  {phase} phase: {count} tasks per arm in {time.monotonic() - started:.0f} s")
        await poll_client.aclose()
        await hook_client.aclose()
        await lost_client.aclose()
        await registry.aclose()
        figures = []
        for phase, (base_ids, poll_ids, *_) in results.items():
            figures += phase_figures(
                phase, *figures_of(base_sim.control, base_ids), *figures_of(poll_sim.control, poll_ids)
            )
        if not flash_only:
            figures += webhook_figures(sims, results)
        journal.close()
        lost_journal.close()
        hook_pipeline.journal.close()
    return figures


def main() -> int:
    def options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--tasks", type=int, default=60, help="tasks per arm and phase (>= 40)")
        parser.add_argument(
            "--time-scale",
            type=float,
            default=1.0,
            help="1.0 is realistic (about 5 min); smaller only to try it out",
        )
        parser.add_argument(
            "--flash-only", action="store_true", help="only the Ray 2 Flash arm (about 2 min at 1.0)"
        )

    args = arguments(__doc__.splitlines()[0], options)
    print(f"detection benchmark: {args.tasks} tasks per arm and phase, time scale {args.time_scale}")
    with tempfile.TemporaryDirectory(prefix="luma-detection-") as folder:
        figures = asyncio.run(measure(args.tasks, Path(folder), args.time_scale, args.flash_only))
    return report("Detection (targets 1, 2)", figures, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
