"""The pipeline and its jobs: events, the journal, lost submits, failures, cancel, resume."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import TypeVar

import pytest

from luma_playground import (
    ApiKey,
    ContentModerated,
    DeadlineExceeded,
    Done,
    GenerationRequest,
    Journal,
    Processing,
    Queued,
    SubmitOutcomeUnknown,
    Submitted,
    TaskFailed,
    Timeouts,
    WaveSpeedClient,
)
from luma_playground._run.jobs import Job, Runner
from luma_playground._run.pipeline import Pipeline
from luma_playground._wavespeed.retry import RetryPolicy

pytestmark = pytest.mark.anyio
KEY = ApiKey("sk-pipeline-test")
E = TypeVar("E")


async def test_pipelines_with_the_same_jitter_seed_poll_their_tasks_alike(tmp_path) -> None:
    """The i-th task of two pipelines seeded alike gets the same jitter; without a seed they differ."""
    client = WaveSpeedClient("http://127.0.0.1:9", KEY)
    journal = Journal(tmp_path / "journal.sqlite3")

    def first_waits(seed: int | None) -> list[float]:
        pipeline = Pipeline.create(client, journal, tmp_path / "outputs", jitter_seed=seed)
        return [pipeline._schedule("1280*720", 5).next_delay("created", 0.5) for _ in range(3)]

    assert first_waits(4) == first_waits(4)
    assert len(set(first_waits(4))) == 3, "each task has a jitter of its own"
    assert first_waits(None) != first_waits(None)
    await client.aclose()
    journal.close()


@pytest.fixture
async def pipeline(sim, tmp_path):  # type: ignore[no-untyped-def]
    client = WaveSpeedClient(sim.base_url, KEY, retry=RetryPolicy(scale=0), timeouts=Timeouts(read=1.0))
    journal = Journal(tmp_path / "journal.sqlite3")
    yield Pipeline.create(client, journal, tmp_path / "outputs")
    await client.aclose()
    journal.close()


async def _run(pipeline: Pipeline, request: GenerationRequest) -> list[object]:
    return [event async for event in pipeline.generate(request, api_key=KEY)]


async def first(events: AsyncIterator[object], kind: type[E]) -> E:
    """The first event of `kind`; the test fails if the events end without one."""
    async for event in events:
        if isinstance(event, kind):
            return event
    pytest.fail(f"the events ended without a {kind.__name__}")


async def test_generate_records_everything(pipeline, sim, landscape_image) -> None:
    """A generation walks every phase and leaves a completed row with the video on disk."""
    events = await _run(pipeline, GenerationRequest.create(landscape_image, "zoom in", duration=10))
    names = [type(e).__name__ for e in events]
    assert names[:4] == ["Uploading", "Uploaded", "Submitting", "Submitted"]
    assert names[-1] == "Done" and "Downloading" in names
    assert any(isinstance(e, Queued | Processing) for e in events)
    done = events[-1]
    assert isinstance(done, Done) and done.video_path.exists()
    assert done.video_path.name == f"{done.task_id}.mp4"
    record = pipeline.journal.by_task_id(done.task_id)
    assert record.state == "completed" and record.video_path == str(done.video_path)
    assert record.key_fingerprint == KEY.fingerprint and not record.pending
    states = [s for s, _, _ in pipeline.journal.transitions(record.row_id)]
    assert states[:2] == ["submitting", "created"] and states[-1] == "completed"
    assert sim.control.task(done.task_id)["submits"] == 1


async def test_task_id_is_journaled_before_the_first_poll(pipeline, sim, landscape_image) -> None:
    """When Submitted is seen, the journal row already holds the task id."""
    request = GenerationRequest.create(landscape_image, "p")
    async with contextlib.aclosing(pipeline.generate(request, api_key=KEY)) as events:
        submitted = await first(events, Submitted)
        assert pipeline.journal.by_task_id(submitted.task_id).state == "created"
        assert sim.control.task(submitted.task_id)["polls"] == 0


@pytest.mark.parametrize(
    ("history_inputs", "said"), [("asked", "exact input"), ("never", "model and creation time")]
)
async def test_lost_submit_is_found_in_history(pipeline, sim, landscape_image, history_inputs, said) -> None:
    """A dropped submit's task is found (by input, else model and time), not resent; the event says how."""
    sim.control.set_behaviour(history_inputs=history_inputs)
    sim.control.add_fault("submit", "drop", after_processing=True)
    events = await _run(pipeline, GenerationRequest.create(landscape_image, "lost answer"))
    submitted = next(e for e in events if isinstance(e, Submitted))
    assert submitted.recovered and isinstance(events[-1], Done) and said in submitted.match
    assert sim.control.stats()["routes"]["submit"] == 1
    states = [
        s for s, _, _ in pipeline.journal.transitions(pipeline.journal.by_task_id(submitted.task_id).row_id)
    ]
    assert states[:3] == ["submitting", "unknown", "created"]


async def test_lost_submits_of_one_input_looked_for_at_once_each_take_a_task(
    pipeline, sim, landscape_image
) -> None:
    """Rows of one input whose answers were lost at one moment, looked for at once: a task each."""
    # As a batch of one picture and prompt cut by a restart: both would take the nearest task.
    request = GenerationRequest.create(landscape_image, "five takes of one picture")
    image_url = await pipeline.client.upload_image(landscape_image, api_key=KEY)
    made = {(await pipeline.client.submit(request, image_url, api_key=KEY)).id for _ in range(2)}
    sent_at = time.time()
    rows = [
        pipeline.journal.begin(
            model=request.model,
            backend="wavespeed",
            base_url=sim.base_url,
            owner="",
            prompt=request.prompt,
            key_fingerprint=KEY.fingerprint,
            size=request.size,
            duration=request.duration,
            image=str(landscape_image),
            image_url=image_url,
        )
        for _ in range(2)
    ]
    # Both searches read their history page together, before either has written its match.
    sim.control.add_fault("history", "stall", seconds=0.3, count=2)
    found = await asyncio.gather(*(pipeline.find_lost_submit(row, KEY, sent_at, 0) for row in rows))
    assert {match.task_id for match in found if match} == made
    assert {pipeline.journal.get(row).task_id for row in rows} == made


async def test_a_match_by_time_among_several_tasks_says_it_may_be_another_clients(
    pipeline, sim, landscape_image
) -> None:
    """With no inputs and another client's task made at once, the match says it may be another client's."""
    sim.control.set_behaviour(history_inputs="never")
    request = GenerationRequest.create(landscape_image, "elsewhere")
    image_url = await pipeline.client.upload_image(landscape_image, api_key=KEY)
    await pipeline.client.submit(request, image_url, api_key=KEY)  # another client, same key
    sim.control.add_fault("submit", "drop", after_processing=True)
    events = await _run(pipeline, GenerationRequest.create(landscape_image, "ours"))
    submitted = next(e for e in events if isinstance(e, Submitted))
    assert submitted.recovered and "may be another client's task" in submitted.match
    record = pipeline.journal.by_task_id(submitted.task_id)
    details = [detail or "" for _, _, detail in pipeline.journal.transitions(record.row_id)]
    assert any("may be another client's task" in detail for detail in details)


@pytest.mark.slow
async def test_a_submit_cut_off_before_the_server_saw_it_is_never_sent_again(
    pipeline, sim, landscape_image
) -> None:
    """No task in the history after a dropped submit: the run says so, and resume does not resend."""
    sim.control.add_fault("submit", "drop")  # the connection closes before any task is made
    with pytest.raises(SubmitOutcomeUnknown, match="looks again"):
        await _run(pipeline, GenerationRequest.create(landscape_image, "cut off"))
    [record] = pipeline.journal.pending()
    assert record.state == "unknown" and record.task_id is None and not record.unsent
    with pytest.raises(SubmitOutcomeUnknown):
        [event async for event in pipeline.resume(record, api_key=KEY)]
    assert pipeline.journal.get(record.row_id).state == "unknown"  # looked for again later, never resent
    assert sim.control.stats()["routes"]["submit"] == 1 and sim.control.tasks() == []


@pytest.mark.parametrize(
    ("kind", "error", "code"),
    [
        ("task_failed", TaskFailed, 1403),
        ("moderation", ContentModerated, 1200),
    ],
)
async def test_failed_tasks_surface_code_and_text(pipeline, sim, landscape_image, kind, error, code) -> None:
    """A failed task raises with the API's code and text; the row is failed with them."""
    sim.control.add_fault("submit", kind)
    with pytest.raises(error) as caught:
        await _run(pipeline, GenerationRequest.create(landscape_image, "p"))
    assert caught.value.code == code and caught.value.task_id
    record = pipeline.journal.by_task_id(caught.value.task_id)
    assert record.state == "failed" and record.error_code == code


async def test_foreign_image_url_fails_with_1402(pipeline, sim) -> None:
    """An image URL the API cannot fetch fails the task with code 1402."""
    request = GenerationRequest.create("https://images.example.com/none.png", "p")
    with pytest.raises(TaskFailed) as caught:
        await _run(pipeline, request)
    assert caught.value.code == 1402 and "download" in str(caught.value).lower()


async def test_a_pending_phase_does_not_end_the_wait(pipeline, sim, landscape_image) -> None:
    """A task that reports `pending` (a status the docs do not name) is waited for, not failed."""
    sim.control.set_behaviour(pending_s=100)  # 1 s at the suite's time scale: the first poll sees it
    events = await _run(pipeline, GenerationRequest.create(landscape_image, "patience"))
    assert isinstance(events[-1], Done) and events[-1].video_path.exists()
    assert sim.control.task(events[-1].task_id)["polls"] >= 2


async def test_deadline_keeps_the_task_for_resume(pipeline, sim, landscape_image) -> None:
    """A deadline that expires keeps the task id; resume later saves the video."""
    pipeline.deadline = 0.2
    with pytest.raises(DeadlineExceeded) as caught:
        await _run(pipeline, GenerationRequest.create(landscape_image, "slow", duration=10))
    task_id = caught.value.task_id
    assert task_id and task_id in str(caught.value)
    record = pipeline.journal.by_task_id(task_id)
    assert record.pending
    pipeline.deadline = 60
    events = [e async for e in pipeline.resume(record, api_key=KEY)]
    assert isinstance(events[-1], Done)
    assert pipeline.journal.by_task_id(task_id).state == "completed"
    assert sim.control.task(task_id)["submits"] == 1


async def test_jobs_finish_when_nobody_watches(pipeline, sim, landscape_image) -> None:
    """A follower that stops (a closed tab) does not stop the job: the video is saved."""
    runner = Runner(pipeline)
    job = runner.start(GenerationRequest.create(landscape_image, "p"), api_key=KEY)
    async with contextlib.aclosing(job.events()) as events:
        await first(events, Submitted)
    # The tab has closed: nobody follows the job any more.
    done = await job.wait()
    assert done.video_path.exists()


async def test_cancel_stops_at_once_and_tells(pipeline, sim, landscape_image) -> None:
    """Cancel ends the job, deletes the remote task, waits for WaveSpeed to say it stopped, and says so."""
    runner = Runner(pipeline)
    job = runner.start(GenerationRequest.create(landscape_image, "p", duration=10), api_key=KEY)
    async with contextlib.aclosing(job.events()) as events:
        await first(events, Submitted)
    note = await job.cancel()
    assert note.startswith("Cancelled: WaveSpeed stopped task") and job.task_id in note
    assert "not a refund" in note and job.done is None
    assert sim.control.task(job.task_id)["status"] == "cancelled"
    assert pipeline.journal.by_task_id(job.task_id).state == "cancelled"


@pytest.mark.parametrize("deleted_as", ["deleted", "gone"])
async def test_a_task_deleted_or_no_longer_found_after_a_cancel_is_cancelled(
    pipeline, sim, landscape_image, deleted_as: str
) -> None:
    """After the DELETE, a task that reads `deleted` or is no longer found (404) ends cancelled."""
    sim.control.set_behaviour(deleted_as=deleted_as)
    runner = Runner(pipeline)
    job = runner.start(GenerationRequest.create(landscape_image, "p", duration=10), api_key=KEY)
    async with contextlib.aclosing(job.events()) as events:
        await first(events, Submitted)
    assert (await job.cancel()).startswith("Cancelled: WaveSpeed stopped task")
    assert pipeline.journal.by_task_id(job.task_id).state == "cancelled"


async def test_a_cancel_wavespeed_ignores_ends_with_the_video_saved_and_charged(
    pipeline, sim, landscape_image
) -> None:
    """A task WaveSpeed finishes despite the DELETE is followed and its video saved; the note says charged."""
    sim.control.add_fault("cancel", "ignored")
    runner = Runner(pipeline)
    job = runner.start(GenerationRequest.create(landscape_image, "p", duration=10), api_key=KEY)
    async with contextlib.aclosing(job.events()) as events:
        await first(events, Submitted)
    note = await job.cancel()
    assert note.startswith("Too late to cancel") and "charged" in note and job.task_id in note
    assert job.done is not None and job.done.video_path.exists() and job.cancelled
    assert sim.control.task(job.task_id)["cancel_ignored"] is True
    record = pipeline.journal.by_task_id(job.task_id)
    assert record.state == "completed" and record.video_path == str(job.done.video_path)


async def test_a_cancel_that_comes_too_late_says_the_task_finished(pipeline, sim, landscape_image) -> None:
    """WaveSpeed refuses to cancel a finished task: the note says it is charged and saved, not "may run"."""
    runner = Runner(pipeline)
    job = runner.start(GenerationRequest.create(landscape_image, "p"), api_key=KEY)
    await job.wait()
    note = await runner.cancel_task(job.task_id, api_key=KEY)
    assert note.startswith("Too late to cancel") and job.task_id in note and "may still run" not in note
    assert sim.control.task(job.task_id)["status"] == "completed"


async def test_cancel_before_submit_costs_nothing(pipeline, sim, landscape_image) -> None:
    """Cancelling before the submit leaves nothing on the server."""
    runner = Runner(pipeline)
    job = runner.start(GenerationRequest.create(landscape_image, "p"), api_key=KEY)
    note = await job.cancel()
    assert "nothing was charged" in note
    # The job has ended before any submit began (no journal row), so none can reach the server now.
    assert job.finished and job.row_id is None
    assert sim.control.tasks() == []
    assert "submit" not in sim.control.stats()["routes"]


async def test_slots_follow_the_account_limit(pipeline, sim, landscape_image) -> None:
    """With a limit of one task per key, a second job waits for a free slot."""
    runner = Runner(pipeline, tasks_per_key=1)
    first = runner.start(GenerationRequest.create(landscape_image, "a"), api_key=KEY)
    second = runner.start(GenerationRequest.create(landscape_image, "b"), api_key=KEY)
    seen = [type(e).__name__ async for e in second.events() if e is not None]
    assert "WaitingForSlot" in seen
    await first.wait()
    assert (await second.wait()).video_path.exists()


@pytest.mark.parametrize("steps", range(6))
async def test_a_follower_stopped_as_an_event_arrives_stops(steps: int) -> None:
    """Cancelled in the same turns as an event arrives, a job's follower ends instead of following on."""
    job = Job(owner="local", request=None)
    job._task = asyncio.ensure_future(asyncio.Event().wait())  # a job that runs until shutdown
    seen: list[object] = []

    async def follow() -> None:
        async for event in job.events(tick=30.0):
            seen.append(event)

    follower = asyncio.ensure_future(follow())
    for _ in range(3):
        await asyncio.sleep(0)  # the follower waits for the next event
    job._publish(Queued("task-1", 0.1))
    for _ in range(steps):
        await asyncio.sleep(0)
    follower.cancel()
    try:
        done, _ = await asyncio.wait({follower}, timeout=2.0)
        assert done, "the follower went on after it was cancelled"
        assert follower.cancelled()
    finally:
        follower.cancel()
        job._task.cancel()
        await asyncio.gather(follower, job._task, return_exceptions=True)
