"""A shared deployment against a script: limits, budget and isolation that no client can reset.

Each test launches the app in its own process and drives it as an attacker would: fresh
`gradio_client` sessions, forged `X-Forwarded-For` headers, the simulator's public key sent as
one's own, the MCP server; the simulator counts what was submitted on the owner's key.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from luma_playground._playground import SIMULATOR_KEY

from ..conftest import wait_for
from .conftest import (
    SERVER_KEY,
    USER_KEY,
    AppProcess,
    Evidence,
    call_private,
    close_all,
    image_file,
    key_of,
    mcp_tool,
    new_caller,
    start_app,
)

SPACE = {"SPACE_ID": "reliability/guard", "LUMA_PLAYGROUND_DAILY_BUDGET": "0"}


def server_submits(sim) -> int:  # type: ignore[no-untyped-def]
    """Tasks the simulator created on the owner's key."""
    return sum(1 for task in sim.control.tasks() if task["key_fingerprint"] == key_of(SERVER_KEY))


# -- limits no session can reset ------------------------------------------------------------------


def test_new_sessions_from_one_address_share_the_daily_limit(
    sim,
    launch,
    evidence: Evidence,
    landscape_image: Path,  # type: ignore[no-untyped-def]
) -> None:
    """Four fresh sessions, each forging its own X-Forwarded-For: the daily limit of 3 holds."""
    app = launch(
        "daily",
        **SPACE,
        LUMA_PLAYGROUND_TRUSTED_PROXIES="0",
        LUMA_PLAYGROUND_SESSION_DAILY="3",
        LUMA_PLAYGROUND_SESSION_RUNNING="10",
    )
    callers = [new_caller(app, evidence, f"s{n}", X_Forwarded_For=f"203.0.113.{n}") for n in range(4)]
    try:
        outcomes = [each.generate(landscape_image, f"daily limit {n}") for n, each in enumerate(callers)]
    finally:
        close_all(callers)
    assert [outcome.error is None for outcome in outcomes] == [True, True, True, False]
    assert "limit of 3 videos a day" in (outcomes[3].error or "")
    assert server_submits(sim) == 3


def test_fresh_sessions_at_once_share_the_running_limit(
    sim,
    launch,
    evidence: Evidence,
    landscape_image: Path,  # type: ignore[no-untyped-def]
) -> None:
    """With two tasks held running, four more fresh sessions are refused: no more submits."""
    app = launch(
        "running",
        **SPACE,
        LUMA_PLAYGROUND_TRUSTED_PROXIES="0",
        LUMA_PLAYGROUND_SESSION_RUNNING="2",
        LUMA_PLAYGROUND_SESSION_DAILY="100",
    )
    # Every poll stalls past the read timeout: the first two tasks stay running meanwhile.
    sim.control.add_fault("result", "stall", seconds=20, count=-1)
    first = [new_caller(app, evidence, f"first {n}") for n in range(2)]
    later = [new_caller(app, evidence, f"later {n}", X_Forwarded_For=f"198.51.100.{n}") for n in range(4)]
    try:
        for each in first:
            each.client.submit(image_file(landscape_image), "held", "1280*720", 5, api_name="/generate")
        wait_for(lambda: server_submits(sim) == 2)
        outcomes = [each.generate(landscape_image, "one too many") for each in later]
    finally:
        sim.control.clear_faults()
        close_all(first + later)
    assert all("allows 2 at a time" in (outcome.error or "") for outcome in outcomes), outcomes
    assert server_submits(sim) == 2


# -- the budget ---------------------------------------------------------------------------------


def test_the_daily_budget_holds_across_sessions_and_restarts(
    sim,
    launch,
    evidence: Evidence,
    landscape_image: Path,  # type: ignore[no-untyped-def]
) -> None:
    """1 USD pays two 5 s videos (a failed one costs nothing), holds after a restart, spares own keys."""
    env = {**SPACE, "LUMA_PLAYGROUND_DAILY_BUDGET": "1.00", "LUMA_PLAYGROUND_SESSION_DAILY": "100"}
    app = launch("budget", **env)
    visitors = [new_caller(app, evidence, f"b{n}") for n in range(3)]
    try:
        assert visitors[0].generate(landscape_image, "budget one").error is None
        sim.control.add_fault("submit", "task_failed")
        assert visitors[1].generate(landscape_image, "budget fails").error is not None
        assert visitors[2].generate(landscape_image, "budget two").error is None
    finally:
        close_all(visitors)
    app.stop()
    again = restart(app)
    late = [new_caller(again, evidence, "late"), new_caller(again, evidence, "own key", USER_KEY)]
    try:
        refused = late[0].generate(landscape_image, "budget three")
        own = late[1].generate(landscape_image, "own key pays")
    finally:
        close_all(late)
        again.stop()
    assert (
        refused.error is not None and "budget" in refused.error and "your own WaveSpeed key" in refused.error
    )
    assert own.error is None
    assert server_submits(sim) == 3  # two paid, one failed; none after the budget was spent


def restart(app: AppProcess) -> AppProcess:
    """The same deployment (home, settings) started again in a new process."""
    folder = app.home.parent
    env = {name: value for name, value in app.env.items() if name.startswith(("LUMA_PLAYGROUND_", "SPACE_"))}
    env.pop("LUMA_PLAYGROUND_HOME", None)
    env.pop("LUMA_PLAYGROUND_READ_TIMEOUT", None)
    return start_app(folder, app.env["WAVESPEED_BASE_URL"], **env)


# -- isolation ----------------------------------------------------------------------------------


def test_the_simulators_key_shows_nobody_elses_work(
    launch,
    evidence: Evidence,
    landscape_image: Path,  # type: ignore[no-untyped-def]
) -> None:
    """On a keyless Space, sending or typing `offline-simulator` reaches no other visitor's task."""
    app = launch(
        "keyless",
        server_key=None,
        **SPACE,
        RELIABILITY_BUILTIN_SIMULATOR="1",
        LUMA_PLAYGROUND_SIMULATOR_TIME_SCALE="0.01",
        GRADIO_MCP_SERVER="1",
    )
    owner = new_caller(app, evidence, "owner")
    thief = new_caller(app, evidence, "thief", SIMULATOR_KEY)
    try:
        made = owner.generate(landscape_image, "a private prompt")
        assert made.error is None, made.error
        task_id = str(made.outputs[-1][1]["task_id"])
        row_id = app.rows("task_id = ?", (task_id,))[0]["row_id"]
        assert [row["task_id"] for row in owner.client.predict(api_name="/history")] == [task_id]
        assert thief.client.predict(api_name="/history") == []
        for route in ("/get_task", "/cancel"):
            with pytest.raises(Exception, match=r"(?i)no task with this id|belongs to someone else"):
                thief.client.predict(task_id, api_name=route)
        with pytest.raises(Exception, match=r"(?i)not in your history|belongs to someone else"):
            call_private(thief.client, "history_fetch", task_id)
        with pytest.raises(Exception, match=r"(?i)not in your history"):
            call_private(thief.client, "history_use_again", row_id)
        # Over MCP the public key is no key of one's own: the history is refused outright.
        answer = mcp_tool(app.url, {"X-WaveSpeed-Key": SIMULATOR_KEY}, "history")
        text = " ".join(getattr(part, "text", "") for part in answer.content)
        assert answer.isError and "your own WaveSpeed key" in text, text
        assert task_id not in text and "a private prompt" not in text
    finally:
        close_all([owner, thief])


# -- shared mode said out loud ----------------------------------------------------------------------


def test_a_proxied_request_makes_a_private_app_shared(
    sim,
    launch,
    evidence: Evidence,
    landscape_image: Path,  # type: ignore[no-untyped-def]
) -> None:
    """Behind a reverse proxy on loopback, visitors get their own history and one warning is logged."""
    app = launch("proxied", LUMA_PLAYGROUND_DAILY_BUDGET="0")
    first = new_caller(app, evidence, "first", X_Forwarded_For="203.0.113.7")
    second = new_caller(app, evidence, "second", X_Forwarded_For="203.0.113.8")
    try:
        made = first.generate(landscape_image, "behind nginx")
        assert made.error is None, made.error
        assert second.client.predict(api_name="/history") == []
        assert len(first.client.predict(api_name="/history")) == 1
    finally:
        close_all([first, second])
    assert app.log.read_text().count("came through a reverse proxy") == 1
