"""The fault matrix through the launched app (a server-key and a header-key session), then no key anywhere.

Both live in one file so that one worker runs the matrix once: the key check reads everything the
matrix left behind (logs at DEBUG, pages, answers, the journal, every file on disk).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ._matrix import SCENARIOS, Scenario, check_case, deadline_then_resume, picture_for, run_scenario
from .conftest import USER_KEY, AppProcess, Caller, Evidence


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


PAGES = (
    "config",
    "gradio_api/info",
    "gradio_api/info?all_endpoints=true",
    "gradio_api/openapi.json",
    "gradio_api/runs",
    "",
)


def ensure_every_fault_ran(
    sim,
    app: AppProcess,
    callers: dict[str, Caller],  # type: ignore[no-untyped-def]
    evidence: Evidence,
    work_folder: Path,
    image: Path,
) -> None:
    """Run whatever part of the fault matrix this session has not run yet (when run alone)."""
    for scenario in SCENARIOS:
        if {f"{scenario.name}:server", f"{scenario.name}:header"} - evidence.cases:
            sim.control.reset()
            for case in run_scenario(scenario, list(callers.values()), sim.control, app, image):
                check_case(case)
    if "deadline:header" not in evidence.cases:
        sim.control.reset()
        deadline_then_resume(sim, work_folder / "deadline-again", evidence, image)


def echo_the_key(sim, callers: dict[str, Caller], image: Path) -> None:  # type: ignore[no-untyped-def]
    """WaveSpeed repeating the key in its error message: the playground must not pass it on."""
    image = picture_for("echo", image)
    for caller in callers.values():
        sim.control.add_fault(
            "upload", "status", status=400, key=caller.key, message=f"Invalid request for key {caller.key}"
        )
        outcome = caller.generate(image, "An echo test", case=f"echo:{caller.name}")
        assert outcome.error is not None and "for key [key]" in outcome.error, outcome.error


def files_under(folder: Path) -> Iterator[Path]:
    return (path for path in folder.rglob("*") if path.is_file())


def test_no_key_anywhere_after_every_failure(
    sim,
    app: AppProcess,
    callers: dict[str, Caller],
    evidence: Evidence,  # type: ignore[no-untyped-def]
    work_folder: Path,
    landscape_image: Path,
) -> None:
    """After the whole fault matrix with both keys, neither key appears anywhere it could leak."""
    ensure_every_fault_ran(sim, app, callers, evidence, work_folder, landscape_image)
    echo_the_key(sim, callers, landscape_image)
    texts: dict[str, str] = {"answers": "\n".join(evidence.answers)}
    # The pages any visitor can read, fetched as a stranger and as the key's owner.
    for headers in ({}, {"X-WaveSpeed-Key": USER_KEY}):
        for page in PAGES:
            response = httpx.get(f"{app.url}{page}", headers=headers, timeout=30)
            texts[f"/{page} {sorted(headers)}"] = response.text
    for caller in callers.values():  # the History tab's endpoint, for each session
        texts[f"/history {caller.name}"] = repr(caller.client.predict(api_name="/history"))
    info = httpx.get(f"{app.url}gradio_api/info").json()
    assert [p["parameter_name"] for p in info["named_endpoints"]["/generate"]["parameters"]] == [
        "image",
        "prompt",
        "size",
        "duration",
        "model",
    ]  # the key header is no input: never in run history
    # The logs hold everything at DEBUG: wire traces, uvicorn's access lines, ours.
    logs = b"".join(running.log.read_bytes() for running in evidence.apps)
    for marker in (
        b"DEBUG httpcore.http11",
        b"INFO httpx",
        b"POST /gradio_api/queue/join",
        b"INFO luma_playground",
    ):
        assert marker in logs, marker
    for key in evidence.keys:
        for name, text in texts.items():
            assert key not in text and key[-12:] not in text, f"{name} shows a key"
        # Logs at DEBUG, the journal (and its WAL), videos, Gradio's cache, client downloads.
        for path in files_under(work_folder):
            data = path.read_bytes()
            assert key.encode() not in data and key[-12:].encode() not in data, path
    assert sum(1 for _ in files_under(work_folder)) > 20
