"""The events a generation reports as it goes, from the checked request to the saved video."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .._request import GenerationRequest, Prediction

__all__ = [
    "Done",
    "Downloading",
    "Event",
    "Processing",
    "Queued",
    "Submitted",
    "Submitting",
    "Uploaded",
    "Uploading",
    "Validated",
    "WaitingForSlot",
]


@dataclass(frozen=True, slots=True)
class Validated:
    request: GenerationRequest


@dataclass(frozen=True, slots=True)
class WaitingForSlot:
    """The account's concurrent-task limit is reached; this task starts when one ends."""

    running: int
    limit: int


@dataclass(frozen=True, slots=True)
class Uploading:
    size_bytes: int


@dataclass(frozen=True, slots=True)
class Uploaded:
    image_url: str


@dataclass(frozen=True, slots=True)
class Submitting:
    """The journal row exists; the submit is being sent."""

    row_id: int


@dataclass(frozen=True, slots=True)
class Submitted:
    task_id: str
    #: True when the submit's answer was lost and the task was found again in the history.
    recovered: bool = False
    #: How the found task was matched, and how sure that is (one sentence); "" when not recovered.
    match: str = ""


@dataclass(frozen=True, slots=True)
class Queued:
    task_id: str
    elapsed: float


@dataclass(frozen=True, slots=True)
class Processing:
    task_id: str
    elapsed: float
    #: The expected total time from submit, when earlier tasks make it knowable.
    expected: float | None = None


@dataclass(frozen=True, slots=True)
class Downloading:
    task_id: str
    received: int
    total: int | None


@dataclass(frozen=True, slots=True)
class Done:
    task_id: str
    video_path: Path
    prediction: Prediction
    elapsed: float


Event = (
    Validated
    | WaitingForSlot
    | Uploading
    | Uploaded
    | Submitting
    | Submitted
    | Queued
    | Processing
    | Downloading
    | Done
)
