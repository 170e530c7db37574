"""Batches: rows from a CSV or a zip, paced to the key's slots on the simulator, cancelled, resumed."""

from __future__ import annotations

import asyncio
import time
import zipfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from luma_playground import ApiKey, GenerationRequest, Playground, Settings
from luma_playground._errors import InvalidRequest, LumaPlaygroundError
from luma_playground._features.batch import BatchRun
from luma_playground._features.batch_input import (
    OperatorFolder,
    batch_price,
    parse_csv,
    rows_from_pictures,
    rows_from_zip,
)
from luma_playground._features.batch_store import BatchRow, BatchStore, RowState, counts, select
from luma_playground._guard.limits import Caller
from luma_playground._pictures.sources import Picture
from luma_playground.simulator import key_fingerprint

pytestmark = pytest.mark.anyio
KEY = "sk-batch-test"


def test_csv_rows_take_defaults_and_paths_relative_to_the_file(tmp_path, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """Size and duration may be left out; a relative image is found next to the CSV."""
    (tmp_path / "pic.png").write_bytes(landscape_image.read_bytes())
    text = "image,prompt,size,duration\npic.png,waves,,\n" + f"{landscape_image},pan left,720*1280,10\n\n"
    first, second = parse_csv(text, OperatorFolder(tmp_path))
    assert (first.image, first.prompt, first.size, first.duration) == (
        str(tmp_path / "pic.png"),
        "waves",
        "1280*720",
        5,
    )
    assert (second.size, second.duration, second.blocks) == ("720*1280", 10, 2)


def test_a_bad_csv_row_is_refused_with_its_line(tmp_path, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """One bad row refuses the whole batch, naming its line; a CSV without the columns is refused."""
    with pytest.raises(InvalidRequest, match="Line 3: Size must be one of"):
        parse_csv(
            f"image,prompt,size\n{landscape_image},a,\n{landscape_image},b,square\n", OperatorFolder(tmp_path)
        )
    with pytest.raises(InvalidRequest, match="Line 2: no image file"):
        parse_csv("image,prompt\nmissing.png,a\n", OperatorFolder(tmp_path))
    with pytest.raises(InvalidRequest, match="columns image and prompt"):
        parse_csv("picture,text\nx,y\n", OperatorFolder(tmp_path))


def test_a_zip_gives_a_row_per_picture_inside_its_folder(tmp_path, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """Pictures of a zip become rows in name order; other files are skipped; no path leads out."""
    archive = tmp_path / "pictures.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("b/second.png", landscape_image.read_bytes())
        bundle.writestr("a-first.jpg", landscape_image.read_bytes())
        bundle.writestr("../escape.png", landscape_image.read_bytes())
        bundle.writestr("notes.txt", "not a picture")
    rows = rows_from_zip(archive, "slow zoom", tmp_path / "out", duration=10)
    assert [Path(row.image).name for row in rows] == ["000-escape.png", "001-a-first.jpg", "002-second.png"]
    assert all(Path(row.image).parent.parent == tmp_path / "out" for row in rows)
    assert {(row.prompt, row.duration) for row in rows} == {("slow zoom", 10)}
    assert not (tmp_path / "escape.png").exists()


@pytest.fixture
async def playground(sim, tmp_path) -> AsyncIterator[Playground]:  # type: ignore[no-untyped-def]
    """A playground on the simulator with three slots per key, as on Bronze."""
    opened = _open(sim, tmp_path)
    try:
        yield opened
    finally:
        await opened.aclose()


def _open(sim, data_dir: Path, **changes: object) -> Playground:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=data_dir, base_url=sim.base_url, api_key=ApiKey(KEY), tasks_per_key=3)
    settings = settings.with_changes(**changes)
    return Playground.open(settings, start_simulator=False)


def _batch(playground: Playground, rows, caller: Caller | None = None, **options) -> BatchRun:  # type: ignore[no-untyped-def]
    caller = caller or Caller()
    backend, _ = playground.backend_for(None)
    batch_id = BatchStore(playground.journal).create(rows, source_hash="test", caller=caller, backend=backend)
    return BatchRun(playground, caller, batch_id, **options)


#: A batch of the page (the command line's own are resumed by running that command again).
PAGE = Caller("session:batch-test")


async def test_a_batch_of_12_never_runs_more_than_3_at_once(sim, playground, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """Twelve rows on a key with three slots: the simulator sees at most 3 active, all 12 done."""
    sim.control.set_limits(submits_per_minute=None, concurrent_tasks=3)
    rows = rows_from_pictures([Picture.from_operator_file(landscape_image)] * 12, "twelve in turn")
    price = await batch_price(playground, None, rows)
    assert price.total == pytest.approx(12 * 0.5) and price.simulated
    run = _batch(playground, rows)
    assert run.limit == 3
    seen_waiting = []
    follow = asyncio.ensure_future(run.run())
    async for snapshot in run.updates(tick=0.2):
        seen_waiting.append(counts(snapshot)["waiting"])
    finished = await follow
    usage = sim.control.limits()["keys"][key_fingerprint(KEY)]
    assert usage["peak_active"] == 3 and usage["submits"] == 12
    assert [row.state for row in finished] == [RowState.DONE] * 12
    assert all(row.video_path and Path(row.video_path).is_file() for row in finished)
    assert len({row.task_id for row in finished}) == 12
    assert seen_waiting[0] == 12 and seen_waiting[-1] == 0
    assert select(playground.journal, "SELECT state FROM batches") == [("done",)]


async def _running(run: BatchRun, position: int) -> None:
    """Wait until the row at `position` runs, and its job knows its task id."""
    async for snapshot in run.updates(tick=0.1):
        job = run.jobs.get(position)
        if snapshot[position].state == RowState.RUNNING and job is not None and job.task_id:
            return
    raise AssertionError(f"the batch ended before row {position} ran")


async def test_rows_cancel_one_by_one_or_all(sim, playground, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """A waiting row cancelled never starts; a running one is cancelled on the server; then all."""
    sim.control.add_fault("submit", "slow", count=2)  # the two rows that start run until cancelled
    run = _batch(
        playground,
        rows_from_pictures([Picture.from_operator_file(landscape_image)] * 3, "one at a time"),
        concurrency=1,
    )
    assert await run.cancel(2) == "Cancelled before it started: nothing was charged."
    follow = asyncio.ensure_future(run.run())
    await _running(run, 0)
    assert (await run.cancel(0)).startswith("Cancelled: WaveSpeed stopped task")
    await _running(run, 1)
    notes = await run.cancel_all()
    finished = await follow
    assert [row.state for row in finished] == [RowState.CANCELLED] * 3, notes
    assert [sim.control.task(row.task_id or "")["status"] for row in finished[:2]] == ["cancelled"] * 2
    assert finished[2].task_row_id is None
    assert sim.control.limits()["keys"][key_fingerprint(KEY)]["submits"] == 2
    assert select(playground.journal, "SELECT state FROM batches") == [("cancelled",)]


async def _stop_when(run: BatchRun, stop: Callable[[list[BatchRow]], object]) -> None:
    """Run the batch until `stop(rows)` holds, then shut its playground down as a stop would."""
    follow = asyncio.ensure_future(run.run())
    async for snapshot in run.updates(tick=0.1):
        if stop(snapshot):
            break
    follow.cancel()
    await asyncio.gather(follow, return_exceptions=True)
    await run.playground.aclose()  # type: ignore[attr-defined]


@pytest.mark.slow
async def test_a_batch_stopped_midway_resumes_without_a_second_submit(sim, tmp_path, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """A shutdown with rows running and waiting: the next run follows the started, starts the rest."""
    first = _open(sim, tmp_path)
    run = _batch(
        first,
        rows_from_pictures([Picture.from_operator_file(landscape_image)] * 6, "survive", duration=10),
        concurrency=2,
    )
    await _stop_when(
        run, lambda rows: sum(1 for row in rows if row.state == RowState.RUNNING and row.task_id) == 2
    )
    second = _open(sim, tmp_path)
    try:
        rows = BatchStore(second.journal).rows(run.batch_id)
        # A row may have ended between the last look and the stop; none started after it.
        assert counts(rows)["running"] + counts(rows)["done"] == 2 and counts(rows)["waiting"] == 4
        finished = await BatchRun(second, Caller(), run.batch_id).run()
    finally:
        await second.aclose()
    assert [row.state for row in finished] == [RowState.DONE] * 6
    usage = sim.control.limits()["keys"][key_fingerprint(KEY)]
    assert usage["submits"] == 6 and len({row.task_id for row in finished}) == 6


async def _journal_row(playground: Playground, request: GenerationRequest, image_url: str | None) -> int:
    """A journal row for `request` on the server's key, as the pipeline writes it before a submit."""
    backend, key = playground.backend_for(None)
    return await playground.journal.abegin(
        model="luma/ray-2-i2v",
        backend=backend.name,
        base_url=backend.client.base_url,
        owner="local",
        key_fingerprint=key.fingerprint if key else "",
        prompt=request.prompt,
        size=request.size.value,
        duration=request.duration,
        image=request.image,
        image_url=image_url,
    )


async def test_a_row_killed_while_starting_is_matched_to_its_task(sim, playground, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """A `starting` row whose journal row exists is followed, not sent again; one never written starts."""
    rows = rows_from_pictures([Picture.from_operator_file(landscape_image)] * 2, "caught mid-start")
    run = _batch(playground, rows)
    started = time.time()
    for position in (0, 1):
        await run.store.mark(run.batch_id, position, RowState.STARTING, started_at=started)
    backend, _ = playground.backend_for(None)
    request = rows[0].request()
    task = await backend.client.submit(request, await backend.client.upload_image(request.image_path))
    row_id = await _journal_row(playground, request, None)
    await playground.journal.aupdate(row_id, "created", task_id=task.id)
    finished = await BatchRun(playground, Caller(), run.batch_id).run()
    assert [row.state for row in finished] == [RowState.DONE, RowState.DONE]
    assert finished[0].task_row_id == row_id and finished[0].task_id == task.id
    assert sim.control.limits()["keys"][key_fingerprint(KEY)]["submits"] == 2


async def _to_the_end(run: BatchRun) -> list[BatchRow]:
    async for _ in run.updates(tick=0.1):
        pass
    return run.rows()


async def _until(run: BatchRun, reached: Callable[[list[BatchRow]], object]) -> list[BatchRow]:
    """The batch's rows once `reached(rows)` holds (the batch must not end before)."""
    async for rows in run.updates(tick=0.05):
        if reached(rows):
            return rows
    raise AssertionError("the batch ended first")


async def test_rows_waiting_for_the_pace_start_again_after_a_stop(sim, tmp_path, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """Stopped while rows wait for the key's submits per minute: never sent, they start again at start-up."""
    first = _open(sim, tmp_path, submits_per_minute=1)
    run = _batch(
        first,
        rows_from_pictures([Picture.from_operator_file(landscape_image)] * 3, "paced", duration=10),
        PAGE,
    )
    await _stop_when(run, lambda rows: all(row.state == RowState.RUNNING for row in rows) and rows[0].task_id)
    second = _open(sim, tmp_path)
    try:
        waited = [
            second.journal.get(row.task_row_id or 0) for row in BatchStore(second.journal).rows(run.batch_id)
        ]
        assert [(record.state, record.unsent) for record in waited if record][1:] == [("lost", True)] * 2
        await second.resume_at_startup()
        [resumed] = second.batches.runs.values()
        finished = await asyncio.wait_for(_to_the_end(resumed), 60)
    finally:
        await second.aclose()
    assert [row.state for row in finished] == [RowState.DONE] * 3
    assert sim.control.limits()["keys"][key_fingerprint(KEY)]["submits"] == 3


async def test_a_row_killed_before_its_submit_went_out_starts_again(sim, playground, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """A row a kill left `submitting`, never sent: start-up closes it as lost, and the row starts again."""
    run = _batch(
        playground,
        rows_from_pictures([Picture.from_operator_file(landscape_image)], "killed while paced"),
        PAGE,
    )
    row_id = await _journal_row(playground, run.rows()[0].input.request(), "https://example.com/uploaded.png")
    await run.store.mark(run.batch_id, 0, RowState.RUNNING, task_row_id=row_id, started_at=time.time())
    [stale] = await playground.resume_at_startup()
    with pytest.raises(LumaPlaygroundError, match="Stopped before its submit was sent"):
        await stale.wait()
    finished = await asyncio.wait_for(_to_the_end(playground.batches.runs[run.batch_id]), 30)
    assert [row.state for row in finished] == [RowState.DONE] and finished[0].task_row_id != row_id
    assert playground.journal.get(row_id).state == "lost"  # type: ignore[union-attr]
    assert sim.control.limits()["keys"][key_fingerprint(KEY)]["submits"] == 1


async def test_an_offline_batch_goes_on_with_the_next_simulator(
    tmp_path, landscape_image, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Keyless, a restart brings a new simulator: the row sent to the old one ends lost, the next runs."""
    monkeypatch.setenv("LUMA_PLAYGROUND_SIMULATOR_TIME_SCALE", "0.01")
    settings = Settings(data_dir=tmp_path)
    first = Playground.open(settings, start_simulator=True)
    assert first.simulator is not None
    first.simulator.control.add_fault("submit", "slow")  # row 1 still runs when the first process closes
    rows = rows_from_pictures([Picture.from_operator_file(landscape_image)] * 2, "offline", duration=10)
    run = first.batches.start(rows, source_hash="offline", caller=PAGE, concurrency=1)
    await _until(run, lambda rows: rows[0].state == RowState.RUNNING and rows[0].task_id)
    await first.aclose()
    second = Playground.open(settings, start_simulator=True)
    try:
        assert second.simulator is not None
        second.simulator.control.add_fault("submit", "slow")  # row 2 runs until the process closes
        await second.resume_at_startup()
        [resumed] = second.batches.runs.values()
        rows = await _until(resumed, lambda rows: rows[1].state == RowState.RUNNING and rows[1].task_id)
        assert [task["id"] for task in second.simulator.control.tasks()] == [rows[1].task_id]
        moved = second.batches.info(run.batch_id)
        assert moved is not None and moved.base_url == second.simulator.base_url
    finally:
        await second.aclose()
    assert rows[0].state == RowState.FAILED and "simulator" in (rows[0].error or "")
