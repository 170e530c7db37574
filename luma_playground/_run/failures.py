"""The errors of a generation that ended without its video, in words a user can act on."""

from __future__ import annotations

from .._errors import (
    ContentModerated,
    DeadlineExceeded,
    LumaPlaygroundError,
    RateLimited,
    ServerError,
    TaskFailed,
)
from .._request import Prediction, PredictionStatus

__all__ = ["CANCELLED_STATUSES", "gave_up_following", "task_failure"]

#: The statuses of a task stopped on WaveSpeed's side (its row becomes `cancelled`).
CANCELLED_STATUSES = frozenset({PredictionStatus.CANCELLED, PredictionStatus.DELETED})


def task_failure(prediction: Prediction) -> TaskFailed:
    """The error for a task that ended without a video, with its own code and text."""
    code, text = prediction.error_code, (prediction.error or "").strip()
    task_id = prediction.id
    if prediction.status in CANCELLED_STATUSES:
        return TaskFailed(
            f"The task was {prediction.status} on WaveSpeed.",
            task_id=task_id,
            status=prediction.status,
            code=code,
            error=text,
        )
    if prediction.status == PredictionStatus.TIMEOUT:
        return TaskFailed(
            "The task timed out on WaveSpeed's side; try again.",
            task_id=task_id,
            status=PredictionStatus.TIMEOUT,
            code=code,
            error=text,
        )
    if code == 1200 or "moderat" in text.lower() or "nsfw" in text.lower():
        return ContentModerated(
            "WaveSpeed's content moderation refused this image or prompt; change them and retry."
            + (f" It said: {text}" if text else ""),
            task_id=task_id,
            code=code,
            error=text,
        )
    if prediction.status != PredictionStatus.FAILED:
        return TaskFailed(
            f"The task ended with status {prediction.status!r} and no video.",
            task_id=task_id,
            status=prediction.status,
            code=code,
            error=text,
        )
    reason = text.rstrip(".") or "no reason given"
    return TaskFailed(
        f"The task failed on WaveSpeed: {reason}. Failed tasks are refunded.",
        task_id=task_id,
        code=code,
        error=text,
    )


def gave_up_following(error: LumaPlaygroundError, task_id: str) -> DeadlineExceeded:
    """The error for a task that could no longer be checked: it may finish, and is kept."""
    if isinstance(error, RateLimited):
        trouble = "WaveSpeed kept rate limiting this key"
    elif isinstance(error, ServerError):
        trouble = f"WaveSpeed kept failing (HTTP {error.status_code})"
    else:
        trouble = "WaveSpeed could not be reached"
    return DeadlineExceeded(
        f"{trouble} while the task was followed. The task may still finish and is kept: fetch "
        "it later by its id (History, or `resume`); generating it again would pay twice.",
        task_id=task_id,
    )
