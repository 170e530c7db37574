"""Media benchmark (target 9): joining a 6 x 10 s 1280x720 shot, and a 10 s clip as a 480 px GIF.

The clips are real simulator renders, each made from the last frame of the one before, as an
extended shot is. The join is timed as a ratio of the shot's play time (target under 0.25); its
baseline is the same join at x264's default preset (`medium`), what a re-encode gets when nobody
picks one. The GIF is timed in seconds (target under 3 s); its baseline converts every decoded frame
to a Pillow image, scales it with Pillow and lets Pillow pick a palette per frame.
`python benchmarks/media.py [--repeat N]`
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
from _common import Figure, arguments, photo, report
from PIL import Image

from luma_playground.media import _frames, join_segments, last_frame, to_gif
from luma_playground.simulator._render import Motion, RenderSpec, render_clip

SEGMENTS = 6
SECONDS = 10
FPS = 24
SIZE = (1280, 720)
GIF_WIDTH, GIF_FPS = 480, 12
MOTIONS = (
    Motion.ZOOM_IN,
    Motion.PAN_RIGHT,
    Motion.TILT_UP,
    Motion.ZOOM_OUT,
    Motion.PAN_LEFT,
    Motion.TILT_DOWN,
)


def chained_shot(folder: Path) -> list[Path]:
    """Six 10 s clips, each rendered from the last frame of the one before."""
    source = photo(folder / "photo.jpg")
    segments = []
    for index, motion in enumerate(MOTIONS[:SEGMENTS]):
        clip = folder / f"segment-{index}.mp4"
        render_clip(source, RenderSpec(*SIZE, SECONDS, FPS, motion), clip)
        segments.append(clip)
        source = last_frame(clip, folder / f"last-{index}.png")
    return segments


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    """Wall times of `repeat` runs of `action`."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times


def join_with_preset(segments: list[Path], dest: Path, preset: str) -> None:
    """The same join, encoded at another x264 preset."""
    chosen = _frames.X264_OPTIONS
    _frames.X264_OPTIONS = {**chosen, "preset": preset}
    try:
        join_segments(segments, dest)
    finally:
        _frames.X264_OPTIONS = chosen


def naive_gif(video: Path, dest: Path) -> None:
    """Every frame to Pillow, scaled by Pillow, every second one kept, a palette per frame."""
    with av.open(str(video)) as container:
        images = [frame.to_image() for frame in container.decode(video=0)]
    step = round(FPS / GIF_FPS)
    height = round(SIZE[1] * GIF_WIDTH / SIZE[0])
    frames = [image.resize((GIF_WIDTH, height), Image.Resampling.LANCZOS) for image in images[::step]]
    frames[0].save(dest, save_all=True, append_images=frames[1:], duration=round(1000 / GIF_FPS), loop=0)


def played_seconds(video: Path) -> float:
    with av.open(str(video)) as container:
        return float(container.duration or 0) / av.time_base


def main() -> int:
    """Render the shot once, then time the join and the GIF against their baselines."""

    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--repeat", type=int, default=2, help="timed runs of each figure (default 2)")

    args = arguments(__doc__.splitlines()[0], extra)
    with tempfile.TemporaryDirectory(prefix="luma-media-bench-") as folder:
        work = Path(folder)
        segments = chained_shot(work)
        shot = work / "shot.mp4"
        ours = timed(lambda: join_segments(segments, shot), args.repeat)
        play = played_seconds(shot)
        medium = timed(lambda: join_with_preset(segments, work / "medium.mp4", "medium"), 1)
        shot_mb = shot.stat().st_size / 1e6
        gif = timed(lambda: to_gif(segments[1], work / "clip.gif", width=GIF_WIDTH, fps=GIF_FPS), args.repeat)
        naive = timed(lambda: naive_gif(segments[1], work / "naive.gif"), 1)
        gif_mb = (work / "clip.gif").stat().st_size / 1e6
    figures = [
        Figure(
            "10",
            f"join a {SEGMENTS} x {SECONDS} s 1280x720 shot / its play time",
            statistics.median(ours) / play,
            "x",
            medium[0] / play,
            "value < 0.25",
            f"{statistics.median(ours):.1f} s for {play:.1f} s of video ({shot_mb:.1f} MB); "
            "baseline: x264 preset medium",
        ),
        Figure(
            "10",
            f"a {SECONDS} s 1280x720 clip as a {GIF_WIDTH} px {GIF_FPS} fps GIF",
            statistics.median(gif),
            "s",
            naive[0],
            "value < 3.0",
            f"{gif_mb:.1f} MB; baseline: Pillow scaling and a palette per frame",
        ),
    ]
    return report(f"media benchmark: median of {args.repeat} runs", figures, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
