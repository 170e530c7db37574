"""What the benchmarks share: figures with their baseline and target, simulators in a process of
their own, test pictures, and the report every script prints.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
# Runnable from a checkout without installing the package.
sys.path.insert(0, str(ROOT))

from luma_playground.simulator import SimulatorControl  # noqa: E402

#: Any key works on the simulator.
KEY = "sk-benchmark"


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure, the same figure for the baseline, and the target it is held to."""

    target: str
    name: str
    value: float
    unit: str
    baseline: float | None
    #: "ratio <= 0.5", "value < 1.0" or "" (reported, not gated).
    goal: str
    detail: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline  # type: ignore[operator]

    @property
    def met(self) -> bool | None:
        if not self.goal:
            return None
        subject, operator, bound = self.goal.split()
        measured = self.ratio if subject == "ratio" else self.value
        if measured is None or math.isnan(measured):
            return False
        return {"<": measured < float(bound), "<=": measured <= float(bound), ">=": measured >= float(bound)}[
            operator
        ]

    def line(self) -> str:
        baseline = "-" if self.baseline is None else _number(self.baseline, self.unit)
        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}x"
        verdict = {None: "info", True: "MET", False: "MISSED"}[self.met]
        goal = f"[{self.goal}]" if self.goal else ""
        return (
            f"  {self.target:>2}  {self.name:<46} {_number(self.value, self.unit):>11}  "
            f"baseline {baseline:>11}  ratio {ratio:>6}  {verdict:<6} {goal}"
        )


def _number(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"
    if unit == "MB":
        return f"{value:.1f} MB"
    if unit in ("", "x"):
        return f"{value:.2f}{unit}"
    return f"{value:.1f} {unit}".rstrip()


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (q in 0..1)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    index = q * (len(ordered) - 1)
    low = int(index)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (index - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def report(title: str, figures: list[Figure], json_path: str | None) -> int:
    """Print the figures; write them as JSON for run.py; 1 when a target is missed."""
    print(f"\n{title}")
    for figure in figures:
        print(figure.line())
        if figure.detail:
            print(f"        {figure.detail}")
    if json_path:
        Path(json_path).write_text(json.dumps([asdict(f) | {"met": f.met} for f in figures]))
    return 0 if all(f.met is not False for f in figures) else 1


def arguments(
    description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", help="also write the figures to this file (for run.py)")
    if extra is not None:
        extra(parser)
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SimulatorProcess:
    """The simulator in a process of its own (`python -m luma_playground.simulator`)."""

    def __init__(self, time_scale: float, seed: int = 0) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "luma_playground.simulator",
                "--port",
                str(self.port),
                "--time-scale",
                str(time_scale),
                "--seed",
                str(seed),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.control = SimulatorControl(self.base_url)
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                self.control.stats()
                break
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not start: {self._stderr()}")
            time.sleep(0.05)

    def _stderr(self) -> str:
        if self._process.poll() is None or self._process.stderr is None:
            return ""
        return self._process.stderr.read().decode(errors="replace")[-2000:]

    @property
    def pid(self) -> int:
        return self._process.pid

    def stop(self) -> None:
        self.control.close()
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def simulators(count: int, time_scale: float, seed: int = 0) -> Iterator[list[SimulatorProcess]]:
    """`count` simulators with the same seed: the same submits get the same queue and run times."""
    started: list[SimulatorProcess] = []
    try:
        for _ in range(count):
            started.append(SimulatorProcess(time_scale, seed))
        yield started
    finally:
        for simulator in started:
            simulator.stop()


def photo(
    path: Path,
    size: tuple[int, int] = (1600, 1000),
    *,
    quality: int = 90,
    noise: float = 6.0,
    fmt: str = "JPEG",
    seed: int = 0,
) -> Path:
    """A picture with the texture of a photo (gradients, shapes, sensor noise)."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    width, height = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    pixels = np.stack([90 + 120 * y / height, 140 + 60 * x / width, 230 - 80 * y / height], axis=-1)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        cx, cy, r = rng.integers(0, width), rng.integers(0, height), rng.integers(20, width // 6)
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r // 2), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(2))
    grain = rng.normal(0, noise, (height, width, 3)).astype(np.int16)
    noisy = np.clip(np.asarray(image, dtype=np.int16) + grain, 0, 255).astype(np.uint8)
    options = {"quality": quality} if fmt == "JPEG" else {"compress_level": 1}
    Image.fromarray(noisy).save(path, fmt, **options)
    return path


def task_records(control: SimulatorControl, task_ids: Sequence[str]) -> list[dict[str, object]]:
    wanted = set(task_ids)
    return [task for task in control.tasks() if task["id"] in wanted]


def detection_latency(task: dict[str, object]) -> float:
    """Seconds from the task's completion to the first answer that showed it completed."""
    return float(task["first_completed_seen_at"]) - float(task["completed_at"])  # type: ignore[arg-type]
