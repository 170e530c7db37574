"""`luma-playground batch rows.csv`: many videos, paced to the key, resumed by running it again.

The batch is found again by the content of its CSV (or zip): a second run of the same command
after Ctrl-C or a kill follows the rows already submitted and starts the others, instead of
starting over. Before a new batch starts, its total price is shown and confirmed (`--yes`
confirms it in advance; without a terminal to ask on, `--yes` is required).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from .._errors import InvalidRequest, OutputError
from .._features.batch import BatchRun
from .._features.batch_input import (
    CSV_HEADER,
    BatchInput,
    OperatorFolder,
    batch_price,
    content_hash,
    parse_csv,
    rows_from_zip,
)
from .._features.batch_store import BatchRow, BatchStore, RowState, counts
from .._guard.limits import Caller
from .._playground import Playground
from .tasks import (
    EXIT_OK,
    EXIT_PENDING,
    EXIT_TASK,
    OWNER,
    AsJson,
    Simulate,
    Verbose,
    _playground,
    _print_json,
    _run,
    err,
)

__all__ = ["batch"]


def _read_rows(
    source: Path, prompt: str | None, data_dir: Path, model: str | None = None
) -> tuple[list[BatchInput], str]:
    """The rows of a CSV (or of a zip of pictures with one prompt and model), and the source's hash."""
    try:
        data = source.read_bytes()
    except OSError as error:
        raise InvalidRequest(f"Cannot read {source}: {error.strerror or error}.", field="rows") from None
    if source.suffix.lower() == ".zip":
        if not prompt:
            raise InvalidRequest(
                "A zip of pictures needs the prompt they share: add --prompt.", field="prompt"
            )
        rows = rows_from_zip(source, prompt, data_dir / "batches", model=model)
        return rows, content_hash(data + b"\0" + prompt.encode() + (b"\0" + model.encode() if model else b""))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest(f"{source} is not a UTF-8 CSV file.", field="rows") from None
    return parse_csv(text, OperatorFolder(source.resolve().parent)), content_hash(data)


def _confirm(summary: str, yes: bool) -> bool:
    err.print(summary, markup=False, soft_wrap=True)
    if yes:
        return True
    if not sys.stdin.isatty():
        raise InvalidRequest("There is no terminal to confirm the price on: add --yes to start the batch.")
    return typer.confirm("Start the batch?", default=False, err=True)


def _eta(seconds: float | None) -> str:
    return "" if seconds is None else f" · about {seconds:.0f}s left"


def _line(rows: list[BatchRow], run: BatchRun) -> str:
    found = counts(rows)
    ended = found["done"] + found["failed"] + found["cancelled"]
    extra = "".join(f" · {found[name]} {name}" for name in ("failed", "cancelled") if found[name])
    return (
        f"{ended}/{len(rows)} ended · {found['done']} done · {found['running'] + found['starting']} running"
        f" · {found['waiting']} waiting{extra}{_eta(run.eta(rows))}"
    )


async def _show(run: BatchRun) -> None:
    """Follow the batch: a progress bar on a terminal, else a line at every change."""
    if err.is_terminal:
        columns = (TextColumn("batch"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"))
        with Progress(*columns, console=err, transient=False) as progress:
            bar = progress.add_task("", total=None)
            async for rows in run.updates(tick=1.0):
                ended = sum(1 for row in rows if row.ended)
                progress.update(bar, total=len(rows), completed=ended, description=_line(rows, run))
        return
    last = ""
    async for rows in run.updates(tick=1.0):
        line = _line(rows, run).split(" · about")[0]
        if line != last:
            err.print(line, markup=False, soft_wrap=True)
            last = line


def _deliver(rows: list[BatchRow], out: Path | None) -> dict[int, str]:
    """Where each done row's MP4 ends: copied into `out` as NNN-<task id>.mp4, else where saved."""
    paths = {}
    for row in rows:
        if row.state != RowState.DONE or not row.video_path:
            continue
        paths[row.position] = row.video_path
        if out is None:
            continue
        target = out / f"{row.position + 1:03d}-{row.task_id or row.task_row_id}.mp4"
        try:
            out.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                shutil.copyfile(row.video_path, target)
        except OSError as error:
            raise OutputError(f"Copying the videos to {out} failed: {error.strerror or error}.") from None
        paths[row.position] = str(target)
    return paths


def _summary(row: BatchRow, path: str | None) -> str:
    detail = path or " ".join((row.error or "").split())
    return "\t".join((str(row.position + 1), row.task_id or "-", row.state, detail)).rstrip()


def _code(rows: list[BatchRow]) -> int:
    if all(row.state == RowState.DONE for row in rows):
        return EXIT_OK
    if any(not row.ended for row in rows):
        return EXIT_PENDING
    return EXIT_TASK


async def _open_batch(
    playground: Playground,
    source: Path,
    prompt: str | None,
    yes: bool,
    concurrency: int | None,
    model: str | None = None,
) -> BatchRun | None:
    """The batch of this source to resume, or a new one once its price is confirmed (None: declined)."""
    rows, source_hash = _read_rows(source, prompt, playground.settings.data_dir, model)
    backend, key = playground.backend_for(None)
    store, caller = BatchStore(playground.journal), Caller(OWNER)
    found = store.unfinished(source_hash, key.fingerprint if key else "")
    if found is not None:
        left = sum(1 for row in store.rows(found) if not row.ended)
        err.print(f"resuming batch {found}: {left} of {len(rows)} row(s) left", markup=False)
        return BatchRun(playground, caller, found, concurrency=concurrency)
    price = await batch_price(playground, None, rows)
    if not _confirm(price.describe(), yes):
        return None
    batch_id = store.create(rows, source_hash=source_hash, caller=caller, backend=backend)
    return BatchRun(playground, caller, batch_id, concurrency=concurrency)


def batch(
    rows: Annotated[Path, typer.Argument(help=f"A CSV with columns {CSV_HEADER}; or a zip of pictures.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also copy the MP4s into this folder.")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="At most this many at once (never more than the key's tier).")
    ] = None,
    prompt: Annotated[
        str | None, typer.Option("--prompt", "-p", help="The prompt of a zip's pictures.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="The model of a zip's pictures: ray-2 or flash (a CSV has a model column)."),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Start without asking to confirm the price.")
    ] = False,
    as_json: AsJson = False,
    simulate: Simulate = False,
    verbose: Verbose = False,
) -> None:
    """Make a video for every row, paced to the key's tier; run it again to resume it.

    A line per row on stdout: its number, task id, state, and the video's path or the reason.
    """

    async def main() -> int:
        started = time.monotonic()
        async with _playground(simulate) as playground:
            run = await _open_batch(playground, rows, prompt, yes, concurrency, model)
            if run is None:
                err.print("not confirmed: nothing was started", markup=False)
                return EXIT_OK
            shown = asyncio.ensure_future(_show(run))
            try:
                finished = await run.run()
            finally:
                if not run.finished:  # interrupted: the display would wait for an end that never comes
                    shown.cancel()
                await asyncio.gather(shown, return_exceptions=True)
            paths = _deliver(finished, out)
        _report(finished, paths, as_json)
        err.print(f"batch {run.batch_id} ended in {time.monotonic() - started:.0f}s", markup=False)
        return _code(finished)

    _run(main, verbose)


def _report(rows: list[BatchRow], paths: dict[int, str], as_json: bool) -> None:
    if as_json:
        _print_json([_row_json(row, paths.get(row.position)) for row in rows])
        return
    for row in rows:
        print(_summary(row, paths.get(row.position)), flush=True)


def _row_json(row: BatchRow, path: str | None) -> dict[str, Any]:
    return {
        "position": row.position + 1,
        "image": row.image,
        "prompt": row.prompt,
        "size": row.size,
        "duration": row.duration,
        "model": row.model,
        "state": row.state.value,
        "task_id": row.task_id,
        "video_path": path,
        "error": row.error,
    }
