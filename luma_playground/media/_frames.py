"""Decoding and encoding shared by the media functions: frames in, one H.264 MP4 out."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av

#: x264 settings of every MP4 written here; the choice is measured and explained in the package docstring.
X264_OPTIONS = {"preset": "superfast", "crf": "23"}

#: Every MP4 written here starts with its moov atom, so that a browser can play it from the first bytes.
MP4_OPTIONS = {"movflags": "+faststart"}


def open_video(path: Path) -> Any:
    """Open an input and return (container, its first video stream), decoding on every core."""
    container = av.open(str(path))
    if not container.streams.video:
        container.close()
        raise ValueError(f"{path.name} has no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def frame_rate(stream: Any) -> Fraction:
    """The stream's frame rate, 24 fps when the file does not say."""
    rate = stream.average_rate or stream.base_rate or stream.guessed_rate
    return Fraction(rate) if rate else Fraction(24)


def frame_size(stream: Any) -> tuple[int, int]:
    """The stream's width and height."""
    return (stream.codec_context.width, stream.codec_context.height)


def decode(path: Path) -> Iterator[av.VideoFrame]:
    """Every frame of the file's first video stream, in display order."""
    container, stream = open_video(path)
    with container:
        yield from container.decode(stream)


def resample(frames: Iterator[av.VideoFrame], source: Fraction, target: Fraction) -> Iterator[av.VideoFrame]:
    """The frames at `target` fps: each source frame is shown for as many output frames as start while it is
    on screen (dropped or repeated as needed, never blended).
    """
    if source == target:
        yield from frames
        return
    shown = 0
    for index, frame in enumerate(frames):
        # The output frames whose start falls in this frame's display interval [index, index + 1) / source.
        while shown / target < (index + 1) / source:
            yield frame
            shown += 1


def atomic_path(dest: Path) -> Path:
    """A temporary file next to `dest` with its suffix, renamed over it once complete."""
    return dest.with_name(f".{dest.stem}.{os.getpid()}.part{dest.suffix}")


def container_tags(metadata: Mapping[str, str]) -> dict[str, str]:
    """The container tags that carry `metadata`: all of it as JSON in `comment`, the prompt as `title`."""
    if not metadata:
        return {}
    tags = {"comment": json.dumps(dict(metadata), ensure_ascii=False, sort_keys=True)}
    if metadata.get("prompt"):
        tags["title"] = metadata["prompt"]
    return tags


class Mp4Writer:
    """Encodes frames into an H.264 yuv420p MP4 of one size and frame rate, moov first, written atomically.

    Frames of another size or pixel format are converted (swscale); timestamps are renumbered, so any
    decoded frames can be written one after another.
    """

    def __init__(
        self, dest: Path, size: tuple[int, int], rate: Fraction, metadata: Mapping[str, str] | None = None
    ) -> None:
        width, height = size
        if width % 2 or height % 2:
            raise ValueError(f"yuv420p needs an even frame size, got {width}x{height}")
        self.dest, self.size, self.rate = dest, size, rate
        self.frames = 0
        self._partial = atomic_path(dest)
        self._container = av.open(str(self._partial), "w", format="mp4", options=dict(MP4_OPTIONS))
        self._container.metadata.update(container_tags(metadata or {}))
        stream = self._container.add_stream("libx264", rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = dict(X264_OPTIONS)
        stream.thread_count = 0  # x264 picks its threads for the cores there are
        self._stream = stream

    def write(self, frame: av.VideoFrame) -> None:
        """Encode one frame as the next in the video."""
        if (frame.width, frame.height) != self.size or frame.format.name != "yuv420p":
            frame = frame.reformat(width=self.size[0], height=self.size[1], format="yuv420p")
        frame.pts = self.frames
        frame.time_base = 1 / self.rate
        self._container.mux(self._stream.encode(frame))
        self.frames += 1

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            if kind is None:
                if not self.frames:
                    raise ValueError(f"no frames to write to {self.dest.name}")
                self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()
            if kind is None and self.frames:
                os.replace(self._partial, self.dest)
            else:
                self._partial.unlink(missing_ok=True)
