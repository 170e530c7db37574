"""Exports of a saved video or shot, made locally and free: a GIF, an animated WebP, a loop, a trim.

Every export is bounded: frames stream from the decoder to the encoder (memory does not grow
with the clip), an animation encodes at most `MAX_ANIMATION_PIXELS` in all (its time does not
either), each visitor makes one export at a time, and each export runs in a process of its own
at a lower priority (`python -m luma_playground._features.exports`), so that the server's event loop never
waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, get_args

from .._errors import InvalidRequest, UnreadableVideo
from ..media import LoopMode, make_loop, planned_pixels, read_metadata, to_gif, to_webp, trim
from .video_files import DAMAGED

__all__ = [
    "EXPORT_KINDS",
    "MAX_ANIMATION_PIXELS",
    "ExportKind",
    "ExportSpec",
    "export_video",
    "parse_span",
]

logger = logging.getLogger("luma_playground")

ExportKind = Literal["gif", "webp", "loop", "trim"]
EXPORT_KINDS: tuple[str, ...] = get_args(ExportKind)
LOOP_MODES: tuple[str, ...] = get_args(LoopMode)
#: The most pixels (frames x width x height) one GIF or WebP encodes: 5 s of 1920 x 1080 at
#: 30 fps, or a minute at 480 px and 30 fps; about a minute of one core at most.
MAX_ANIMATION_PIXELS = 320_000_000
#: The furthest a trim may reach, in seconds: far past any clip or shot.
MAX_TRIM_SECONDS = 3600.0
#: The visitors (`Caller.owner`) with an export being made in this process.
_EXPORTING: set[str] = set()
_NAMES = {"gif": "GIF", "webp": "WebP"}
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
    start, end = float(match[1]), float(match[2])
    if not math.isfinite(end) or end > MAX_TRIM_SECONDS:
        raise InvalidRequest(f"A trim ends within {MAX_TRIM_SECONDS:.0f} seconds of the start.", field="trim")
    return start, end


def _make(video: Path, dest: Path, spec: ExportSpec) -> Path:
    if spec.kind in ("gif", "webp"):
        _check_budget(video, spec)
    settings = read_metadata(video) | {"exported_from": video.name, "export": spec.kind}
    if spec.kind == "gif":
        return to_gif(video, dest, width=spec.width, fps=spec.fps)
    if spec.kind == "webp":
        return to_webp(video, dest, width=spec.width, fps=spec.fps)
    if spec.kind == "loop":
        return make_loop(video, dest, mode=spec.loop, metadata=settings)
    return trim(video, dest, spec.start, spec.end, metadata=settings)


def _check_budget(video: Path, spec: ExportSpec) -> None:
    pixels = planned_pixels(video, spec.width, spec.fps)
    if pixels > MAX_ANIMATION_PIXELS:
        raise InvalidRequest(
            f"A {spec.width} px {_NAMES[spec.kind]} at {spec.fps:g} fps of this clip would encode "
            f"{pixels / 1e6:,.0f} megapixels, over the {MAX_ANIMATION_PIXELS / 1e6:,.0f} an export "
            "may encode: "
            "choose a smaller width or frame rate, or trim the clip first.",
            field="width",
        )


@contextlib.contextmanager
def _one_at_a_time(owner: str | None) -> Iterator[None]:
    """Refuse a second export of one visitor while the first is being made."""
    if owner is None:
        yield
        return
    if owner in _EXPORTING:
        raise InvalidRequest("An export of yours is being made: wait for it, then ask again.", field="kind")
    _EXPORTING.add(owner)
    try:
        yield
    finally:
        _EXPORTING.discard(owner)


async def export_video(
    video: Path, spec: ExportSpec, dest: Path | None = None, *, owner: str | None = None
) -> Path:
    """Make the export of `video` (off the event loop); its path, by default in an `exports` folder
    next to the video, named after it and the export. With `owner`, that visitor's second export
    while one is being made is refused.
    """
    with _one_at_a_time(owner):
        return await _export(video, spec, dest)


async def _export(video: Path, spec: ExportSpec, dest: Path | None) -> Path:
    if not video.is_file():
        raise InvalidRequest(f"The video {video.name} is not on disk any more.", field="video")
    if dest is None:
        dest = video.parent / "exports" / f"{video.stem}-{spec.suffix}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    return await _in_worker(video, dest, spec)


async def _in_worker(video: Path, dest: Path, spec: ExportSpec) -> Path:
    """Run `_make` in a process of its own, at a lower priority.

    Decoding and encoding then never hold the server's GIL (a frame's conversion would stall its
    event loop for a tenth of a second), never take a core from the server's own work, and give
    their memory back when they end. A cancelled export stops its process.
    """
    package_root = str(Path(__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": package_root + (os.pathsep + path if path else "")}
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "luma_playground._features.exports",
        str(video),
        str(dest),
        json.dumps(asdict(spec)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await worker.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            worker.kill()
        await worker.wait()
        raise
    answer = json.loads(out.decode() or "{}") if worker.returncode in (0, 2) else {}
    if worker.returncode == 0 and "path" in answer:
        return Path(answer["path"])
    if answer.get("unreadable"):  # a damaged file (PyAV's words name its path: logged only)
        logger.warning("cannot export %s: %s", video.name, answer.get("why"))
        raise UnreadableVideo()
    if "error" in answer:
        raise InvalidRequest(answer["error"], field=answer.get("field"))
    logger.error("an export stopped (exit %s): %s", worker.returncode, err.decode(errors="replace")[-2000:])
    raise InvalidRequest(f"Cannot export {video.name}: the export stopped unexpectedly.", field="video")


def _work(argv: list[str]) -> int:
    """A worker's body: make one export; print its path, or the refusal, as one JSON line."""
    with contextlib.suppress(OSError):
        os.nice(10)
    video, dest, fields = Path(argv[0]), Path(argv[1]), json.loads(argv[2])
    try:
        made = _make(video, dest, ExportSpec(**fields))
    except InvalidRequest as error:
        print(json.dumps({"error": error.message, "field": error.field}))
        return 2
    except DAMAGED as error:
        print(json.dumps({"unreadable": True, "why": str(error)}))
        return 2
    except ValueError as error:  # a trim past the end, a clip with no frames
        print(json.dumps({"error": f"Cannot export {video.name}: {error}.", "field": "video"}))
        return 2
    print(json.dumps({"path": str(made)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(_work(sys.argv[1:]))
