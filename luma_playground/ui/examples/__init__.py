"""Sample pictures that ship with the playground, drawn here with NumPy so they are free to use.

`python -m luma_playground.ui.examples` draws them again into this folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

__all__ = ["EXAMPLES", "FOLDER", "Example", "render_examples"]

FOLDER = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class Example:
    """One sample: its picture, a prompt that suits it, and the size and duration to try."""

    filename: str
    prompt: str
    size: str
    duration: int

    @property
    def path(self) -> Path:
        return FOLDER / self.filename


EXAMPLES = (
    Example(
        "mountain-lake.jpg",
        "A slow cinematic push-in over a calm mountain lake at sunset; gentle ripples spread "
        "across the water and the sun sinks behind the peaks.",
        "1280*720",
        5,
    ),
    Example(
        "aurora-forest.jpg",
        "The green aurora ripples and sways across the starry sky while the camera tilts up "
        "slowly from the pine trees.",
        "720*1280",
        5,
    ),
    Example(
        "desert-dunes.jpg",
        "Wind lifts fine sand off the crests of the dunes; a smooth aerial glide towards the "
        "low golden sun, with long shadows shifting.",
        "1280*720",
        10,
    ),
)


# -- drawing ---------------------------------------------------------------------------------


def _vertical_gradient(
    height: int, width: int, stops: list[tuple[float, tuple[int, int, int]]]
) -> np.ndarray:
    """An RGB float image whose rows blend through `stops` (position 0..1, colour)."""
    positions = np.array([p for p, _ in stops])
    colours = np.array([c for _, c in stops], dtype=np.float64)
    rows = np.linspace(0.0, 1.0, height)
    column = np.stack([np.interp(rows, positions, colours[:, i]) for i in range(3)], axis=1)
    return np.repeat(column[:, None, :], width, axis=1)


def _ridge(
    width: int, rng: np.random.Generator, base: float, roughness: float, octaves: int = 5
) -> np.ndarray:
    """A mountain skyline: a height (0..1 from the top) for each column, from summed sines."""
    x = np.linspace(0.0, 1.0, width)
    line = np.full(width, base)
    amplitude = roughness
    for octave in range(octaves):
        frequency = 2.0**octave * rng.uniform(1.5, 3.0)
        line += amplitude * np.sin(2 * np.pi * (frequency * x + rng.uniform()))
        amplitude *= 0.5
    return line


def _fill_below(
    image: np.ndarray, line: np.ndarray, colour: tuple[float, float, float], haze: float = 0.0
) -> None:
    """Paint everything under the skyline `line` with `colour`, blended with the sky by `haze`."""
    height = image.shape[0]
    rows = np.arange(height)[:, None] / height
    mask = rows >= line[None, :]
    paint = np.array(colour) * (1 - haze) + image * haze
    image[mask] = paint[mask]


def _glow(
    image: np.ndarray,
    centre: tuple[float, float],
    radius: float,
    colour: tuple[int, int, int],
    strength: float,
) -> None:
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width]
    distance = np.hypot(xs - centre[0] * width, ys - centre[1] * height) / (radius * width)
    weight = (np.clip(1.2 - distance, 0, None) ** 2 * strength)[..., None]
    disc = (distance < 0.18)[..., None]
    image[:] = image * (1 - np.clip(weight, 0, 1)) + np.array(colour) * np.clip(weight, 0, 1)
    image[:] = np.where(disc, np.array([255.0, 244, 214]), image)


def _grain(image: np.ndarray, rng: np.random.Generator, amount: float = 3.0) -> np.ndarray:
    return np.clip(image + rng.normal(0, amount, image.shape), 0, 255)


def _mountain_lake(width: int = 1280, height: int = 720) -> Image.Image:
    rng = np.random.default_rng(7)
    horizon = 0.62
    sky = _vertical_gradient(
        height,
        width,
        [
            (0.0, (38, 44, 104)),
            (0.3, (116, 84, 150)),
            (0.5, (236, 128, 96)),
            (horizon, (252, 196, 120)),
            (1.0, (252, 196, 120)),
        ],
    )
    _glow(sky, (0.62, 0.5), 0.35, (255, 214, 150), 0.9)
    layers = [
        (0.40, 0.07, (122, 88, 138), 0.45),
        (0.47, 0.05, (84, 60, 108), 0.25),
        (0.54, 0.035, (48, 36, 72), 0.0),
    ]
    for base, roughness, colour, haze in layers:
        _fill_below(sky, np.minimum(_ridge(width, rng, base, roughness), horizon), colour, haze)
    top = sky[: int(horizon * height)]
    reflection = top[::-1][: height - top.shape[0]] * 0.78 + np.array([10, 16, 40]) * 0.22
    ripple_rows = np.arange(reflection.shape[0])
    shift = (np.sin(ripple_rows * 0.9) * (1 + ripple_rows / 30)).astype(int)
    for row, offset in enumerate(shift):
        reflection[row] = np.roll(reflection[row], offset, axis=0)
    sun_column = int(0.62 * width)
    for _ in range(90):
        row = int(rng.integers(4, reflection.shape[0] - 2))
        spread = 40 + row * 1.2
        centre = int(np.clip(rng.normal(sun_column, spread), 0, width - 1))
        length = int(rng.integers(6, 24))
        glint = reflection[row, centre : centre + length]
        reflection[row, centre : centre + length] = glint * 0.4 + np.array([255, 222, 170]) * 0.6
    picture = np.concatenate([top, reflection], axis=0)
    return Image.fromarray(_grain(picture, rng).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.6))


def _aurora_forest(width: int = 720, height: int = 1280) -> Image.Image:
    rng = np.random.default_rng(11)
    sky = _vertical_gradient(
        height,
        width,
        [
            (0.0, (6, 10, 30)),
            (0.55, (14, 34, 64)),
            (0.8, (24, 60, 84)),
            (1.0, (10, 20, 30)),
        ],
    )
    ys, xs = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    for phase, colour, centre in ((0.0, (80, 250, 170), 0.33), (1.7, (120, 220, 255), 0.24)):
        curve = centre + 0.06 * np.sin(2 * np.pi * (xs * 1.3 + phase)) + 0.03 * np.sin(9 * xs)
        band = np.exp(-(((ys - curve) / 0.035) ** 2))
        curtain = np.exp(-np.clip(curve - ys, 0, None) / 0.16) * (ys < curve)
        light = np.clip(band * 0.9 + curtain * 0.55, 0, 1)[..., None]
        light *= 0.82 + 0.18 * np.sin(xs * 55 + phase)[..., None] ** 2
        sky = sky * (1 - light * 0.7) + np.array(colour) * light * 0.7
    stars = rng.random((height, width)) > 0.9975
    sky[stars & (ys < 0.7)] = (235, 240, 255)
    treeline = 0.86
    for layer, (colour, scale) in enumerate((((14, 34, 40), 0.9), ((4, 12, 16), 1.2))):
        x = 0.0
        while x < width:
            tree_height = rng.uniform(0.08, 0.2) * scale
            half = rng.uniform(14, 26) * scale
            base = treeline + 0.03 * layer + rng.uniform(-0.01, 0.01)
            top = base - tree_height
            cols = np.arange(max(0, int(x - half)), min(width, int(x + half)))
            taper = 1 - np.abs(cols - x) / half
            tops = base - tree_height * taper
            rows = np.arange(height)[:, None] / height
            mask = (rows >= tops[None, :]) & (rows >= top)
            section = sky[:, cols]
            section[mask] = colour
            sky[:, cols] = section
            x += rng.uniform(0.6, 1.1) * half
        sky[int((treeline + 0.03 * layer + 0.01) * height) :] = colour
    return Image.fromarray(_grain(sky, rng, 2.0).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.5))


def _desert_dunes(width: int = 1280, height: int = 720) -> Image.Image:
    rng = np.random.default_rng(3)
    sky = _vertical_gradient(
        height,
        width,
        [
            (0.0, (92, 150, 210)),
            (0.35, (180, 200, 214)),
            (0.5, (250, 214, 160)),
            (1.0, (250, 214, 160)),
        ],
    )
    _glow(sky, (0.28, 0.44), 0.3, (255, 226, 170), 0.8)
    xs = np.linspace(0, 1, width)
    for base, colour, shade in (
        (0.52, (226, 164, 104), 0.12),
        (0.62, (214, 138, 78), 0.2),
        (0.76, (196, 112, 58), 0.3),
    ):
        crest = (
            base
            + 0.05 * np.sin(2 * np.pi * (xs * rng.uniform(0.8, 1.6) + rng.uniform()))
            + 0.02 * np.sin(2 * np.pi * (xs * rng.uniform(3, 5) + rng.uniform()))
        )
        rows = np.arange(height)[:, None] / height
        mask = rows >= crest[None, :]
        slope = np.gradient(crest)[None, :] * width
        lit = np.clip(0.5 - slope * 2.5, 0, 1)
        below = np.clip(rows - crest[None, :], 0, None)
        light = 1 + shade * (lit - 0.5) * np.exp(-below * 14)
        tone = np.array(colour)[None, None, :] * light[..., None]
        tone = tone * (1 - 0.18 * np.clip(below * 5, 0, 1))[..., None]
        sky = np.where(mask[..., None], tone, sky)
    return Image.fromarray(_grain(sky, rng, 2.5).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.7))


_PAINTERS: dict[str, Callable[[], Image.Image]] = {
    "mountain-lake.jpg": _mountain_lake,
    "aurora-forest.jpg": _aurora_forest,
    "desert-dunes.jpg": _desert_dunes,
}


def render_examples(folder: Path = FOLDER) -> list[Path]:
    """Draw every sample picture into `folder` as a small JPEG; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for example in EXAMPLES:
        path = folder / example.filename
        _PAINTERS[example.filename]().save(path, "JPEG", quality=86, optimize=True, progressive=True)
        paths.append(path)
    return paths
