"""Luma Ray 2 image-to-video on WaveSpeedAI: an async client, a pipeline, a journal, a playground."""

from __future__ import annotations

from ._config import DEFAULT_BASE_URL, MODEL_ID, ApiKey, Settings, Timeouts, __version__
from ._errors import (
    ApiError,
    AuthenticationError,
    ContentModerated,
    DeadlineExceeded,
    InsufficientBalance,
    InvalidRequest,
    LumaPlaygroundError,
    NetworkError,
    OutputError,
    OutputExpired,
    RateLimited,
    ServerError,
    SubmitOutcomeUnknown,
    TaskFailed,
    TaskNotFound,
)
from ._guard.limits import Caller
from ._journal.journal import Journal, TaskRecord, TaskState
from ._pictures.sources import Picture
from ._playground import Playground
from ._request import GenerationRequest, Prediction, PredictionStatus, Size
from ._run.events import (
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
from ._run.jobs import Job
from ._wavespeed.client import WaveSpeedClient

__all__ = [
    "DEFAULT_BASE_URL",
    "MODEL_ID",
    "ApiError",
    "ApiKey",
    "AuthenticationError",
    "Caller",
    "ContentModerated",
    "DeadlineExceeded",
    "Done",
    "Downloading",
    "Event",
    "GenerationRequest",
    "InsufficientBalance",
    "InvalidRequest",
    "Job",
    "Journal",
    "LumaPlaygroundError",
    "NetworkError",
    "OutputError",
    "OutputExpired",
    "Picture",
    "Playground",
    "Prediction",
    "PredictionStatus",
    "Processing",
    "Queued",
    "RateLimited",
    "ServerError",
    "Settings",
    "Size",
    "SubmitOutcomeUnknown",
    "Submitted",
    "Submitting",
    "TaskFailed",
    "TaskNotFound",
    "TaskRecord",
    "TaskState",
    "Timeouts",
    "Uploaded",
    "Uploading",
    "Validated",
    "WaitingForSlot",
    "WaveSpeedClient",
    "__version__",
]
