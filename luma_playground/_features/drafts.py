"""Draft in Ray 2 Flash, finish in Ray 2: a finished draft rendered again from its upload and settings."""

from __future__ import annotations

import time
from collections.abc import Sequence

from .._config import RAY_2, RAY_2_FLASH
from .._errors import InvalidRequest
from .._guard.limits import Caller
from .._journal.journal import TaskRecord, TaskState
from .._playground import Playground
from .._request import GenerationRequest
from .._run.jobs import Job

__all__ = ["UPLOAD_KEPT_SECONDS", "final_request", "finals_of", "finish_draft", "paired"]

#: How long a draft's uploaded picture is reused: WaveSpeed keeps uploads for 7 days (a day's margin).
UPLOAD_KEPT_SECONDS = 6 * 24 * 60 * 60.0


def final_request(draft: TaskRecord, *, now: float | None = None) -> GenerationRequest:
    """The Ray 2 request that finishes `draft`, or one `InvalidRequest` saying why it cannot be finished."""
    if draft.model != RAY_2_FLASH.id:
        raise InvalidRequest(
            f"Only a {RAY_2_FLASH.label} draft can be finished in {RAY_2.label}; this video is not one.",
            field="task_id",
        )
    if draft.state != TaskState.COMPLETED:
        raise InvalidRequest(
            "This draft has not finished: finish it in Ray 2 once its video is ready.", field="task_id"
        )
    age = (time.time() if now is None else now) - draft.created_at
    if not draft.image_url or age > UPLOAD_KEPT_SECONDS:
        raise InvalidRequest(
            "WaveSpeed no longer keeps this draft's picture: generate it again in Ray 2 from the picture.",
            field="task_id",
        )
    # Built as is: the URL is WaveSpeed's own upload of a picture checked when the draft started.
    return GenerationRequest(
        image=draft.image_url,
        prompt=draft.prompt,
        size=draft.size,  # type: ignore[arg-type]
        duration=draft.duration,  # type: ignore[arg-type]
        model="luma/ray-2-i2v",  # RAY_2, spelled as the field's type has it
    )


async def finish_draft(playground: Playground, draft: TaskRecord, caller: Caller) -> Job:
    """Start the Ray 2 final of a finished Flash draft on the start path: admitted and priced as Ray 2.

    The draft's backend makes the final (its upload lives there); the picture is not uploaded again.
    """
    request = final_request(draft)
    backend, _ = playground.backend_for(caller.user_key)
    if playground.backend_of(draft) is not backend:
        raise InvalidRequest(
            "This draft was made with another key or service: finish it where it was made.", field="task_id"
        )
    [job] = await playground.start(request, caller, model=RAY_2, draft=draft)
    return job


def paired(records: Sequence[TaskRecord]) -> list[TaskRecord]:
    """The rows (newest first) with each draft moved right after its newest Ray 2 final among them.

    A final is made after its draft, so it comes first: the pair then reads as one, final and draft.
    Every other row keeps its place.
    """
    drafts = {r.task_id: r for r in records if r.task_id and r.model == RAY_2_FLASH.id}
    order: list[TaskRecord] = []
    placed: set[int] = set()
    for record in records:
        if record.row_id in placed:
            continue
        order.append(record)
        placed.add(record.row_id)
        draft = drafts.get(record.draft_task_id or "")
        if draft is not None and draft.row_id not in placed:
            order.append(draft)
            placed.add(draft.row_id)
    return order


def finals_of(records: Sequence[TaskRecord]) -> dict[str, str]:
    """Each draft's task id among `records`, with its newest final's task id ("" until it is submitted)."""
    finals: dict[str, str] = {}
    for record in records:  # newest first: the newest final of a draft is kept
        if record.draft_task_id:
            finals.setdefault(record.draft_task_id, record.task_id or "")
    return finals
