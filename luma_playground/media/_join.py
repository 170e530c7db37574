"""The last frame of a clip, as the picture of the next; and the clips of a shot joined into one MP4."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction
from pathlib import Path

import av

from ._frames import Mp4Writer, atomic_path, frame_rate, frame_size, open_video, resample


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
    that frame: it is dropped, and the shot plays through each join without stopping.
    """
    if not segments:
        raise ValueError("a shot needs at least one segment")
    container, stream = open_video(segments[0])
    with container:
        size, rate = frame_size(stream), frame_rate(stream)
    with Mp4Writer(dest, size, rate, metadata) as writer:
        for index, segment in enumerate(segments):
            for frame in _segment_frames(segment, rate, skip_first=index > 0):
                writer.write(frame)
    return dest


def _segment_frames(segment: Path, rate: Fraction, *, skip_first: bool) -> Iterator[av.VideoFrame]:
    """The frames of one clip at the shot's frame rate, less the repeated one it starts with."""
    container, stream = open_video(segment)
    with container:
        frames = iter(container.decode(stream))
        if skip_first:
            next(frames, None)
        yield from resample(frames, frame_rate(stream), rate)
