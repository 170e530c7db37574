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
import os
import socket
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .._errors import InvalidRequest
from .._features.adopted import adopt
from .._features.drafts import finish_draft
from .._features.follow import Outcome, check_record, finish_record
from .._guard.limits import Caller
from .._journal.journal import Journal, TaskRecord
from .._playground import Playground
from .._request import TASK_ID, GenerationRequest, check_task_id
from .._run.jobs import Job
from .common import (
    DURATION_DEFAULT,
    EXIT_OK,
    EXIT_PENDING,
    EXIT_TASK,
    HISTORY_STATES,
    MODEL_DEFAULT,
    OWNER,
    SIZE_DEFAULT,
    AsJson,
    DurationOption,
    ModelOption,
    Prompt,
    Simulate,
    SizeOption,
    Verbose,
    _deliver,
    _fail,
    _follow,
    _playground,
    _print_json,
    _run,
    _settings,
    err,
    exit_code,
    operator_picture,
)
from .shots import resume_shots

__all__ = ["finish", "generate", "get", "history", "resume", "simulator"]


def generate(
    image: Annotated[str, typer.Argument(help="An image file, or a public http(s) image URL.")],
    prompt: Prompt,
    size: SizeOption = SIZE_DEFAULT,
    duration: DurationOption = DURATION_DEFAULT,
    model: ModelOption = MODEL_DEFAULT,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also copy the MP4 to this file or folder.")
    ] = None,
    as_json: AsJson = False,
    simulate: Simulate = False,
    verbose: Verbose = False,
) -> None:
    """Make a video from an image and a prompt; print the saved MP4's path (or the task as JSON)."""

    async def main() -> int:
        request = GenerationRequest.create(
            operator_picture(image), prompt, size=size, duration=duration, model=model
        )
        async with _playground(simulate) as playground:
            [job] = await playground.start(request, Caller(OWNER))
            return await _delivered(playground, job, output, as_json)

    _run(main, verbose)


def finish(
    task_id: Annotated[str, typer.Argument(help="The finished Ray 2 Flash draft's task id.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also copy the MP4 to this file or folder.")
    ] = None,
    as_json: AsJson = False,
    simulate: Simulate = False,
    verbose: Verbose = False,
) -> None:
    """Finish a Ray 2 Flash draft in Ray 2: the same picture (not uploaded again), prompt and settings."""

    async def main() -> int:
        wanted = check_task_id(task_id)
        async with _playground(simulate) as playground:
            draft = playground.journal.by_task_id(wanted)
            if draft is None:
                raise InvalidRequest(
                    "No draft with this task id in this playground's journal.", field="task_id"
                )
            job = await finish_draft(playground, draft, Caller(OWNER))
            return await _delivered(playground, job, output, as_json)

    _run(main, verbose)


async def _delivered(playground: Playground, job: Job, output: Path | None, as_json: bool) -> int:
    """Follow a started job to its video; print the saved MP4's path (or the task as JSON)."""
    done = await _follow(job)
    record = playground.journal.by_task_id(done.task_id)
    path = _deliver(done.video_path, output)
    if as_json and record is not None:
        _print_json({**record.to_json(), "output": str(path)})
    else:
        print(path)
    return EXIT_OK


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


def resume(as_json: AsJson = False, simulate: Simulate = False, verbose: Verbose = False) -> None:
    """Finish every pending task (after a crash, a kill or a timeout); print what became of each.

    A line per task on stdout: task id, state, and the video's path or the reason. Then the
    shots left extending go on (their pending segment was one of those tasks): a line per shot.
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
            shots = await resume_shots(playground, as_json)
        if as_json:
            _print_json([_with_error(outcome) for outcome in outcomes] + shots)
        codes = [_outcome_code(outcome) for outcome in outcomes]
        codes += [EXIT_OK if shot["state"] == "ready" else EXIT_TASK for shot in shots]
        return max(codes, default=EXIT_OK)

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
                record = await adopt(playground, wanted, key, owner=OWNER)
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
        from ..simulator import serve

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
