"""Shots: the last frame of a clip is the next clip's picture, and the clips join without a seam."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image

from luma_playground.media import join_segments, last_frame, read_metadata
from luma_playground.simulator._render import Motion, RenderSpec, render_clip

from .conftest import FPS, HEIGHT, SECONDS, WIDTH, RenderClip, decoded, difference, probe, steps


def _chain(render: RenderClip, picture: Path, motions: list[Motion], folder: Path) -> list[Path]:
    """Clips made one after the other, each from the last frame of the one before."""
    segments = []
    source = picture
    for index, motion in enumerate(motions):
        segments.append(render(source, motion, f"segment-{index}"))
        source = last_frame(segments[-1], folder / f"last-{index}.png")
    return segments


def test_last_frame_is_the_exact_last_decoded_frame(pan: Path, tmp_path: Path) -> None:
    """The PNG holds exactly the pixels of the clip's last frame, at full size."""
    png = last_frame(pan, tmp_path / "last.png")
    with Image.open(png) as image:
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("RGB"))
    assert np.array_equal(pixels, decoded(pan)[-1])


def test_a_chained_shot_joins_without_a_seam(render: RenderClip, picture: Path, tmp_path: Path) -> None:
    """Three chained clips join to their summed length less the repeats, with no jump at the seams."""
    motions = [Motion.ZOOM_IN, Motion.PAN_RIGHT, Motion.TILT_UP]
    segments = _chain(render, picture, motions, tmp_path)
    shot = join_segments(segments, tmp_path / "shot.mp4", metadata={"prompt": "a fox, 雪の中"})
    size, rate, duration = probe(shot)
    per_clip = SECONDS * FPS
    assert size == (WIDTH, HEIGHT) and rate == FPS
    assert abs(duration - (3 * SECONDS - 2 / FPS)) <= 1 / FPS
    frames = decoded(shot)
    assert len(frames) == 3 * per_clip - 2
    step = steps(frames)
    # The step from frame i to i + 1; a seam is the step from a clip's last frame to the next one's.
    seams = {per_clip - 1, 2 * per_clip - 2}
    inside = max(step for index, step in enumerate(step) if index not in seams)
    assert all(step[seam] <= inside for seam in seams), ([step[seam] for seam in seams], inside)
    assert read_metadata(shot) == {"prompt": "a fox, 雪の中"}


def test_the_dropped_frame_is_the_repeated_one(render: RenderClip, picture: Path, tmp_path: Path) -> None:
    """A continuation's first frame shows the previous clip's last frame; later frames move on from it."""
    first, second = _chain(render, picture, [Motion.PAN_LEFT, Motion.PAN_RIGHT], tmp_path)
    end, (start, *rest) = decoded(first)[-1], decoded(second)
    assert difference(end, start) < 3
    assert difference(end, start) < difference(end, rest[FPS])


def test_a_segment_of_another_size_and_rate_is_conformed(
    render: RenderClip, picture: Path, tmp_path: Path
) -> None:
    """A clip of another size and frame rate is scaled and resampled to the first clip's."""
    first = render(picture, Motion.ZOOM_IN, "conform-first")
    other = tmp_path / "other.mp4"
    render_clip(last_frame(first, tmp_path / "last.png"), RenderSpec(256, 144, 1, 30, Motion.ZOOM_OUT), other)
    shot = join_segments([first, other], tmp_path / "shot.mp4")
    size, rate, duration = probe(shot)
    assert size == (WIDTH, HEIGHT) and rate == FPS
    # 29 frames of 1/30 s after the repeat is dropped: 23.2 frames at 24 fps, so 24 shown.
    assert len(decoded(shot)) == SECONDS * FPS + 24
    assert abs(duration - (SECONDS + 29 / 30)) <= 1 / FPS


def test_last_frame_of_a_clip_with_many_keyframes(tmp_path: Path) -> None:
    """With a keyframe every 10 frames, the PNG is still exactly the last frame, not a keyframe's."""
    clip = tmp_path / "gop.mp4"
    with av.open(str(clip), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"g": "10", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(37):
            pixels = np.full((48, 64, 3), index * 6, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with av.open(str(clip)) as container:
        assert sum(packet.is_keyframe for packet in container.demux(video=0)) >= 3
    with Image.open(last_frame(clip, tmp_path / "last.png")) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert np.array_equal(pixels, decoded(clip)[-1])
    assert abs(int(pixels.mean()) - 36 * 6) <= 3
