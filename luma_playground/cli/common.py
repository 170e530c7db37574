"""What every command of the command line shares: exit codes, errors as one line, progress.

Domain errors become one line on stderr and an exit code: 0 success, 2 bad input, 3 API or
network error, 4 the task failed, 5 still pending (the task is kept in the journal: `resume`
finishes it). 1 is a bug, 130 an interruption (Ctrl-C), 141 a closed pipe on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from .._config import MODELS, Settings
from .._errors import (
    DeadlineExceeded,
    InvalidRequest,
    LumaPlaygroundError,
    OutputError,
    OutputExpired,
    SubmitOutcomeUnknown,
    TaskFailed,
)
from .._journal.journal import ACTIVE_STATES, FINAL_STATES
from .._pictures.sources import Picture, is_data_uri, is_url
from .._playground import Playground
from .._request import DURATION, MODEL, PROMPT, SIZE
from .._run.events import (
    Done,
    Downloading,
    Event,
    Processing,
    Queued,
    Submitted,
    Submitting,
    Uploaded,
    Uploading,
    Validated,
    WaitingForSlot,
)
from .._run.jobs import Job

EXIT_OK, EXIT_BUG, EXIT_INPUT, EXIT_API, EXIT_TASK, EXIT_PENDING = 0, 1, 2, 3, 4, 5
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141
#: The owner of the tasks started from the command line (the UI's sessions have their own).
OWNER = "local"
#: What a task id may look like: enough for any API's ids, nothing that could change the URL.
#: `history --state` takes a row state, or `pending` for every row with work left.
HISTORY_STATES = ("pending", *ACTIVE_STATES, *FINAL_STATES)


def operator_picture(image: str) -> str | Picture:
    """The picture the operator names: a URL or data URI as given, else a file on their machine."""
    text = image.strip()
    if is_url(text) or is_data_uri(text):
        return text
    return Picture.from_operator_file(text)


err = Console(stderr=True, highlight=False)

Simulate = Annotated[bool, typer.Option(help="Use an offline simulator started for this command.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log requests; show tracebacks.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
# A request's fields as options, in the words of their definitions (`_request.FIELDS`).
Prompt = Annotated[str, typer.Option("--prompt", "-p", help=PROMPT.help)]
SizeOption = Annotated[str, typer.Option("--size", help=f"{SIZE.spelled(notes=True)}.")]
DurationOption = Annotated[str, typer.Option("--duration", help=f"{DURATION.spelled()}.")]
#: The model's short names (`flash`) are taken too; its help names them after the ids.
MODEL_HELP = f"{MODEL.spelled(notes=True)}. Short names: {', '.join(m.alias for m in MODELS.values())}."
ModelOption = Annotated[str, typer.Option("--model", help=MODEL_HELP)]
#: The options' defaults as the command line spells them (typer shows them in the help).
SIZE_DEFAULT, DURATION_DEFAULT, MODEL_DEFAULT = str(SIZE.default), str(DURATION.default), str(MODEL.default)


def exit_code(error: BaseException) -> int:
    """The exit code that tells a script what kind of failure this was."""
    if isinstance(error, InvalidRequest):
        return EXIT_INPUT
    if isinstance(error, TaskFailed | OutputExpired):
        return EXIT_TASK
    if isinstance(error, DeadlineExceeded | SubmitOutcomeUnknown):
        return EXIT_PENDING
    return EXIT_API


def _run(main: Callable[[], Coroutine[Any, Any, int] | int], verbose: bool) -> None:
    """Run a command; turn what it raises into one line on stderr and an exit code."""
    _configure_logging(verbose)
    try:
        result = main()
        code = result if isinstance(result, int) else asyncio.run(result)
    except LumaPlaygroundError as error:
        code = exit_code(error)
        hint = " Run `luma-playground resume` to finish it." if code == EXIT_PENDING else ""
        _fail(error.message + hint, verbose)
    except BrokenPipeError:
        # Whoever read stdout has gone (`| head`); flushing at exit must not complain again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        err.print("interrupted: a submitted task is kept; `luma-playground resume` finishes it", markup=False)
        code = EXIT_INTERRUPTED
    except Exception as error:  # a bug, or the system refusing (a full disk): one line all the same
        hint = "" if verbose else " (--verbose shows where)"
        _fail(f"unexpected {type(error).__name__}: {error}{hint}", verbose)
        code = EXIT_BUG
    raise typer.Exit(code)


def _fail(message: str, verbose: bool) -> None:
    if verbose:
        err.print_exception()
    err.print(f"[red]error:[/red] {escape(' '.join(message.split()))}", soft_wrap=True)


def _configure_logging(verbose: bool) -> None:
    # Without --verbose, failures reach the user as the one error line, not as log records.
    logging.basicConfig(
        level=logging.INFO if verbose else logging.CRITICAL,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if verbose:
        logging.getLogger("luma_playground").setLevel(logging.DEBUG)


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as error:
        raise InvalidRequest(f"A setting in the environment is not valid: {error}.") from None


@contextlib.asynccontextmanager
async def _playground(simulate: bool) -> AsyncIterator[Playground]:
    """The playground for one command: the configured API, or a simulator of its own."""
    settings = _settings()
    if simulate:
        playground = Playground.open(settings.with_changes(api_key=None), start_simulator=True)
    elif settings.api_key is None:
        raise InvalidRequest(
            "No API key: set WAVESPEED_API_KEY, or add --simulate to use the offline simulator."
        )
    else:
        playground = Playground.open(settings, start_simulator=False)
    try:
        yield playground
    finally:
        await playground.aclose()


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


# -- generate -------------------------------------------------------------------------------


class _Progress:
    """Progress on stderr: a live status line on a terminal, else a line per phase (logs, pipes)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self._phase = ""
        self._text = "starting"
        self._status = err.status("starting") if err.is_terminal else None
        if self._status is not None:
            self._status.start()

    def show(self, event: Event | None) -> None:
        phase = self._phase
        if event is not None:
            phase, self._text = _describe(event)
        if self._status is not None:
            self._status.update(escape(self._line()))
        elif phase != self._phase:
            err.print(self._line(), markup=False, soft_wrap=True)
        self._phase = phase

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            err.print(self._line(), markup=False, soft_wrap=True)

    def _line(self) -> str:
        return f"{self._text}  [{time.monotonic() - self.started:.0f}s]"


def _describe(event: Event) -> tuple[str, str]:
    match event:
        case Validated():
            return "validated", "checked the request"
        case WaitingForSlot(running=running, limit=limit):
            return "waiting", f"waiting for a free slot ({running}/{limit} tasks running)"
        case Uploading(size_bytes=size):
            return "uploading", f"uploading the image ({size / 1e6:.1f} MB)"
        case Uploaded():
            return "uploaded", "image uploaded"
        case Submitting():
            return "submitting", "submitting the task"
        case Submitted(task_id=task_id, recovered=recovered):
            found = " (found again after a lost answer)" if recovered else ""
            return "submitted", f"task {task_id} submitted{found}"
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


async def _follow(job: Job) -> Done:
    """Show the job's progress until it ends; its video, or its error."""
    progress = _Progress()
    try:
        async for event in job.events(tick=1.0):
            progress.show(event)
    finally:
        progress.close()
    return await job.wait()


def _deliver(video: Path, output: Path | None) -> Path:
    """Where the MP4 ends: a copy at `output` (a file, or into a folder), else where it was saved."""
    if output is None:
        return video
    target = output / video.name if output.is_dir() else output
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copyfile(video, target))
    except OSError as error:
        raise OutputError(
            f"The video is saved at {video}, but copying it to {target} failed: {error.strerror or error}."
        ) from None
