"""Exports of a saved video or shot, made locally and free: a GIF, an animated WebP, a loop, a trim."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from .._errors import InvalidRequest, UnreadableVideo
from ..media import LoopMode, make_loop, read_metadata, to_gif, to_webp, trim
from .video_files import DAMAGED

__all__ = ["EXPORT_KINDS", "ExportKind", "ExportSpec", "export_video", "parse_span"]

ExportKind = Literal["gif", "webp", "loop", "trim"]
EXPORT_KINDS: tuple[str, ...] = get_args(ExportKind)
LOOP_MODES: tuple[str, ...] = get_args(LoopMode)
logger = logging.getLogger("luma_playground")
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True, slots=True)
class ExportSpec:
    """What to make of a video: the kind, and the options that kind reads."""

    kind: ExportKind
    loop: LoopMode = "pingpong"
    start: float = 0.0
    end: float = 0.0
    width: int = 480
    fps: float = 12

    @classmethod
    def create(
        cls,
        kind: str,
        *,
        loop: str = "pingpong",
        span: str | None = None,
        width: int = 480,
        fps: float = 12,
    ) -> ExportSpec:
        """Check user input into a spec, raising one `InvalidRequest` for the first fault."""
        if kind not in EXPORT_KINDS:
            raise InvalidRequest(f"An export is one of {', '.join(EXPORT_KINDS)}.", field="kind")
        if loop not in LOOP_MODES:
            raise InvalidRequest(f"A loop is {' or '.join(LOOP_MODES)}.", field="loop")
        if not 16 <= width <= 1920 or not 1 <= fps <= 30:
            raise InvalidRequest("An export is 16 to 1920 px wide, at 1 to 30 fps.", field="width")
        start, end = parse_span(span) if kind == "trim" else (0.0, 0.0)
        return cls(kind, loop, start, end, width, fps)  # type: ignore[arg-type]

    @property
    def suffix(self) -> str:
        if self.kind == "loop":
            return f"loop-{self.loop}.mp4"
        if self.kind == "trim":
            return f"trim-{self.start:g}-{self.end:g}.mp4"
        return f"{self.width}px-{self.fps:g}fps.{self.kind}"


def parse_span(span: str | None) -> tuple[float, float]:
    """`START:END` in seconds, START before END."""
    match = _SPAN.match(span or "")
    if not match or float(match[1]) >= float(match[2]):
        raise InvalidRequest("A trim is START:END in seconds, START before END (2:4.5).", field="trim")
    return float(match[1]), float(match[2])


def _make(video: Path, dest: Path, spec: ExportSpec) -> Path:
    settings = read_metadata(video) | {"exported_from": video.name, "export": spec.kind}
    if spec.kind == "gif":
        return to_gif(video, dest, width=spec.width, fps=spec.fps)
    if spec.kind == "webp":
        return to_webp(video, dest, width=spec.width, fps=spec.fps)
    if spec.kind == "loop":
        return make_loop(video, dest, mode=spec.loop, metadata=settings)
    return trim(video, dest, spec.start, spec.end, metadata=settings)


async def export_video(video: Path, spec: ExportSpec, dest: Path | None = None) -> Path:
    """Make the export of `video` (off the event loop); its path, by default in an `exports` folder
    next to the video, named after it and the export.
    """
    if not video.is_file():
        raise InvalidRequest(f"The video {video.name} is not on disk any more.", field="video")
    if dest is None:
        dest = video.parent / "exports" / f"{video.stem}-{spec.suffix}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        return await asyncio.to_thread(_make, video, dest, spec)
    except DAMAGED as error:  # a damaged file (PyAV's words name its path)
        logger.warning("cannot export %s: %s", video.name, error)
        raise UnreadableVideo() from None
    except ValueError as error:  # a trim past the end, a clip with no frames
        raise InvalidRequest(f"Cannot export {video.name}: {error}.", field="video") from None
