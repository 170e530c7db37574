"""Clips for the media tests: small real renders of the simulator, made from a photo-like picture."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from luma_playground.simulator._render import Motion, RenderSpec, render_clip

#: Small and short keeps the suite quick; the moves are the simulator's own.
WIDTH, HEIGHT, SECONDS, FPS = 320, 180, 2, 24

RenderClip = Callable[[Path, Motion, str], Path]


def photo(path: Path, size: tuple[int, int] = (640, 400), seed: int = 0) -> Path:
    """A picture with the texture of a photo: gradients, shapes, a little grain."""
    width, height = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    pixels = np.stack([90 + 120 * y / height, 140 + 60 * x / width, 230 - 80 * y / height], axis=-1)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(30):
        cx, cy, r = rng.integers(0, width), rng.integers(0, height), rng.integers(10, width // 5)
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r // 2), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(1))
    grain = rng.normal(0, 2, (height, width, 3))
    Image.fromarray(np.clip(np.asarray(image) + grain, 0, 255).astype(np.uint8)).save(path)
    return path


def decoded(video: Path) -> list[np.ndarray]:
    """Every frame of the video as RGB, in order."""
    with av.open(str(video)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two RGB frames."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def steps(frames: list[np.ndarray]) -> list[float]:
    """The difference from each frame to the next."""
    return [difference(a, b) for a, b in itertools.pairwise(frames)]


def probe(video: Path) -> tuple[tuple[int, int], float, float]:
    """(width, height), frame rate and duration in seconds of the video."""
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
        return size, float(stream.average_rate), container.duration / av.time_base


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The photo-like picture the first clip is made from."""
    return photo(tmp_path_factory.mktemp("picture") / "photo.png")


@pytest.fixture(scope="module")
def render(tmp_path_factory: pytest.TempPathFactory) -> RenderClip:
    """Renders a clip with the simulator's renderer: `render(picture, motion, name) -> Path`."""
    folder = tmp_path_factory.mktemp("clips")

    def make(source: Path, motion: Motion, name: str) -> Path:
        out = folder / f"{name}.mp4"
        render_clip(source, RenderSpec(WIDTH, HEIGHT, SECONDS, FPS, motion), out)
        return out

    return make


@pytest.fixture(scope="module")
def pan(render: RenderClip, picture: Path) -> Path:
    """A 2 s 320x180 pan to the right, made from the picture."""
    return render(picture, Motion.PAN_RIGHT, "pan")
