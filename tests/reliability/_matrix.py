"""The fault matrix: each fault injected, what the user must see, what the server and journal hold.

A scenario injects its fault for one key only, so the server-key session and the header-key
session can run it at the same time; faults on the video download carry no key, so those
scenarios run the sessions one after the other.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
from PIL import Image

from luma_playground.simulator import SimulatorControl, SimulatorServer

from .conftest import (
    READ_TIMEOUT,
    SERVER_KEY,
    USER_KEY,
    AppProcess,
    Caller,
    Evidence,
    Outcome,
    client_for,
    start_app,
)

Inject = Callable[[SimulatorControl, str], Any]


@dataclass(frozen=True)
class Scenario:
    """One fault, and the outcome it must end in."""

    name: str
    inject: Inject
    #: A pattern the error must match; None when the video must arrive.
    error: str | None = None
    #: The journal row's final state; None when no row may exist (nothing reached the submit).
    state: str | None = "completed"
    #: Tasks the simulator must hold for the generation.
    tasks: int = 1
    #: Submit requests the key sent; only a refusal (429) may be sent again.
    submits: int = 1
    #: False when the fault cannot be tied to a key (the video download is anonymous).
    keyed: bool = True
    check: Callable[[Case], None] | None = None


@dataclass
class Case:
    """One scenario run by one session, with everything the checks look at."""

    scenario: Scenario
    caller: Caller
    prompt: str
    outcome: Outcome
    tasks: list[dict[str, Any]] = field(default_factory=list)
    key_stats: dict[str, int] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    transitions: list[str] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)

    @property
    def row(self) -> dict[str, Any]:
        assert len(self.rows) == 1, self.rows
        return self.rows[0]

    @property
    def task(self) -> dict[str, Any]:
        assert len(self.tasks) == 1, self.tasks
        return self.tasks[0]

    @property
    def label(self) -> str:
        return f"{self.scenario.name} ({self.caller.name} key)"


def fault(route: str, kind: str, **options: Any) -> Inject:
    """Inject one fault rule for the key."""
    return lambda control, key: control.add_fault(route, kind, key=key, **options)


def account(**settings: Any) -> Inject:
    return lambda control, key: control.set_account(key, **settings)


def applied(case: Case, times: int) -> None:
    assert sum(rule["applied"] for rule in case.faults) >= times, case.faults


def waited_for_retry_after(case: Case) -> None:
    task = case.task
    assert task["first_completed_seen_at"] - task["created_at"] >= 1.0, task


def looked_in_history(case: Case) -> None:
    assert case.key_stats.get("history", 0) >= 1
    assert "unknown" in case.transitions


def found_again(case: Case) -> None:
    assert case.transitions[:3] == ["submitting", "unknown", "created"], case.transitions


def nsfw_flagged(case: Case) -> None:
    record = case.outcome.outputs[-1][1]
    assert record["nsfw"] is True, record
    assert case.row["nsfw"] == 1


def failure_code(code: int) -> Callable[[Case], None]:
    def check(case: Case) -> None:
        assert case.row["error_code"] == code and case.task["error_code"] == code
        assert case.task["refunded"]

    return check


def no_video_yet(case: Case) -> None:
    assert case.row["video_path"] is None and case.row["output_url"]  # pending: resume saves it


def retried_upload(case: Case) -> None:
    assert case.key_stats.get("upload", 0) > 1


def resent_after_refusals(case: Case) -> None:
    """Two refusals created nothing; the third submit created the one task (checked above)."""
    applied(case, 2)


SCENARIOS = [
    Scenario(
        "429 with Retry-After while polling",
        fault("result", "status", status=429, retry_after=1),
        check=waited_for_retry_after,
    ),
    Scenario(
        "429 without Retry-After while polling",
        fault("result", "status", status=429, count=3),
        check=lambda case: applied(case, 3),
    ),
    Scenario(
        "429 on submit, refused so sent again",
        fault("submit", "status", status=429, count=2, retry_after=0.2),
        submits=3,
        check=resent_after_refusals,
    ),
    Scenario(
        "502, 503, 504 while polling",
        fault("result", "status", statuses=[502, 503, 504], count=3),
        check=lambda case: applied(case, 3),
    ),
    Scenario(
        "500 on submit",
        fault("submit", "status", status=500),
        error=r"HTTP 500.*may or may not exist: it is not sent again\. Look for it in the history",
        state="unknown",
        tasks=0,
        check=looked_in_history,
    ),
    Scenario(
        "503 on every poll",
        fault("result", "status", status=503, count=-1),
        error=r"kept failing \(HTTP 503\).*fetch it later by its id.*pay twice",
        state="created",
    ),
    Scenario(
        "429 on every poll",
        fault("result", "status", status=429, count=-1),
        error=r"kept rate limiting.*fetch it later by its id.*pay twice",
        state="created",
    ),
    Scenario(
        "connection dropped on every poll",
        fault("result", "drop", count=-1),
        error=r"could not be reached.*fetch it later by its id.*pay twice",
        state="created",
    ),
    Scenario(
        "gateway HTML while polling", fault("result", "html", count=2), check=lambda case: applied(case, 2)
    ),
    Scenario(
        "malformed JSON while polling",
        fault("result", "malformed", count=2),
        check=lambda case: applied(case, 2),
    ),
    Scenario(
        "connection dropped during a poll",
        fault("result", "drop", count=2),
        check=lambda case: applied(case, 2),
    ),
    Scenario(
        "connection dropped after the submit was sent",
        fault("submit", "drop", after_processing=True),
        check=found_again,
    ),
    Scenario(
        "poll stalled past the read timeout",
        fault("result", "stall", seconds=READ_TIMEOUT * 2.5),
        check=lambda case: applied(case, 1),
    ),
    Scenario(
        "submit answer stalled past the read timeout",
        fault("submit", "stall", seconds=READ_TIMEOUT * 2.5),
        check=found_again,
    ),
    Scenario(
        "task fails",
        fault(
            "submit",
            "task_failed",
            error_code=1403,
            error="Task execution failed: the GPU ran out of memory.",
        ),
        error=r"failed on WaveSpeed: 1403: Task execution failed: the GPU ran out of memory"
        r".*refunded",
        state="failed",
        check=failure_code(1403),
    ),
    Scenario(
        "content moderation",
        fault("submit", "moderation"),
        error=r"content moderation refused this image or prompt; change them and retry.*1200",
        state="failed",
        check=failure_code(1200),
    ),
    Scenario("NSFW-flagged output", fault("submit", "nsfw"), check=nsfw_flagged),
    Scenario(
        "output expired (404)",
        lambda control, key: control.add_fault("output", "expired"),
        error=r"no longer available on WaveSpeed",
        state="expired",
        keyed=False,
    ),
    Scenario(
        "output cut short once", lambda control, key: control.add_fault("output", "truncated"), keyed=False
    ),
    Scenario(
        "output cut short every time",
        lambda control, key: control.add_fault("output", "truncated", count=-1),
        error=r"download was (cut short|interrupted)\. The task is complete and kept: fetch "
        r"its video later by its id",
        state="completed",
        keyed=False,
        check=no_video_yet,
    ),
    Scenario(
        "upload fails",
        fault("upload", "status", status=500, count=-1),
        error=r"server error \(HTTP 500\): try again shortly",
        state=None,
        tasks=0,
        submits=0,
        check=retried_upload,
    ),
    Scenario(
        "bad key",
        account(valid=False),
        error=r"API key was refused: check it",
        state=None,
        tasks=0,
        submits=0,
    ),
    Scenario(
        "insufficient balance",
        account(balance=0.0),
        error=r"balance is too low for this task: top up",
        state="rejected",
        tasks=0,
    ),
]


def prompt_for(scenario: Scenario, caller: Caller) -> str:
    return f"Quiet harbour at dawn; case: {scenario.name}; session: {caller.name}"


def run_scenario(
    scenario: Scenario, callers: Sequence[Caller], control: SimulatorControl, app: AppProcess, image: Path
) -> list[Case]:
    """Run the scenario for every caller and gather what the server and the journal hold."""
    # A picture of its own: an upload remembered from another scenario would skip this one's.
    image = picture_for(scenario.name, image)

    def generate(caller: Caller) -> Outcome:
        return caller.generate(image, prompt_for(scenario, caller), case=f"{scenario.name}:{caller.name}")

    if scenario.keyed:
        for caller in callers:
            scenario.inject(control, caller.key)
        with ThreadPoolExecutor(len(callers)) as pool:
            outcomes = list(pool.map(generate, callers))
    else:
        outcomes = []
        for caller in callers:
            scenario.inject(control, caller.key)
            outcomes.append(generate(caller))
    tasks, stats, faults = control.tasks(), control.stats(), control.faults()
    cases = []
    for caller, outcome in zip(callers, outcomes, strict=True):
        prompt = prompt_for(scenario, caller)
        rows = app.rows("prompt = ?", (prompt,))
        cases.append(
            Case(
                scenario,
                caller,
                prompt,
                outcome,
                tasks=[task for task in tasks if task["input"].get("prompt") == prompt],
                key_stats=stats["keys"].get(caller.fingerprint, {}),
                rows=rows,
                transitions=app.transitions(rows[0]["row_id"]) if rows else [],
                faults=[rule for rule in faults if rule["key_fingerprint"] in (None, caller.fingerprint)],
            )
        )
    return cases


def picture_for(name: str, image: Path) -> Path:
    """A copy of `image` that differs in one pixel, so that its upload is not shared."""
    target = image.with_name(f"{image.stem}-{hashlib.sha256(name.encode()).hexdigest()[:12]}.png")
    if not target.exists():
        with Image.open(image) as picture:
            copy = picture.convert("RGB")
        copy.putpixel((0, 0), tuple(hashlib.sha256(name.encode()).digest()[:3]))
        copy.save(target)
    return target


def check_case(case: Case) -> None:
    """The outcome the user saw, one submit per task, and the journal row's final state."""
    scenario, outcome = case.scenario, case.outcome
    if scenario.error is None:
        assert outcome.error is None, f"{case.label}: {outcome.error}"
        assert_playable(Path(outcome.video or ""))
    else:
        assert outcome.error is not None, f"{case.label}: no error"
        assert re.search(scenario.error, outcome.error), f"{case.label}: {outcome.error}"
        assert "Traceback" not in outcome.error and "verbose error" not in outcome.error
    assert len(case.tasks) == scenario.tasks, f"{case.label}: {case.tasks}"
    for task in case.tasks:
        assert task["submits"] == scenario.submits, f"{case.label}: {task}"
        assert task["key_fingerprint"] == case.caller.fingerprint
    assert case.key_stats.get("submit", 0) == scenario.submits, f"{case.label}: {case.key_stats}"
    check_row(case)
    if scenario.check is not None:
        scenario.check(case)


def check_row(case: Case) -> None:
    scenario = case.scenario
    if scenario.state is None:
        assert case.rows == [], f"{case.label}: {case.rows}"
        return
    row = case.row
    assert row["state"] == scenario.state, f"{case.label}: {row}"
    assert row["key_fingerprint"] == case.caller.fingerprint and row["owner"] == case.caller.owner
    if case.tasks:
        assert row["task_id"] == case.task["id"]
        if case.outcome.error is not None:
            assert case.task["id"] in case.outcome.error, case.outcome.error
    if scenario.state == "completed" and scenario.error is None:
        saved = Path(row["video_path"])
        assert saved.is_file() and saved.stat().st_size == Path(case.outcome.video or "").stat().st_size
    else:
        assert row["error"], row


def assert_playable(path: Path) -> None:
    """An MP4 that opens and lasts about five seconds."""
    assert path.is_file(), path
    with av.open(str(path)) as container:
        seconds = float(container.duration or 0) / av.time_base
        assert container.streams.video and abs(seconds - 5) < 0.3, seconds


DEADLINE_PROMPT = "Low clouds over the ridge; deadline check for the {} session"


def deadline_then_resume(sim: SimulatorServer, folder: Path, evidence: Evidence, image: Path) -> None:
    """Both sessions run out of time; a restart (server key) and `resume` (user key) finish."""
    short = start_app(folder, sim.base_url, LUMA_PLAYGROUND_DEADLINE="0.3")
    evidence.apps.append(short)
    callers = [
        Caller("server", client_for(short), SERVER_KEY, evidence),
        Caller("header", client_for(short, USER_KEY), USER_KEY, evidence),
    ]
    with ThreadPoolExecutor(2) as pool:
        try:
            outcomes = list(
                pool.map(
                    lambda caller: caller.generate(
                        image, DEADLINE_PROMPT.format(caller.name), case=f"deadline:{caller.name}"
                    ),
                    callers,
                )
            )
        finally:
            list(pool.map(lambda caller: caller.client.close(), callers))
            short.stop()
    task_ids = {}
    for caller, outcome in zip(callers, outcomes, strict=True):
        assert outcome.error is not None and outcome.video is None
        assert re.search(r"did not finish in the time allowed.*fetch it later by its id", outcome.error), (
            outcome.error
        )
        (row,) = short.rows("prompt = ?", (DEADLINE_PROMPT.format(caller.name),))
        assert row["task_id"] and row["task_id"] in outcome.error
        assert row["state"] in ("created", "processing") and row["video_path"] is None
        assert row["key_fingerprint"] == caller.fingerprint
        task_ids[caller.name] = row["task_id"]

    # The server's key is the app's own: a restart resumes its task by itself.
    restarted = start_app(folder, sim.base_url)
    evidence.apps.append(restarted)
    try:
        rows = [wait_for_video(restarted, task_ids["server"])]
    finally:
        restarted.stop()
    # A user's key is never kept, so their task waits for that key: `resume` with it.
    resumed = subprocess.run(
        [sys.executable, "-m", "luma_playground", "resume"],
        cwd=folder,
        env=restarted.env | {"WAVESPEED_API_KEY": USER_KEY},
        capture_output=True,
        timeout=60,
        check=False,
    )
    evidence.answers.append((resumed.stdout + resumed.stderr).decode(errors="replace"))
    assert resumed.returncode == 0, resumed.stderr.decode()
    rows.append(wait_for_video(restarted, task_ids["header"], timeout=0))
    for row in rows:
        assert Path(row["video_path"]).is_file()
        task = sim.control.task(row["task_id"])
        assert task["submits"] == 1 and task["status"] == "completed" and task["polls"] >= 1


def wait_for_video(app: AppProcess, task_id: str, timeout: float = 30) -> dict[str, Any]:
    """The journal row of `task_id` once it is completed with its video saved."""
    give_up = time.monotonic() + timeout
    while True:
        (row,) = app.rows("task_id = ?", (task_id,))
        if row["state"] == "completed" and row["video_path"]:
            return row
        assert time.monotonic() < give_up, row
        time.sleep(0.2)
