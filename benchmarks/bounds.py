"""Bounds benchmark: huge or hostile inputs against the launched app; a visitor beside another key's batch.

For each input, the figure is the app process's peak memory growth while it is handled (VmHWM,
reset just before) and the longest answer of a cheap request sent every 0.1 s meanwhile (how
long the event loop stalled): a 2 MB zip bomb on Batch Preview (100 entries of 20 MB of
zeros), a 300,000-row CSV on Preview, the largest GIF and WebP the export settings allow of a
12-segment shot, and three `/get_batch` calls of an ended 100-video batch. Then, on a simulator
at a tenth of real time, a visitor's first video alone and with another key's 500-row batch
running: its rows are phone photos, each read, turned upright and uploaded by the app, which
the simulator renders once (as WaveSpeed would, on machines of its own: 500 renders of distinct
pictures would take the two cores the app runs on for 20 minutes). The app and the simulators
run in processes of their own; everything is bounded.
`python benchmarks/bounds.py [--rows 500] [--segments 12] [--skip-lanes | --only-lanes]`
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from _common import ROOT, Figure, SimulatorProcess, arguments, free_port, median, photo, report
from gradio_client import Client, handle_file

from luma_playground._features.exports import MAX_ANIMATION_PIXELS
from luma_playground.media import planned_pixels

SERVER_KEY = "sk-bounds-server"
OTHER_KEY = "sk-bounds-other-key"
MEMORY_TARGET_MB = 300
STALL_TARGET_S = 0.25
PROBE_EVERY_S = 0.1


class App:
    """`python app.py` on a free port, pointed at a simulator; stopped with the stack."""

    def __init__(self, folder: Path, sim_url: str, stack: ExitStack, **env: str) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/"
        self.home = folder / "home"
        environment = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("WAVESPEED_", "LUMA_PLAYGROUND_", "GRADIO_", "SPACE_"))
        } | {
            "PYTHONPATH": str(ROOT),
            "WAVESPEED_BASE_URL": sim_url,
            "WAVESPEED_API_KEY": SERVER_KEY,
            "LUMA_PLAYGROUND_HOME": str(self.home),
            "LUMA_PLAYGROUND_TASKS_PER_KEY": "1000",
            "LUMA_PLAYGROUND_SUBMITS_PER_MINUTE": "100000",
            "GRADIO_TEMP_DIR": str(folder / "gradio"),
            "GRADIO_ANALYTICS_ENABLED": "False",
            **env,
        }
        folder.mkdir(parents=True, exist_ok=True)
        log = (folder / "app.log").open("wb")
        stack.callback(log.close)
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--port", str(port)],
            cwd=folder,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        stack.callback(self.stop)
        give_up = time.monotonic() + 120
        while time.monotonic() < give_up:
            if self.process.poll() is not None:
                raise SystemExit(f"the app exited at start-up:\n{(folder / 'app.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}config", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise SystemExit("the app did not start in 120 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def status_mb(self, field: str) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no {field}")

    def client(self, key: str | None = None) -> Client:
        headers = {"X-WaveSpeed-Key": key} if key else None
        return Client(self.url, headers=headers, verbose=False, download_files=str(self.home.parent / "dl"))


def _children_mb(pid: int) -> float:
    """The resident memory of the app's child processes (its export workers), in MB."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                status = Path(f"/proc/{child}/status").read_text()
            except OSError:
                continue
            total += (
                sum(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) / 1024
            )
    return total


@contextmanager
def watched(app: App) -> Iterator[dict[str, float]]:
    """While the block runs: the peak memory growth (MB) of the app and its children, and the
    longest answer (s) of a cheap request sent every 0.1 s.
    """
    found: dict[str, float] = {}
    Path(f"/proc/{app.process.pid}/clear_refs").write_text("5")  # the peak starts again from now
    before = app.status_mb("VmRSS")
    stop = threading.Event()
    answers: list[float] = []
    children: list[float] = [0.0]

    def probe() -> None:
        with httpx.Client(timeout=60) as http:
            while not stop.is_set() or not answers:
                started = time.monotonic()
                http.get(f"{app.url}gradio_api/app_id")
                answers.append(time.monotonic() - started)
                children.append(_children_mb(app.process.pid))
                stop.wait(PROBE_EVERY_S)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    try:
        yield found
    finally:
        stop.set()
        prober.join(70)
        found["memory"] = app.status_mb("VmHWM") - before + max(children)
        found["stall"] = max(answers, default=float("nan"))


def idle_stall(app: App, seconds: float = 10.0) -> float:
    """The longest cheap answer while the app does nothing: what the machine's own load costs."""
    with watched(app) as found:
        time.sleep(seconds)
    return found["stall"]


def raw_event(app: App, api_name: str, data: list[Any]) -> dict[str, Any]:
    """A private event by raw `queue/join`, as a script sends it; the closing message."""
    session = os.urandom(6).hex()
    config = httpx.get(f"{app.url}config", timeout=30).json()
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name)
    base = f"{app.url}gradio_api"
    body = {"data": data, "fn_index": fn_index, "session_hash": session}
    with httpx.Client(timeout=600) as http:
        http.post(f"{base}/queue/join", json=body).raise_for_status()
        with http.stream("GET", f"{base}/queue/data", params={"session_hash": session}) as events:
            for line in events.iter_lines():
                message = json.loads(line[5:]) if line.startswith("data:") else {}
                if message.get("msg") == "process_completed":
                    return dict(message)
    raise RuntimeError(f"{api_name} never completed")


def upload(app: App, name: str, data: bytes) -> dict[str, Any]:
    (path,) = httpx.post(f"{app.url}gradio_api/upload", files={"files": (name, data)}, timeout=120).json()
    return {"path": path, "orig_name": name, "meta": {"_type": "gradio.FileData"}}


def zip_bomb() -> bytes:
    """About 2 MB holding 2 GB: 100 "pictures" of 20 MB of zeros each (each at the per-picture cap)."""
    buffer = io.BytesIO()
    block = bytes(1 << 20)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for number in range(100):
            with bundle.open(f"{number:03d}.png", "w") as entry:
                for _ in range(20):
                    entry.write(block)
    return buffer.getvalue()


def big_csv(rows: int = 300_000) -> bytes:
    lines = "".join(f"https://p.example/{n}.png,pan {n}\n" for n in range(rows))
    return f"image,prompt\n{lines}".encode()


def figures_for(name: str, found: dict[str, float], detail: str, idle: float) -> list[Figure]:
    """Memory growth and the longest stall; the stall's baseline is the idle app's on this machine."""
    goal = f"value < {MEMORY_TARGET_MB}"
    memory = Figure("19", f"{name}: memory", found["memory"], "MB", None, goal, detail)
    stall = Figure("19", f"{name}: loop stall", found["stall"], "s", idle, f"value < {STALL_TARGET_S}")
    return [memory, stall]


def preview(app: App, pictures: Any, rows_csv: Any) -> str:
    answer = raw_event(app, "preview", [pictures, rows_csv, "a slow pan", "1280*720", 5])
    return "accepted" if answer.get("success") else str(answer.get("output", {}).get("error"))


def largest_settings(video: Path) -> tuple[int, int]:
    """The width and frame rate whose animation encodes the most pixels within the budget."""
    best = (0, 16, 1)
    for fps in range(1, 31):
        low, high = 16, 1920
        while low < high:  # the widest that fits at this frame rate
            middle = (low + high + 1) // 2
            if planned_pixels(video, middle, fps) <= MAX_ANIMATION_PIXELS:
                low = middle
            else:
                high = middle - 1
        pixels = planned_pixels(video, low, fps)
        if pixels <= MAX_ANIMATION_PIXELS and pixels > best[0]:
            best = (pixels, low, fps)
    return best[1], best[2]


def a_shot(app: App, picture: Path, segments: int) -> tuple[str, Path]:
    """A shot of `segments` 5 s segments, made with /generate and /extend: its name and MP4."""
    client = app.client()
    try:
        _, record = client.predict(
            handle_file(str(picture)), "a slow pan", "1280*720", 5, api_name="/generate"
        )
        ref, video = record["task_id"], ""
        for number in range(segments - 1):
            video, made = client.predict(ref, f"the camera moves on, part {number}", 5, api_name="/extend")
            ref = made["shot"]["name"]
    finally:
        client.close()
    return ref, Path(video)


def bounded_inputs(work: Path, picture: Path, segments: int) -> list[Figure]:
    figures: list[Figure] = []
    with ExitStack() as stack, SimulatorProcess(0.01, seed=5) as simulator:
        simulator.control.set_limits(submits_per_minute=100_000, concurrent_tasks=10_000)
        app = App(work / "inputs", simulator.base_url, stack)
        idle = idle_stall(app)
        bomb = zip_bomb()
        sent = upload(app, "bomb.zip", bomb)
        with watched(app) as found:
            answer = preview(app, [sent], None)
        detail = f"{len(bomb) / 1e6:.1f} MB zip: {answer[:90]}"
        figures += figures_for("2 MB zip bomb on Preview", found, detail, idle)
        rows_csv = big_csv()
        rows = upload(app, "rows.csv", rows_csv)
        with watched(app) as found:
            answer = preview(app, None, rows)
        figures += figures_for(
            "300,000-row CSV on Preview", found, f"{len(rows_csv) / 1e6:.1f} MB: {answer[:80]}", idle
        )

        ref, video = a_shot(app, picture, segments)
        width, fps = largest_settings(video)
        for kind in ("gif", "webp"):
            client = app.client()
            started = time.monotonic()
            try:
                with watched(app) as found:
                    _, made = client.predict(ref, kind, "pingpong", "", width, fps, api_name="/export")
            finally:
                client.close()
            detail = (
                f"{segments}-segment shot, {width} px at {fps} fps: {made['bytes'] / 1e6:.0f} MB "
                f"in {time.monotonic() - started:.0f} s"
            )
            figures += figures_for(
                f"largest {kind.upper()} of a {segments}-segment shot", found, detail, idle
            )

        client = app.client()
        try:
            batch = [{"image": handle_file(str(picture)), "prompt": "a slow pan"} for _ in range(100)]
            _, record = client.predict(batch, api_name="/batch")
            with watched(app) as found:
                for _ in range(3):
                    archive, _ = client.predict(record["batch_id"], False, api_name="/get_batch")
        finally:
            client.close()
        detail = f"{record['done']} videos, a {Path(archive).stat().st_size / 1e6:.0f} MB zip, 3 calls"
        figures += figures_for("/get_batch of a 100-video batch", found, detail, idle)
    return figures


def phone_photos(work: Path, count: int) -> list[Path]:
    """`count` photos as a phone takes them (EXIF orientation 6, each with a caption of its own).

    The app reads, digests, turns upright and uploads each file as its own picture; turned, they
    are the same pixels, so the simulator renders them once, as WaveSpeed's machines would render
    them without the app's CPU (a render of a distinct picture costs about 2.5 s of it).
    """
    from PIL import Image

    taken = Image.open(photo(work / "taken.jpg", (540, 960), seed=3))
    pictures = []
    for number in range(count):
        exif = Image.Exif()
        exif[0x0112] = 6  # orientation: turn 90 degrees clockwise to view
        exif[0x010E] = f"row {number}"  # the caption
        path = work / f"row-{number}.jpg"
        taken.save(path, "JPEG", quality=90, exif=exif)
        pictures.append(path)
    return pictures


def first_video(app: App, picture: Path, prompt: str) -> float:
    client = app.client()
    try:
        started = time.monotonic()
        client.predict(handle_file(str(picture)), prompt, "1280*720", 5, api_name="/generate")
        return time.monotonic() - started
    finally:
        client.close()


def fair_lanes(work: Path, picture: Path, rows: int) -> list[Figure]:
    """A visitor's first video alone, then while another key's batch of `rows` runs (time scale 0.1)."""
    with ExitStack() as stack, SimulatorProcess(0.1, seed=7) as simulator:
        simulator.control.set_limits(submits_per_minute=100_000, concurrent_tasks=10_000)
        simulator.control.set_account(OTHER_KEY, balance=100_000)
        app = App(work / "lanes", simulator.base_url, stack)
        alone = median([first_video(app, picture, f"alone {n}") for n in range(2)])
        other = app.client(OTHER_KEY)
        stack.callback(other.close)
        pictures = phone_photos(work, rows)
        batch = [{"image": handle_file(str(p)), "prompt": "waves"} for p in pictures]
        job = other.submit(batch, api_name="/batch")
        started = _wait_for(lambda: _key_submits(simulator, OTHER_KEY) >= rows // 5, 300)
        busy = first_video(app, picture, "beside a batch")
        running = _key_submits(simulator, OTHER_KEY)
        batch_id = _batch_id(job)
        if batch_id is not None:
            other.predict(batch_id, api_name="/cancel_batch")
    detail = (
        f"alone {alone:.1f} s (median of 2); beside another key's {rows}-row batch "
        f"({running} of its rows submitted by then, waited {started:.0f} s for {rows // 5})"
    )
    return [Figure("19", "first video beside another key's batch", busy, "s", alone, "ratio <= 1.5", detail)]


def _key_submits(simulator: SimulatorProcess, key: str) -> int:
    from luma_playground.simulator import key_fingerprint

    return int(simulator.control.stats()["keys"].get(key_fingerprint(key), {}).get("submit", 0))


def _wait_for(condition: Callable[[], bool], timeout: float) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise RuntimeError("the batch did not get going")
        time.sleep(0.2)
    return time.monotonic() - started


def _batch_id(job: Any) -> int | None:
    import re

    for unit in job.status().progress_data or []:
        if found := re.match(r"Batch (\d+):", unit.desc or ""):
            return int(found.group(1))
    return None


def main() -> int:
    def options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--rows", type=int, default=500, help="rows of the other key's batch")
        parser.add_argument("--segments", type=int, default=12, help="segments of the exported shot")
        parser.add_argument("--skip-lanes", action="store_true", help="only the bounded inputs")
        parser.add_argument("--only-lanes", action="store_true", help="only the first video beside a batch")

    args = arguments(__doc__.splitlines()[0], options)
    with tempfile.TemporaryDirectory(prefix="luma-bounds-") as folder:
        work = Path(folder)
        picture = photo(work / "picture.jpg", (1280, 720))
        figures = [] if args.only_lanes else bounded_inputs(work, picture, args.segments)
        if not args.skip_lanes:
            figures += fair_lanes(work, picture, args.rows)
    return report("Bounded work and fair lanes (issue 19)", figures, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
