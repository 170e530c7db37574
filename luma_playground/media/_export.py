"""Exports of a clip: a frame-accurate trim, and animated GIF and WebP at a chosen width and frame rate."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np
from PIL import Image

from ._frames import Mp4Writer, atomic_path, frame_rate, frame_size, open_video, resample

#: Frames sampled evenly over the clip to choose the GIF's one palette.
PALETTE_SAMPLES = 8
#: The width the palette's samples are scaled to: enough for their colours.
PALETTE_SAMPLE_WIDTH = 320


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
    """Write `video` as a looping animated GIF `width` pixels wide at `fps`, one palette for all frames.

    Frames go one at a time from the decoder to the encoder: memory does not grow with the clip.
    """
    palette = _palette(video, width, fps)
    argb = _argb(palette)
    with _Animation(dest, "gif", "pal8", _scaled_size(video, width), fps, unit_ms=10) as out:
        for image in _scaled_frames(video, width, fps):
            # No dithering: a dither pattern that changes from frame to frame shimmers, and costs time.
            indices = image.quantize(palette=palette, dither=Image.Dither.NONE)
            pal8: Any = (np.asarray(indices), argb)  # PyAV takes pal8 as (indices, palette)
            out.write(av.VideoFrame.from_ndarray(pal8, format="pal8"))
    return dest


def to_webp(video: Path, dest: Path, *, width: int = 480, fps: float = 12, quality: int = 80) -> Path:
    """Write `video` as a looping animated WebP `width` pixels wide at `fps`, a frame at a time."""
    options = {"quality": str(quality), "compression_level": "2"}
    with _Animation(dest, "webp", "bgra", _scaled_size(video, width), fps, unit_ms=1, options=options) as out:
        for image in _scaled_frames(video, width, fps):
            out.write(av.VideoFrame.from_image(image))
    return dest


def planned_pixels(video: Path, width: int, fps: float) -> int:
    """How many pixels a GIF or WebP of `video` at this width and frame rate encodes in all."""
    container, stream = open_video(video)
    with container:
        seconds = _seconds(container, stream)
        source_w, source_h = frame_size(stream)
    return math.ceil(seconds * fps) * width * max(2, round(source_h * width / source_w))


def _seconds(container: Any, stream: Any) -> float:
    if stream.duration is not None and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return stream.frames / float(frame_rate(stream)) if stream.frames else 0.0


def _scaled_size(video: Path, width: int) -> tuple[int, int]:
    container, stream = open_video(video)
    with container:
        source_w, source_h = frame_size(stream)
    return width, max(2, round(source_h * width / source_w))


def _scaled_frames(video: Path, width: int, fps: float, *, every: int = 1) -> Iterator[Image.Image]:
    """The frames at `fps`, scaled in C (swscale) to `width`: only the frames kept are converted
    (with `every`, only one in so many).
    """
    if width < 2 or fps <= 0:
        raise ValueError(
            f"an export needs a width of at least 2 and a positive frame rate, got {width}, {fps}"
        )
    container, stream = open_video(video)
    with container:
        source_w, source_h = frame_size(stream)
        height = max(2, round(source_h * width / source_w))
        target = Fraction(fps).limit_denominator(1001)
        for index, frame in enumerate(resample(iter(container.decode(stream)), frame_rate(stream), target)):
            if index % every == 0:
                yield frame.reformat(width=width, height=height, format="rgb24").to_image()


def _palette(video: Path, width: int, fps: float) -> Image.Image:
    """A 256-colour palette for the whole clip, chosen from frames sampled evenly over it (a first,
    decode-only pass; the samples are small, the palette needs colours, not detail).
    """
    frames = max(1, math.ceil(_duration(video) * fps))
    every = max(1, frames // PALETTE_SAMPLES)
    small = min(width, PALETTE_SAMPLE_WIDTH)
    samples = list(_scaled_frames(video, small, fps, every=every))[:PALETTE_SAMPLES]
    if not samples:
        raise ValueError("the clip has no frames")
    sheet = Image.new("RGB", (samples[0].width, samples[0].height * len(samples)))
    for index, image in enumerate(samples):
        sheet.paste(image, (0, index * image.height))
    return sheet.quantize(256, method=Image.Quantize.MEDIANCUT)


def _duration(video: Path) -> float:
    container, stream = open_video(video)
    with container:
        return _seconds(container, stream)


def _argb(palette: Image.Image) -> np.ndarray:
    """The palette as PyAV's pal8 frames take it: 256 rows of (alpha, red, green, blue)."""
    rgb = np.zeros((256, 3), np.uint8)
    colours = np.frombuffer(bytes(palette.getpalette() or []), np.uint8).reshape(-1, 3)[:256]
    rgb[: len(colours)] = colours
    return np.concatenate([np.full((256, 1), 255, np.uint8), rgb], axis=1)


class _Animation:
    """An animated GIF or WebP encoded as frames arrive, looping forever, written atomically.

    Each frame's start is rounded to the format's unit (GIF: 10 ms) from the clip's start, so
    that the rounding never drifts over a long clip.
    """

    def __init__(
        self,
        dest: Path,
        fmt: str,
        pix_fmt: str,
        size: tuple[int, int],
        fps: float,
        *,
        unit_ms: int,
        options: dict[str, str] | None = None,
    ) -> None:
        self.dest, self.fps, self.unit_ms = dest, fps, unit_ms
        self.frames = 0
        self._partial = atomic_path(dest)
        self._container = av.open(str(self._partial), "w", format=fmt, options={"loop": "0"})
        codec = "gif" if fmt == "gif" else "libwebp_anim"
        stream: Any = self._container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = size
        stream.pix_fmt = pix_fmt
        stream.time_base = Fraction(unit_ms, 1000)
        stream.codec_context.time_base = Fraction(unit_ms, 1000)
        stream.options = dict(options or {})
        self._stream = stream

    def _start(self, index: int) -> int:
        return round(index * 1000 / self.fps / self.unit_ms)

    def write(self, frame: av.VideoFrame) -> None:
        frame.pts = self._start(self.frames)
        frame.time_base = self._stream.codec_context.time_base
        frame.duration = max(1, self._start(self.frames + 1) - frame.pts)
        self._container.mux(self._stream.encode(frame))
        self.frames += 1

    def __enter__(self) -> _Animation:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            if kind is None:
                if not self.frames:
                    raise ValueError("the clip has no frames")
                self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()
            if kind is None and self.frames:
                os.replace(self._partial, self.dest)
            else:
                self._partial.unlink(missing_ok=True)
