"""The commands for longer shots and exports: `extend` a video from its last frame, `export` it."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import typer

from .._errors import InvalidRequest, LumaPlaygroundError
from .._features.exports import EXPORT_KINDS, ExportSpec, export_video
from .._features.shot_store import ShotState, ShotStore, shot_json
from .._features.shots import MAX_SEGMENTS
from .._guard.limits import Caller
from .._journal.journal import Journal
from .._playground import Playground
from .._request import DURATION
from .common import (
    DURATION_DEFAULT,
    EXIT_OK,
    EXIT_TASK,
    MODEL_DEFAULT,
    OWNER,
    AsJson,
    ModelOption,
    Simulate,
    Verbose,
    _deliver,
    _fail,
    _follow,
    _playground,
    _print_json,
    _run,
    _settings,
    err,
)

Output = Annotated[
    Path | None, typer.Option("--output", "-o", help="Also copy the file to this file or folder.")
]


def extend(
    task_id: Annotated[str, typer.Argument(help="A finished video's task id, or a shot's name (shot-<n>).")],
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="The motion of the next segments.")],
    times: Annotated[
        int, typer.Option(min=1, max=MAX_SEGMENTS - 1, help="How many segments to add, one after another.")
    ] = 1,
    duration: Annotated[str, typer.Option(help=f"{DURATION.spelled()} per segment.")] = DURATION_DEFAULT,
    model: ModelOption = MODEL_DEFAULT,
    output: Output = None,
    as_json: AsJson = False,
    simulate: Simulate = False,
    verbose: Verbose = False,
) -> None:
    """Continue a finished video from its last frame into one longer shot; print the shot's MP4 path.

    Each segment is a normal, paid task. Interrupted, `resume` finishes the segment and the chain.
    """

    async def main() -> int:
        async with _playground(simulate) as playground:
            run = await playground.shots.extend(
                task_id, prompt, duration, Caller(OWNER), times=times, model=model
            )
            async for job in run.segment_jobs():
                err.print(f"new segment {len(run.jobs)} of {times}", markup=False)
                with contextlib.suppress(LumaPlaygroundError, asyncio.CancelledError):
                    await _follow(job)  # a failure is the shot's error, reported below
            shot = await run.wait()
            data = shot_json(shot, playground.shots.segments(shot))
        if shot.state != ShotState.READY:
            _fail(f"The shot stopped at {len(shot.segments)} segments: {shot.error}", verbose=False)
        path = _deliver(Path(str(data["video_path"])), output)
        if as_json:
            _print_json({**data, "output": str(path)})
        else:
            print(path)
        return EXIT_OK if shot.state == ShotState.READY else EXIT_TASK

    _run(main, verbose)


def export(
    task_id: Annotated[str, typer.Argument(help="A task id, or a shot's name (shot-<n>).")],
    gif: Annotated[bool, typer.Option("--gif", help="An animated GIF.")] = False,
    webp: Annotated[bool, typer.Option("--webp", help="An animated WebP.")] = False,
    loop: Annotated[
        str | None, typer.Option(help="A seamless loop: pingpong (forward, then back) or crossfade.")
    ] = None,
    trim: Annotated[str | None, typer.Option(help="Keep START:END seconds (2:4.5).")] = None,
    width: Annotated[int, typer.Option(help="GIF and WebP width in pixels.")] = 480,
    fps: Annotated[float, typer.Option(help="GIF and WebP frame rate.")] = 12,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the export here.")] = None,
    as_json: AsJson = False,
    verbose: Verbose = False,
) -> None:
    """Make a GIF, a WebP, a loop or a trim of a saved video or shot, locally; print its path."""

    def main() -> int:
        chosen = [kind for kind, on in zip(EXPORT_KINDS, (gif, webp, loop, trim), strict=True) if on]
        if len(chosen) != 1:
            raise InvalidRequest("Choose one of --gif, --webp, --loop MODE or --trim START:END.")
        spec = ExportSpec.create(chosen[0], loop=loop or "pingpong", span=trim, width=width, fps=fps)
        video = _source(task_id)
        dest = output / f"{video.stem}-{spec.suffix}" if output is not None and output.is_dir() else output
        path = asyncio.run(export_video(video, spec, dest))
        if as_json:
            _print_json({"source": str(video), "kind": spec.kind, "output": str(path)})
        else:
            print(path)
        return EXIT_OK

    _run(main, verbose)


def _source(ref: str) -> Path:
    """The saved MP4 of a task id or shot name in the journal (no API call: exports are local)."""
    journal = Journal(_settings().journal_path)
    try:
        wanted = ref.strip()
        if wanted.startswith("shot-") and wanted[5:].isdigit():
            shot = ShotStore(journal).get(int(wanted[5:]))
            record = journal.get(shot.row_ids[0]) if shot else None
            path = shot.video_path if shot and shot.video_path else (record.video_path if record else None)
        else:
            record = journal.by_task_id(wanted)
            path = record.video_path if record else None
    finally:
        journal.close()
    if not path:
        raise InvalidRequest(f"No saved video for {wanted[:60]!r} in the journal.", field="task_id")
    return Path(path)


async def resume_shots(playground: Playground, as_json: bool) -> list[dict[str, object]]:
    """Go on with the shots left extending (after `resume` finished their rows); what became of each."""
    runs = playground.shots.resume()
    if runs:
        err.print(f"resuming {len(runs)} shot(s)", markup=False)
    shots = []
    for run in runs:
        shot = await run.wait()
        data = shot_json(shot, playground.shots.segments(shot))
        shots.append(data)
        if not as_json:
            detail = data["video_path"] if shot.state == ShotState.READY else shot.error
            print("\t".join((shot.name, str(shot.state), " ".join(str(detail or "").split()))), flush=True)
    return shots
