"""The package's public face is deliberate."""

from __future__ import annotations

import luma_playground

#: The names the package means to offer, in `__all__`'s order (constants, classes, the rest).
PUBLIC_NAMES = [
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


def public_order(names: list[str]) -> list[str]:
    """`names` sorted as ruff sorts `__all__`: constants, then classes, then the rest."""
    return sorted(names, key=lambda n: (not n.isupper(), n.startswith("_"), n))


def test_all_is_the_intended_names() -> None:
    """`__all__` holds exactly the intended public names, sorted, with no name twice."""
    assert public_order(PUBLIC_NAMES) == PUBLIC_NAMES
    assert luma_playground.__all__ == PUBLIC_NAMES
    assert len(set(PUBLIC_NAMES)) == len(PUBLIC_NAMES)


def test_all_is_importable() -> None:
    """Every name in `__all__` exists in the package."""
    missing = [name for name in luma_playground.__all__ if not hasattr(luma_playground, name)]
    assert missing == []


def test_errors_share_one_base() -> None:
    """Every public error derives from LumaPlaygroundError."""
    errors = [
        getattr(luma_playground, n)
        for n in luma_playground.__all__
        if isinstance(getattr(luma_playground, n), type)
        and issubclass(getattr(luma_playground, n), Exception)
    ]
    assert len(errors) >= 15
    assert all(issubclass(e, luma_playground.LumaPlaygroundError) for e in errors)
