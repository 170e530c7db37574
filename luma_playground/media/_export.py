"""Exports of a clip: a frame-accurate trim, and animated GIF and WebP at a chosen width and frame rate."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from fractions import Fraction
from pathlib import Path

from PIL import Image

from ._frames import Mp4Writer, atomic_path, frame_rate, frame_size, open_video, resample

#: Frames sampled evenly over the clip to choose the GIF's one palette.
PALETTE_SAMPLES = 8


def trim(
    video: Path, dest: Path, start: float, end: float, *, metadata: Mapping[str, str] | None = None
) -> Path:
    """Write the frames of `video` shown from `start` to `end` s to `dest` (frame-accurate, re-encoded)."""
    if not 0 <= start < end:
        raise ValueError(f"a trim needs 0 <= start < end, got {start}..{end}")
    container, stream = open_video(video)
    with container, Mp4Writer(dest, frame_size(stream), frame_rate(stream), metadata) as writer:
        origin = float(stream.start_time or 0) * float(stream.time_base)
        # The seek lands on the keyframe at or before `start`; the frames before it are decoded, not kept.
        container.seek(int((origin + start) / float(stream.time_base)), stream=stream, backward=True)
        for frame in container.decode(stream):
            shown = (frame.time or 0.0) - origin
            if shown >= end - 1e-6:
                break
            if shown >= start - 1e-6:
                writer.write(frame)
    return dest


def to_gif(video: Path, dest: Path, *, width: int = 480, fps: float = 12) -> Path:
    """Write `video` as a looping animated GIF `width` pixels wide at `fps`, one palette for all frames."""
    images = list(_scaled_frames(video, width, fps))
    palette = _palette(images)
    # No dithering: a dither pattern that changes from frame to frame shimmers, and costs time.
    frames = [image.quantize(palette=palette, dither=Image.Dither.NONE) for image in images]
    # GIF delays are in hundredths of a second; rounding each one on its own would drift.
    _save(frames, dest, "GIF", _durations(len(frames), fps, unit_ms=10), optimize=False)
    return dest


def to_webp(video: Path, dest: Path, *, width: int = 480, fps: float = 12, quality: int = 80) -> Path:
    """Write `video` as a looping animated WebP `width` pixels wide at `fps`."""
    frames = list(_scaled_frames(video, width, fps))
    _save(frames, dest, "WEBP", _durations(len(frames), fps, unit_ms=1), quality=quality, method=2)
    return dest


def _scaled_frames(video: Path, width: int, fps: float) -> Iterator[Image.Image]:
    """The frames at `fps`, scaled in C (swscale) to `width`: only the frames kept are converted."""
    if width < 2 or fps <= 0:
        raise ValueError(
            f"an export needs a width of at least 2 and a positive frame rate, got {width}, {fps}"
        )
    container, stream = open_video(video)
    with container:
        source_w, source_h = frame_size(stream)
        height = max(2, round(source_h * width / source_w))
        target = Fraction(fps).limit_denominator(1001)
        for frame in resample(iter(container.decode(stream)), frame_rate(stream), target):
            yield frame.reformat(width=width, height=height, format="rgb24").to_image()


def _palette(images: list[Image.Image]) -> Image.Image:
    """A 256-colour palette for the whole clip, chosen from frames sampled evenly over it."""
    if not images:
        raise ValueError("the clip has no frames")
    step = max(1, len(images) // PALETTE_SAMPLES)
    samples = images[::step][:PALETTE_SAMPLES]
    sheet = Image.new("RGB", (samples[0].width, samples[0].height * len(samples)))
    for index, image in enumerate(samples):
        sheet.paste(image, (0, index * image.height))
    return sheet.quantize(256, method=Image.Quantize.MEDIANCUT)


def _durations(count: int, fps: float, unit_ms: int) -> list[int]:
    """Per-frame durations in ms, multiples of `unit_ms`, that add up to the clip's length."""
    ends = [round((index + 1) * 1000 / fps / unit_ms) * unit_ms for index in range(count)]
    return [max(unit_ms, end - begin) for begin, end in zip([0, *ends], ends, strict=False)]


def _save(frames: list[Image.Image], dest: Path, fmt: str, durations: list[int], **options: object) -> None:
    partial = atomic_path(dest)
    try:
        first, *rest = frames
        first.save(
            partial, format=fmt, save_all=True, append_images=rest, duration=durations, loop=0, **options
        )
        partial.replace(dest)
    finally:
        partial.unlink(missing_ok=True)
