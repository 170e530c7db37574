"""The fault matrix through the launched app: a server-key session and a header-key session."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._matrix import SCENARIOS, Scenario, check_case, run_scenario
from .conftest import AppProcess, Caller


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.name)
def test_fault_ends_in_the_video_or_one_clear_error(
    scenario: Scenario,
    sim,
    app: AppProcess,
    callers: dict[str, Caller],  # type: ignore[no-untyped-def]
    landscape_image: Path,
) -> None:
    """Each fault ends in the video or one clear error, one submit per task, the right row state."""
    for case in run_scenario(scenario, list(callers.values()), sim.control, app, landscape_image):
        check_case(case)
