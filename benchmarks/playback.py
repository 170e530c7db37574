"""Playback benchmark (target 3): from the task's completion to a playable video in Chromium.

A small Gradio app, with the video component the playground's UI uses, runs three handlers
side by side; headless Chromium clicks each in turn and records when the video element can
play (readyState >= 2, the `loadeddata` event). The task's completion instant comes from the
simulator. A 5 s 1280x720 clip, everything on 127.0.0.1.

- playground, webhook: the pipeline with completion callbacks mounted on the Gradio app;
  the saved MP4 is handed to `gr.Video` as a local file (served from a static folder);
- playground, polling: the same with the adaptive schedule (history from warm-up tasks);
- baseline: the naive wrapper: fixed 1 s polling, first GET right after submit, and the
  output URL handed to `gr.Video`, which downloads it on the server first.

`python benchmarks/playback.py [--runs 8]`
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

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

from luma_playground import ApiKey, Done, GenerationRequest, Journal, WaveSpeedClient
from luma_playground._run.pipeline import Pipeline
from luma_playground._wavespeed.polling import FixedSchedule
from luma_playground._wavespeed.webhooks import WebhookRegistry, webhook_routes

TIME_SCALE = 0.05
PROMPT = "slow push in over the valley"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARMS = ("webhook", "polling", "naive")

#: Records, per video URL, when an element playing it first reached readyState >= 2.
WATCH_VIDEOS = """
window.__ready = {};
const mark = (video) => {
  const src = video.currentSrc || video.src;
  if (src && video.readyState >= 2 && !(src in window.__ready)) window.__ready[src] = Date.now();
};
document.addEventListener("loadeddata", (event) => {
  if (event.target instanceof HTMLVideoElement) mark(event.target);
}, true);
setInterval(() => document.querySelectorAll("video").forEach(mark), 5);
"""


class Bench:
    """The app's handlers and what they report back (task ids, in order)."""

    def __init__(self, simulator: SimulatorProcess, registry: WebhookRegistry, work: Path) -> None:
        self.image = photo(work / "valley.jpg")
        self.request = GenerationRequest.create(self.image, PROMPT)
        self.client: WaveSpeedClient | None = None
        self.simulator = simulator
        self.registry = registry
        self.work = work
        self.task_ids: list[str] = []
        self.pipelines: dict[str, Pipeline] = {}

    def _pipelines(self) -> dict[str, Pipeline]:
        # Made on the server's event loop, where the handlers run.
        if not self.pipelines:
            self.client = WaveSpeedClient(self.simulator.base_url, KEY)
            self.pipelines = {
                "webhook": Pipeline.create(
                    self.client,
                    Journal(self.work / "hooks.sqlite3"),
                    self.work / "outputs",
                    notifier=self.registry,
                ),
                "polling": Pipeline.create(
                    self.client, Journal(self.work / "polls.sqlite3"), self.work / "outputs"
                ),
            }
        return self.pipelines

    async def playground(self, arm: str) -> Any:
        async for event in self._pipelines()[arm].generate(self.request, api_key=ApiKey(KEY)):
            if isinstance(event, Done):
                self.task_ids.append(event.task_id)
                yield str(event.video_path)

    async def webhook(self) -> Any:
        async for value in self.playground("webhook"):
            yield value

    async def polling(self) -> Any:
        async for value in self.playground("polling"):
            yield value

    async def naive(self) -> str:
        self._pipelines()
        client = self.client
        assert client is not None
        image_url = await client.upload_image(self.image)
        task_id = (await client.submit(self.request, image_url)).id
        polls = [p async for p in client.poll(task_id, schedule=FixedSchedule(1.0))]
        self.task_ids.append(task_id)
        assert polls[-1].output_url
        return polls[-1].output_url

    async def warm_up(self) -> str:
        """Renders cached, connections open, and a history for the adaptive schedule."""
        polling = self._pipelines()["polling"]

        async def one() -> None:
            async for _ in polling.generate(self.request, api_key=ApiKey(KEY)):
                pass

        await asyncio.gather(*(one() for _ in range(10)))
        await self.registry.reachable()
        return "warm"


def build_app(bench: Bench, outputs: Path):  # type: ignore[no-untyped-def]
    import gradio as gr
    from gradio import processing_utils

    # On loopback Gradio's SSRF guard refuses the simulator's URL; a deployment downloads
    # WaveSpeed's public URL through the same code path.
    processing_utils.PUBLIC_HOSTNAME_WHITELIST.append("127.0.0.1")
    gr.set_static_paths([outputs])
    with gr.Blocks() as demo:
        status = gr.Textbox(elem_id="status")
        gr.Button("warm", elem_id="warm").click(bench.warm_up, None, status)
        for arm in ARMS:
            video = gr.Video(autoplay=True, loop=True, interactive=False, elem_id=f"video-{arm}")
            gr.Button(arm, elem_id=f"run-{arm}").click(
                getattr(bench, arm), None, video, concurrency_limit=None
            )
    return demo


def drive(url: str, bench: Bench, runs: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    latencies: dict[str, list[float]] = {arm: [] for arm in ARMS}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.add_init_script(WATCH_VIDEOS)
        page.goto(url)
        page.click("#warm")
        page.wait_for_function("document.querySelector('#status textarea').value === 'warm'", timeout=120_000)
        for run in range(runs + 1):  # the first round warms the browser's decoder
            for arm in ARMS:
                seen = page.evaluate("Object.keys(window.__ready).length")
                page.click(f"#run-{arm}")
                page.wait_for_function(f"Object.keys(window.__ready).length > {seen}", timeout=120_000)
                ready_ms = page.evaluate("Math.max(...Object.values(window.__ready))")
                task = bench.simulator.control.task(bench.task_ids[-1])
                if run > 0:
                    latencies[arm].append(ready_ms / 1000 - task["completed_at"])
                else:
                    shape = page.evaluate(
                        f"(() => {{ const v = document.querySelector("
                        f"'#video-{arm} video'); return [v.videoWidth, "
                        "v.videoHeight, Math.round(v.duration)]; })()"
                    )
                    assert shape == [1280, 720, 5], shape
                time.sleep(0.3)
        browser.close()
    return latencies


def measure(runs: int, work: Path) -> list[Figure]:
    port = free_port()
    registry = WebhookRegistry(f"http://127.0.0.1:{port}", allow_http=True)
    outputs = work / "outputs"
    outputs.mkdir()
    with SimulatorProcess(TIME_SCALE, seed=9) as simulator:
        bench = Bench(simulator, registry, work)
        demo = build_app(bench, outputs)
        demo.queue(default_concurrency_limit=None)
        demo.launch(
            server_name="127.0.0.1",
            server_port=port,
            prevent_thread_lock=True,
            quiet=True,
            app_kwargs={"routes": webhook_routes(registry)},
        )
        try:
            latencies = drive(f"http://127.0.0.1:{port}/", bench, runs)
        finally:
            demo.close()
    naive = latencies["naive"]
    detail = f"{runs} runs per arm, 5 s 1280x720 clip, time scale {TIME_SCALE}"
    return [
        Figure(
            "3",
            "completion to playing, webhook: median",
            median(latencies["webhook"]),
            "s",
            median(naive),
            "value < 1.0",
            f"p95 {quantile(latencies['webhook'], 0.95) * 1000:.0f} ms; {detail}",
        ),
        Figure(
            "3",
            "completion to playing, webhook: vs naive",
            median(latencies["webhook"]),
            "s",
            median(naive),
            "ratio <= 0.5",
        ),
        Figure(
            "3",
            "completion to playing, polling: median",
            median(latencies["polling"]),
            "s",
            median(naive),
            "value < 1.0",
            f"p95 {quantile(latencies['polling'], 0.95) * 1000:.0f} ms (no public URL: adaptive polling)",
        ),
        Figure(
            "3",
            "completion to playing, polling: vs naive",
            median(latencies["polling"]),
            "s",
            median(naive),
            "",
        ),
    ]


def main() -> int:
    def options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--runs", type=int, default=8, help="runs per arm (default 8)")

    args = arguments(__doc__.splitlines()[0], options)
    with tempfile.TemporaryDirectory(prefix="luma-playback-") as folder:
        figures = measure(args.runs, Path(folder))
    return report("Completion to playing (target 3)", figures, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
