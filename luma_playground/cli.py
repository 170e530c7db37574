"""The command line: `python -m luma_playground` / `luma-playground`.

Thin by design: it turns the pipeline's events into a progress line on stderr and prints the
saved video's path on stdout. Domain errors become one line on stderr and an exit code:
0 success, 2 bad input, 3 API or network error, 4 the task failed, 5 still pending
(the task is kept in the journal: `resume` finishes it). 1 is a bug, 130 an interruption
(Ctrl-C), 141 a closed pipe on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import shutil
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._config import Settings
from ._errors import (
    DeadlineExceeded,
    InvalidRequest,
    LumaPlaygroundError,
    OutputError,
    OutputExpired,
    SubmitOutcomeUnknown,
    TaskFailed,
)
from ._jobs import Job
from ._journal import ACTIVE_STATES, FINAL_STATES, Journal, TaskRecord
from ._limits import Caller
from ._models import (
    TASK_ID,
    Done,
    Downloading,
    Event,
    GenerationRequest,
    Processing,
    Queued,
    Submitted,
    Submitting,
    Uploaded,
    Uploading,
    Validated,
    WaitingForSlot,
)
from ._service import Outcome, Playground, check_record, finish_record

EXIT_OK, EXIT_BUG, EXIT_INPUT, EXIT_API, EXIT_TASK, EXIT_PENDING = 0, 1, 2, 3, 4, 5
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141
#: The owner of the tasks started from the command line (the UI's sessions have their own).
OWNER = "local"
#: What a task id may look like: enough for any API's ids, nothing that could change the URL.
#: `history --state` takes a row state, or `pending` for every row with work left.
HISTORY_STATES = ("pending", *ACTIVE_STATES, *FINAL_STATES)

app = typer.Typer(
    name="luma-playground",
    help="Luma Ray 2 image-to-video on WaveSpeedAI: generate, follow and keep your videos.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False)

Simulate = Annotated[bool, typer.Option(help="Use an offline simulator started for this command.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log requests; show tracebacks.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


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


@app.command()
def generate(
    image: Annotated[str, typer.Argument(help="An image file, or a public http(s) image URL.")],
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="The motion to create.")],
    size: Annotated[str, typer.Option(help="1280*720 (landscape) or 720*1280 (portrait).")] = "1280*720",
    duration: Annotated[str, typer.Option(help="5 or 10 seconds.")] = "5",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also copy the MP4 to this file or folder.")
    ] = None,
    as_json: AsJson = False,
    simulate: Simulate = False,
    verbose: Verbose = False,
) -> None:
    """Make a video from an image and a prompt; print the saved MP4's path (or the task as JSON)."""

    async def main() -> int:
        request = GenerationRequest.create(image, prompt, size, duration)
        async with _playground(simulate) as playground:
            [job] = await playground.start(request, Caller(OWNER))
            done = await _follow(job)
            record = playground.journal.by_task_id(done.task_id)
        path = _deliver(done.video_path, output)
        if as_json and record is not None:
            _print_json({**record.to_json(), "output": str(path)})
        else:
            print(path)
        return EXIT_OK

    _run(main, verbose)


# -- resume and get -------------------------------------------------------------------------


def _outcome_code(outcome: Outcome) -> int:
    record = outcome.record
    if record.state == "completed" and record.video_path:
        return EXIT_OK
    if record.pending:
        return exit_code(outcome.error) if outcome.error else EXIT_PENDING
    return EXIT_TASK


def _summary(outcome: Outcome) -> str:
    """One tab-separated line: task id, state, then the video's path or what went wrong."""
    record = outcome.record
    name = record.task_id or f"row-{record.row_id}"
    if record.state == "completed" and record.video_path:
        detail = record.video_path
    elif record.pending and outcome.error is not None:
        detail = outcome.error.message
    else:
        detail = record.error or ""
    return "\t".join((name, record.state, " ".join(detail.split()))).rstrip()


@app.command()
def resume(as_json: AsJson = False, simulate: Simulate = False, verbose: Verbose = False) -> None:
    """Finish every pending task (after a crash, a kill or a timeout); print what became of each.

    A line per task on stdout: task id, state, and the video's path or the reason.
    """

    async def main() -> int:
        async with _playground(simulate) as playground:
            _, key = playground.backend_for(None)
            journal = playground.journal
            before = journal.pending()
            records = playground.resumable()
            # Rows of an offline simulator that has stopped were just marked lost: say so.
            now = [journal.get(record.row_id) for record in before]
            outcomes = [Outcome(row) for row in now if row is not None and not row.pending]
            if others := len(journal.pending()) - len(records):
                err.print(
                    f"{others} pending task(s) belong to another key or API address: left "
                    "alone (run resume with that key and WAVESPEED_BASE_URL)",
                    markup=False,
                )
            err.print(f"resuming {len(records)} task(s)" if records else "nothing to resume", markup=False)
            if not as_json:
                for outcome in outcomes:
                    print(_summary(outcome), flush=True)
            for finished in asyncio.as_completed(
                [finish_record(playground, record, key) for record in records]
            ):
                outcome = await finished
                outcomes.append(outcome)
                if not as_json:
                    print(_summary(outcome), flush=True)
        if as_json:
            _print_json([_with_error(outcome) for outcome in outcomes])
        return max((_outcome_code(outcome) for outcome in outcomes), default=EXIT_OK)

    _run(main, verbose)


def _with_error(outcome: Outcome) -> dict[str, Any]:
    data = outcome.record.to_json()
    if outcome.error is not None and outcome.record.pending:
        data["error"] = outcome.error.message
    return data


def _needs_work(record: TaskRecord) -> bool:
    """True when the row has a task to follow, or a video that is not (or no longer) on disk."""
    if record.pending:
        return True
    return record.state == "completed" and not Path(record.video_path or "").is_file()


@app.command()
def get(
    task_id: Annotated[str, typer.Argument(help="A task id from this or any other client.")],
    wait: Annotated[bool, typer.Option(help="Wait until the task ends.")] = False,
    as_json: AsJson = False,
    simulate: Simulate = False,
    verbose: Verbose = False,
) -> None:
    """Show a task's status and save its video when it is complete; print the MP4's path.

    Any task of your key works, also one created elsewhere: it joins the journal.
    """

    async def main() -> int:
        wanted = task_id.strip()
        if not TASK_ID.fullmatch(wanted):
            raise InvalidRequest(f"{task_id[:60]!r} is not a task id.", field="task_id")
        async with _playground(simulate) as playground:
            _, key = playground.backend_for(None)
            record = playground.journal.by_task_id(wanted)
            if record is None:
                record = await playground.adopt(wanted, key, owner=OWNER)
            outcome = Outcome(record)
            if _needs_work(record):
                if wait:
                    err.print(f"waiting for task {wanted}", markup=False)
                outcome = await (finish_record if wait else check_record)(playground, record, key)
        return _report(outcome, as_json)

    _run(main, verbose)


def _report(outcome: Outcome, as_json: bool) -> int:
    """`get`'s answer: the record as JSON, or its state on stderr and its video on stdout."""
    record, code = outcome.record, _outcome_code(outcome)
    if as_json:
        _print_json(_with_error(outcome))
    if code == EXIT_OK:
        err.print(f"task {record.task_id} completed", markup=False)
        if not as_json:
            print(record.video_path)
    elif code == EXIT_PENDING and outcome.error is None:
        err.print(
            f"task {record.task_id} is {record.state}: `get {record.task_id} --wait` or `resume` finishes it",
            markup=False,
        )
    else:
        message = outcome.error.message if outcome.error and record.pending else record.error
        _fail(message or f"The task ended as {record.state}.", verbose=False)
    return code


# -- history --------------------------------------------------------------------------------


@app.command()
def history(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per task.")] = False,
    state: Annotated[
        str | None, typer.Option(help=f"Only tasks in this state: {', '.join(HISTORY_STATES)}.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many tasks, newest first.")] = 50,
    verbose: Verbose = False,
) -> None:
    """List the tasks in the journal, newest first."""

    def main() -> int:
        if state is not None and state not in HISTORY_STATES:
            raise InvalidRequest(f"--state must be one of {', '.join(HISTORY_STATES)}.")
        journal = Journal(_settings().journal_path)
        try:
            if state == "pending":
                records = journal.pending()[::-1][:limit]
            else:
                records = journal.history(states=None if state is None else [state], limit=limit)
        finally:
            journal.close()
        if as_json:
            _print_json([record.to_json() for record in records])
        elif records:
            _print_table(records)
        else:
            err.print("no tasks" + (f" in state {state}" if state else " yet"), markup=False)
        return EXIT_OK

    _run(main, verbose)


def _print_table(records: list[TaskRecord]) -> None:
    out = Console(highlight=False)
    if not out.is_terminal:
        out = Console(highlight=False, width=240)  # whole ids and paths for pipes and files
    table = Table("task", "state", "created", "size", "s", "prompt", "video or reason")
    for r in records:
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at))
        table.add_row(
            r.task_id or f"row-{r.row_id}",
            r.state,
            created,
            r.size,
            str(r.duration or ""),
            escape(r.prompt[:40]),
            escape(r.video_path or (r.error or "")[:80]),
        )
    out.print(table)


# -- simulator ------------------------------------------------------------------------------


@app.command()
def simulator(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8765,
    time_scale: Annotated[
        float, typer.Option(min=0.0, help="Multiplies every simulated wait (0.1: a 48 s task takes 4.8 s).")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="Seeds the timing model.")] = 0,
    verbose: Verbose = False,
) -> None:
    """Run the offline WaveSpeed simulator until interrupted (point WAVESPEED_BASE_URL at it)."""

    def main() -> int:
        from .simulator import serve

        try:
            with socket.create_server((host, port)):
                pass
        except OSError as error:
            reason = os.strerror(error.errno) if error.errno else str(error)
            raise InvalidRequest(f"Cannot listen on {host}:{port}: {reason}.") from None
        if isinstance(sys.stdout, io.TextIOWrapper):
            sys.stdout.reconfigure(line_buffering=True)  # the address shows at once in a pipe
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a server is stopped
            serve(host=host, port=port, time_scale=time_scale, seed=seed)
        err.print("simulator stopped", markup=False)
        return EXIT_OK

    _run(main, verbose)


def main() -> None:
    """Entry point of the `luma-playground` script."""
    app()
