"""What a cancel became: the task followed after its DELETE until WaveSpeed says how it ended.

WaveSpeed's DELETE is a request, not a stop and not a refund ("How to Delete Task": "cancellation
may not stop generation immediately"; "partial refunds may apply for cancelled tasks"). So after
it the task is followed, within the deadline: deleted, cancelled, failed, timed out or no longer
found means it was stopped; completed means WaveSpeed finished it first, charged it, and its video
is downloaded and kept like any other.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from .._config import ApiKey
from .._errors import DeadlineExceeded, NetworkError, OutputError, RateLimited, ServerError, TaskNotFound
from .._journal.journal import TaskRecord, TaskState
from .._request import Prediction, PredictionStatus
from .events import Event
from .pipeline import Pipeline

__all__ = ["CancelEnd", "cancel_note", "follow_cancelled"]

#: What the journal says of a task that a cancel stopped.
CANCELLED_ERROR = "Cancelled by the user."


class CancelEnd(enum.StrEnum):
    """How a cancelled task ended, as far as WaveSpeed has said."""

    #: Stopped without a video.
    CANCELLED = "cancelled"
    #: WaveSpeed finished it anyway: charged, its video saved.
    FINISHED = "finished"
    #: WaveSpeed finished it anyway, but its video could not be downloaded yet.
    FINISHED_UNSAVED = "finished, not saved"
    #: WaveSpeed had not said how it ended when the time allowed ran out, or could not be asked.
    UNSETTLED = "unsettled"


async def follow_cancelled(
    pipeline: Pipeline,
    record: TaskRecord,
    api_key: ApiKey | None,
    *,
    deadline: float,
    publish: Callable[[Event], None] = lambda event: None,
) -> CancelEnd:
    """Follow a task after its DELETE to its end (before `deadline`, a monotonic instant); record it.

    The events of saving a video that comes anyway go to `publish`.
    """
    assert record.task_id is not None
    journal, started = pipeline.journal, time.monotonic()
    try:
        prediction = await _last_state(pipeline, record, api_key, deadline)
    except TaskNotFound:
        await journal.aupdate(
            record.row_id, TaskState.CANCELLED, detail="deleted on WaveSpeed", error=CANCELLED_ERROR
        )
        return CancelEnd.CANCELLED
    except (DeadlineExceeded, NetworkError, RateLimited, ServerError):
        await journal.aupdate(
            record.row_id, detail="cancel requested; WaveSpeed has not said how the task ended"
        )
        return CancelEnd.UNSETTLED
    if prediction.status != PredictionStatus.COMPLETED or not prediction.output_url:
        await journal.aupdate(
            record.row_id,
            TaskState.CANCELLED,
            detail=f"cancelled by the user; WaveSpeed reports it {prediction.status}",
            error=CANCELLED_ERROR,
        )
        return CancelEnd.CANCELLED
    try:
        async for event in pipeline.save_video(record.row_id, prediction, started):
            publish(event)
    except OutputError:
        return CancelEnd.FINISHED_UNSAVED
    return CancelEnd.FINISHED


async def _last_state(
    pipeline: Pipeline, record: TaskRecord, api_key: ApiKey | None, deadline: float
) -> Prediction:
    assert record.task_id is not None
    last: Prediction | None = None
    async for prediction in pipeline.client.poll(
        record.task_id,
        api_key=api_key,
        schedule=pipeline.poll_schedule(record),
        deadline=deadline,
        first_delay=0.0,  # a stopped task usually says so at once
    ):
        last = prediction
    assert last is not None
    return last


def cancel_note(task_id: str, end: CancelEnd, *, taken: bool) -> str:
    """What became of a cancelled task, in one sentence; `taken`: WaveSpeed took the DELETE."""
    if end is CancelEnd.CANCELLED:
        return (
            f"Cancelled: WaveSpeed stopped task {task_id} before it made a video (a cancel is a "
            "request, not a refund: WaveSpeed may still bill part of it)."
        )
    asked = "before the cancel took effect" if taken else "as it did not take the cancel request"
    if end is CancelEnd.FINISHED:
        return (
            f"Too late to cancel: WaveSpeed finished task {task_id} {asked}, so it is charged; "
            "its video is saved in History."
        )
    if end is CancelEnd.FINISHED_UNSAVED:
        return (
            f"Too late to cancel: WaveSpeed finished task {task_id} {asked}, so it is charged; "
            "its video could not be saved yet: fetch it from History within 7 days."
        )
    return (
        f"Cancel requested, but WaveSpeed has not yet said how task {task_id} ended, so it may "
        "still finish and be charged; the playground keeps following it and saves its video in "
        "History if one comes."
    )
