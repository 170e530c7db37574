"""A deadline that expires keeps the task id; the app's restart and `resume` finish the task."""

from __future__ import annotations

from pathlib import Path

from ._matrix import deadline_then_resume
from .conftest import Evidence


def test_deadline_keeps_the_task_and_resume_finishes_it(
    sim,
    work_folder: Path,
    evidence: Evidence,
    landscape_image: Path,  # type: ignore[no-untyped-def]
) -> None:
    """Out of time: a clear error with the task id; the restarted app and `resume` save the video."""
    deadline_then_resume(sim, work_folder / "deadline", evidence, landscape_image)
