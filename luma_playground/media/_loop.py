"""Seamless loops of a clip: forward then backward (ping-pong), or the tail crossfaded into the head."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

import av
import numpy as np

from ._frames import Mp4Writer, frame_rate, frame_size, open_video

LoopMode = Literal["pingpong", "crossfade"]


def make_loop(
    video: Path,
    dest: Path,
    *,
    mode: LoopMode,
    crossfade_seconds: float = 0.5,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write a clip that loops without a visible jump: `pingpong` plays `video` forward then backward
    (2n - 2 frames, the turning frames once each); `crossfade` blends its last `crossfade_seconds` into
    its start (shorter than `video` by the crossfade).
    """
    container, stream = open_video(video)
    with container, Mp4Writer(dest, _even(frame_size(stream)), frame_rate(stream), metadata) as writer:
        frames = (_yuv(frame, writer.size) for frame in container.decode(stream))
        if mode == "pingpong":
            _pingpong(frames, writer)
        elif mode == "crossfade":
            _crossfade(frames, writer, max(1, round(crossfade_seconds * float(writer.rate))))
        else:
            raise ValueError(f"unknown loop mode {mode!r}")
    return dest


def _even(size: tuple[int, int]) -> tuple[int, int]:
    return (size[0] // 2 * 2, size[1] // 2 * 2)


def _yuv(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    """The frame as yuv420p planes back to back, at the output size."""
    converted = frame.reformat(width=size[0], height=size[1], format="yuv420p")
    return converted.to_ndarray()


def _frame(planes: np.ndarray) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")


def _pingpong(frames: Iterator[np.ndarray], writer: Mp4Writer) -> None:
    """Forward, then backward from the second last frame to the second: frames 0..n-1, n-2..1.

    The frames are kept in a temporary file, not in memory, so a long shot needs only disk.
    """
    with tempfile.TemporaryFile(dir=writer.dest.parent) as spool:
        shape: tuple[int, ...] = ()
        count = 0
        for planes in frames:
            writer.write(_frame(planes))
            spool.write(planes.tobytes())
            shape, count = planes.shape, count + 1
        frame_bytes = int(np.prod(shape))
        for index in range(count - 2, 0, -1):
            spool.seek(index * frame_bytes)
            planes = np.frombuffer(spool.read(frame_bytes), dtype=np.uint8).reshape(shape)
            writer.write(_frame(planes))


def _crossfade(frames: Iterator[np.ndarray], writer: Mp4Writer, blend: int) -> None:
    """Frames blend..n-blend-1 as they are, then the last `blend` frames fading into the first `blend`.

    The loop starts `blend` frames into the clip, so only the head is kept in memory and the rest streams:
    after the fade comes frame `blend`, which is where the head left off.
    """
    head: list[np.ndarray] = []
    tail: list[np.ndarray] = []
    for planes in frames:
        if len(head) < blend:
            head.append(planes)
            continue
        tail.append(planes)
        if len(tail) > blend:
            writer.write(_frame(tail.pop(0)))
    if len(tail) < blend:
        raise ValueError(f"a crossfade of {blend} frames needs a clip of at least {2 * blend + 1} frames")
    for index, (end, start) in enumerate(zip(tail, head, strict=True)):
        # The fade ends on the head frame itself, so the step into frame `blend` is the clip's own.
        weight = (index + 1) / blend
        mixed = end.astype(np.float32) * (1 - weight) + start.astype(np.float32) * weight
        writer.write(_frame(np.rint(mixed).astype(np.uint8)))
