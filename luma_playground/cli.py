"""The command line: `python -m luma_playground` / `luma-playground`.

Thin by design: it turns the pipeline's events into a progress line on stderr and prints the
saved video's path on stdout. Domain errors become one line and an exit code:
0 success, 2 bad input, 3 API or network error, 4 the task failed, 5 still pending
(the task id is kept: `resume` finishes it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ._config import ApiKey, Settings
from ._errors import (
    DeadlineExceeded,
    InvalidRequest,
    LumaPlaygroundError,
    SubmitOutcomeUnknown,
    TaskFailed,
)
from ._journal import TaskRecord
from ._models import (
    Done,
    Downloading,
    Event,
    GenerationRequest,
    Processing,
    Queued,
    Submitted,
    Submitting,
    Uploading,
    WaitingForSlot,
)
from ._service import Playground, finish_record

EXIT_OK, EXIT_INPUT, EXIT_API, EXIT_TASK, EXIT_PENDING = 0, 2, 3, 4, 5

app = typer.Typer(
    name="luma-playground",
    help="Luma Ray 2 image-to-video on WaveSpeedAI: generate, follow and keep your videos.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False)


def exit_code(error: BaseException) -> int:
    """The exit code that tells a script what kind of failure this was."""
    if isinstance(error, InvalidRequest):
        return EXIT_INPUT
    if isinstance(error, TaskFailed):
        return EXIT_TASK
    if isinstance(error, DeadlineExceeded | SubmitOutcomeUnknown):
        return EXIT_PENDING
    return EXIT_API


def _run(main: Callable[[], Coroutine[Any, Any, int]], verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, stream=sys.stderr)
    try:
        code = asyncio.run(main())
    except LumaPlaygroundError as error:
        if verbose:
            err.print_exception()
        err.print(f"[red]error:[/red] {error.message}", soft_wrap=True)
        code = exit_code(error)
    except KeyboardInterrupt:
        err.print("interrupted: any submitted task is kept; `luma-playground resume` finishes it")
        code = 130
    raise typer.Exit(code)


def _open(simulate: bool) -> Playground:
    settings = Settings.from_env()
    if simulate:
        return Playground.open(settings.with_changes(api_key=None), start_simulator=True)
    if settings.api_key is None:
        raise InvalidRequest(
            "No API key: set WAVESPEED_API_KEY, or add --simulate to use the offline simulator."
        )
    return Playground.open(settings, start_simulator=False)


class _Progress:
    """One status line on stderr, rewritten in place on a terminal, a line per phase otherwise."""

    def __init__(self) -> None:
        self.live = err.is_terminal
        self.started = time.monotonic()
        self._last_phase = ""

    def show(self, event: Event) -> None:
        phase, text = _describe(event)
        elapsed = time.monotonic() - self.started
        line = f"{text}  [{elapsed:4.0f}s]"
        if self.live:
            err.print(f"\r\x1b[2K{line}", end="", soft_wrap=True)
        elif phase != self._last_phase:
            err.print(line, soft_wrap=True)
        self._last_phase = phase

    def close(self) -> None:
        if self.live:
            err.print()


def _describe(event: Event) -> tuple[str, str]:
    match event:
        case WaitingForSlot(running=running, limit=limit):
            return "waiting", f"waiting for a free slot ({running}/{limit} tasks running)"
        case Uploading(size_bytes=size):
            return "uploading", f"uploading the image ({size / 1e6:.1f} MB)"
        case Submitting():
            return "submitting", "submitting the task"
        case Submitted(task_id=task_id):
            return "submitted", f"task {task_id} submitted"
        case Queued(task_id=task_id):
            return "queued", f"task {task_id} queued"
        case Processing(task_id=task_id, expected=expected):
            hint = f" (about {expected:.0f}s in all)" if expected else ""
            return "processing", f"task {task_id} processing{hint}"
        case Downloading(received=received, total=total):
            share = f" {100 * received / total:.0f}%" if total else ""
            return "downloading", f"downloading the video{share}"
        case Done(video_path=path):
            return "done", f"saved {path}"
    return type(event).__name__.lower(), type(event).__name__.lower()


@app.command()
def generate(
    image: Annotated[str, typer.Argument(help="An image file, or a public http(s) image URL.")],
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="The motion to create.")],
    size: Annotated[str, typer.Option(help="1280*720 (landscape) or 720*1280 (portrait).")]
    = "1280*720",
    duration: Annotated[str, typer.Option(help="5 or 10 seconds.")] = "5",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Copy the MP4 here.")]
    = None,
    simulate: Annotated[bool, typer.Option(help="Use the offline simulator.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Make a video from an image and a prompt; print the saved MP4's path."""

    async def main() -> int:
        request = GenerationRequest.create(image, prompt, size, duration)
        playground = _open(simulate)
        progress = _Progress()
        try:
            backend, key = playground.backend_for(None)
            job = backend.runner.start(request, api_key=key, owner="local")
            async for event in job.events(tick=1.0):
                if event is not None:
                    progress.show(event)
            progress.close()
            done = await job.wait()
        finally:
            await playground.aclose()
        path = done.video_path
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
            path = Path(shutil.copyfile(done.video_path, output))
        print(path)
        return EXIT_OK

    _run(main, verbose)


@app.command()
def resume(
    simulate: Annotated[bool, typer.Option(help="Use the offline simulator.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Finish every pending task (after a crash or a timeout); print what became of each."""

    async def main() -> int:
        playground = _open(simulate)
        try:
            _, key = playground.backend_for(None)
            pending = playground.journal.pending(key.fingerprint if key else None)
            if not pending:
                err.print("nothing pending")
            worst = EXIT_OK
            for record in pending:
                updated = await finish_record(playground, record, key)
                print(_summary(updated))
                if updated.pending:
                    worst = max(worst, EXIT_PENDING)
                elif updated.state != "completed":
                    worst = max(worst, EXIT_TASK)
            return worst
        finally:
            await playground.aclose()

    _run(main, verbose)


def _summary(record: TaskRecord) -> str:
    name = record.task_id or f"row {record.row_id} (no task id)"
    if record.state == "completed" and record.video_path:
        return f"{name}\tcompleted\t{record.video_path}"
    return f"{name}\t{record.state}\t{record.error or ''}".rstrip()


@app.command()
def history(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per task.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many tasks, newest first.")] = 50,
) -> None:
    """List the tasks in the journal, newest first."""
    settings = Settings.from_env()
    from ._journal import Journal

    journal = Journal(settings.journal_path)
    records = journal.history(limit=limit)
    journal.close()
    if as_json:
        print(json.dumps([r.to_json() for r in records], indent=2, ensure_ascii=False))
        return
    table = Table("task", "state", "size", "s", "created", "prompt", "video")
    for r in records:
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at))
        table.add_row(r.task_id or "-", r.state, r.size, str(r.duration), created,
                      r.prompt[:40], r.video_path or "")
    Console().print(table)


@app.command()
def get(
    task_id: Annotated[str, typer.Argument(help="A task id from this or any other client.")],
    simulate: Annotated[bool, typer.Option(help="Use the offline simulator.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Show a task's status; save its video when it is complete."""

    async def main() -> int:
        playground = _open(simulate)
        try:
            _, key = playground.backend_for(None)
            record = playground.journal.by_task_id(task_id)
            if record is None:
                record = await adopt_task(playground, task_id, key)
            if record.pending:
                record = await finish_record(playground, record, key)
            print(_summary(record))
            if record.pending:
                return EXIT_PENDING
            return EXIT_OK if record.state == "completed" else EXIT_TASK
        finally:
            await playground.aclose()

    _run(main, verbose)


async def adopt_task(playground: Playground, task_id: str, key: ApiKey | None) -> TaskRecord:
    """A journal row for a task created elsewhere, so it is followed and kept like our own."""
    backend, key = playground.backend_for(key)
    prediction = await backend.client.get(task_id.strip(), api_key=key)
    row_id = playground.journal.begin(
        model=prediction.model or "luma/ray-2-i2v", backend=backend.name,
        base_url=backend.client.base_url, owner="local",
        key_fingerprint=key.fingerprint if key else "", prompt="", size="", duration=0,
        image="", image_url=None,
    )
    playground.journal.update(row_id, "created", task_id=prediction.id)
    record = playground.journal.get(row_id)
    assert record is not None
    return record


@app.command()
def simulator(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    time_scale: Annotated[float, typer.Option(help="Multiplies every simulated wait.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seeds the timing model.")] = 0,
) -> None:
    """Run the offline WaveSpeed simulator (point WAVESPEED_BASE_URL at it)."""
    from .simulator import serve

    err.print(f"simulator on http://{host}:{port} (time scale {time_scale})")
    serve(host=host, port=port, time_scale=time_scale, seed=seed)


def main() -> None:
    """Entry point of the `luma-playground` script."""
    app()
