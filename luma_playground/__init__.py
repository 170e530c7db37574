"""Luma Ray 2 image-to-video on WaveSpeedAI: an async client, a pipeline, a journal, a playground."""

from __future__ import annotations

from ._client import WaveSpeedClient
from ._config import DEFAULT_BASE_URL, MODEL_ID, ApiKey, Settings, Timeouts
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
from ._jobs import Job, Runner
from ._journal import Journal, TaskRecord, TaskState
from ._limits import Caller
from ._models import (
    Done,
    Downloading,
    Event,
    GenerationRequest,
    Prediction,
    PredictionStatus,
    Processing,
    Queued,
    Size,
    Submitted,
    Submitting,
    Uploaded,
    Uploading,
    Validated,
    WaitingForSlot,
)
from ._pictures import Picture
from ._pipeline import Pipeline
from ._polling import AdaptiveSchedule, FixedSchedule, TimingHistory
from ._retry import RetryPolicy
from ._service import Playground
from ._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "MODEL_ID",
    "AdaptiveSchedule",
    "ApiError",
    "ApiKey",
    "AuthenticationError",
    "Caller",
    "ContentModerated",
    "DeadlineExceeded",
    "Done",
    "Downloading",
    "Event",
    "FixedSchedule",
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
    "Pipeline",
    "Playground",
    "Prediction",
    "PredictionStatus",
    "Processing",
    "Queued",
    "RateLimited",
    "RetryPolicy",
    "Runner",
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
    "TimingHistory",
    "Uploaded",
    "Uploading",
    "Validated",
    "WaitingForSlot",
    "WaveSpeedClient",
    "__version__",
]
