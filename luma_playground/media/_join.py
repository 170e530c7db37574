"""The last frame of a clip, as the picture of the next; and the clips of a shot joined into one MP4."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ._frames import Mp4Writer, atomic_path, frame_rate, frame_size, open_video, resample

#: Frames over which a continuation's difference from the frame it started on fades out.
SEAM_FRAMES = 12


def last_frame(video: Path, dest: Path) -> Path:
    """Decode the exact last frame of `video` at full size and write it losslessly as a PNG at `dest`."""
    container, stream = open_video(video)
    with container:
        last = _decode_last(container, stream)
    if last is None:
        raise ValueError(f"{video.name} has no frames")
    partial = atomic_path(dest)
    try:
        last.to_image().save(partial, format="PNG")
        partial.replace(dest)
    finally:
        partial.unlink(missing_ok=True)
    return dest


def _decode_last(container: av.container.InputContainer, stream: av.VideoStream) -> av.VideoFrame | None:
    """The last frame, decoding only from the keyframe before the end when the file allows seeking."""
    last = None
    if stream.duration:
        try:
            # Seeking lands on the last keyframe at or before the end; from there on every frame decodes.
            container.seek((stream.start_time or 0) + stream.duration, stream=stream, backward=True)
        except av.FFmpegError:
            container.seek(0)
    for frame in container.decode(stream):
        last = frame
    return last


def join_segments(segments: Sequence[Path], dest: Path, *, metadata: Mapping[str, str] | None = None) -> Path:
    """Join the clips of a shot into one MP4 at `dest`, in the size and frame rate of the first.

    Each clip after the first was made from the last frame of the one before, so its first frame repeats
    that frame: it is dropped, and the shot plays through each join without stopping. The repeat is
    not pixel-exact (the next clip's encoder adds its own noise, about 1.3 of 255 per pixel on
    average for the simulator's clips, more than one step of a slow move): that difference is
    carried into the continuation and faded out over `SEAM_FRAMES` frames, so no single step at a
    join is larger than the moves inside the clips.
    """
    if not segments:
        raise ValueError("a shot needs at least one segment")
    container, stream = open_video(segments[0])
    with container:
        size, rate = frame_size(stream), frame_rate(stream)
    with Mp4Writer(dest, size, rate, metadata) as writer:
        previous: np.ndarray | None = None
        for segment in segments:
            shown = None
            for frame in _segment_frames(segment, rate, size, previous):
                writer.write(frame)
                shown = frame
            if shown is not None:
                previous = _planes(shown, size)
    return dest


def _segment_frames(
    segment: Path, rate: Fraction, size: tuple[int, int], previous: np.ndarray | None
) -> Iterator[av.VideoFrame]:
    """The frames of one clip at the shot's frame rate, less the repeated one it starts with (when
    `previous`, the last frame shown before it, is given) and eased from that frame.
    """
    container, stream = open_video(segment)
    with container:
        frames: Iterator[av.VideoFrame] = iter(container.decode(stream))
        if previous is not None:
            first = next(frames, None)
            if first is not None:
                offset = previous.astype(np.int16) - _planes(first, size).astype(np.int16)
                frames = _eased(frames, offset, size)
        yield from resample(frames, frame_rate(stream), rate)


def _planes(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    """The frame's yuv420p planes at `size`, as one array (Y above U and V)."""
    if (frame.width, frame.height) != size or frame.format.name != "yuv420p":
        frame = frame.reformat(width=size[0], height=size[1], format="yuv420p")
    return frame.to_ndarray()


def _eased(
    frames: Iterator[av.VideoFrame], offset: np.ndarray, size: tuple[int, int]
) -> Iterator[av.VideoFrame]:
    """The frames with `offset` added, fading from whole to nothing over `SEAM_FRAMES` frames."""
    for index, frame in enumerate(frames, start=1):
        if index >= SEAM_FRAMES:
            yield frame
            continue
        weight = 1 - index / SEAM_FRAMES
        planes = _planes(frame, size).astype(np.int16) + np.rint(offset * weight).astype(np.int16)
        yield av.VideoFrame.from_ndarray(np.clip(planes, 0, 255).astype(np.uint8), format="yuv420p")
