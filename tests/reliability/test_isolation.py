"""Isolation on a shared deployment: each visitor pays for, polls and sees only their own tasks.

Twenty keys at once; two visitors on the owner's key through every route that returns tasks or
files (the page's events, the API, MCP); tasks of the owner's key made elsewhere.
"""

from __future__ import annotations

import json
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from gradio_client.exceptions import AppError

from luma_playground import Journal

from ..conftest import submit_elsewhere
from ._matrix import assert_playable
from .conftest import (
    SERVER_KEY,
    AppProcess,
    Caller,
    Evidence,
    call_private,
    client_for,
    close_all,
    mcp_tool,
    raw_event,
)

SESSIONS = 20


def prompt_of(caller: Caller) -> str:
    return f"Isolation check: a kite drifting for {caller.name}"


def test_twenty_sessions_use_and_see_only_their_own_key(
    sim,
    app: AppProcess,
    evidence: Evidence,
    landscape_image: Path,  # type: ignore[no-untyped-def]
) -> None:
    """Each task is created and polled with its session's key; each session's history is its own."""
    keys = [f"sk-isolation-{number:02d}-{secrets.token_hex(8)}" for number in range(SESSIONS)]
    evidence.keys.update(keys)
    with ThreadPoolExecutor(SESSIONS) as pool:
        callers = list(
            pool.map(
                lambda item: Caller(f"session {item[0]}", client_for(app, item[1]), item[1], evidence),
                enumerate(keys),
            )
        )
        try:
            outcomes = list(
                pool.map(
                    lambda caller: caller.generate(landscape_image, prompt_of(caller), case="isolation"),
                    callers,
                )
            )
            histories = list(pool.map(lambda caller: caller.client.predict(api_name="/history"), callers))
            stranger = client_for(app)
            strangers_view = stranger.predict(api_name="/history")
            stranger.close()
        finally:
            # Closing a client waits for its heartbeat thread: close them all at once.
            list(pool.map(lambda caller: caller.client.close(), callers))

    tasks, stats = sim.control.tasks(), sim.control.stats()
    assert len(tasks) == SESSIONS
    journal = Journal(app.journal)
    try:
        for caller, outcome, history in zip(callers, outcomes, histories, strict=True):
            assert outcome.error is None, outcome.error
            assert_playable(Path(outcome.video or ""))
            (task,) = [task for task in tasks if task["key_fingerprint"] == caller.fingerprint]
            assert task["input"]["prompt"] == prompt_of(caller) and task["submits"] == 1
            assert outcome.outputs[-1][1]["task_id"] == task["id"]  # the record names this session's task
            # Every request with this key was for its own task: each poll counted on it.
            used = stats["keys"][caller.fingerprint]
            assert used["upload"] == 1 and used["submit"] == 1
            assert used["result"] == task["polls"] >= 1
            # The History tab's endpoint shows the session its own task, and nothing else.
            assert [(entry["task_id"], entry["prompt"]) for entry in history] == [
                (task["id"], prompt_of(caller))
            ]
            evidence.answers.append(repr(history))
            # The journal agrees: by this key or by this session, one row.
            for rows in (journal.history(key_fingerprint=caller.fingerprint), journal.history(caller.owner)):
                assert [(row.task_id, row.owner, row.key_fingerprint) for row in rows] == [
                    (task["id"], caller.owner, caller.fingerprint)
                ]
    finally:
        journal.close()
    assert strangers_view == []  # a visitor without those keys sees none of them
    fingerprints = {caller.fingerprint for caller in callers}
    assert set(stats["keys"]) == fingerprints | {"anonymous"}
    assert set(stats["keys"]["anonymous"]) == {"output"}  # only the keyless video downloads


# -- two visitors on the owner's key, every route ------------------------------------------------


def refused(message: dict[str, Any]) -> str:
    """The error of a raw event that must have failed."""
    assert message["success"] is False, message
    return str(message["output"].get("error"))


def mcp_answer(app: AppProcess, headers: dict[str, str], tool: str, arguments: dict[str, Any]) -> str:
    """What an MCP tool call answered (its text, error or not)."""
    result = mcp_tool(app.url, headers, tool, arguments)
    return " ".join(getattr(content, "text", "") for content in result.content) + f" error={result.isError}"


def page_event(app: AppProcess, caller: Caller, headers: dict[str, str]) -> Any:
    """Calls a page event in the caller's session, as the browser sends it (card index and all)."""

    def call(api_name: str, *data: Any, index: str | None = None) -> dict[str, Any]:
        clicked = {"index": index, "value": None} if index is not None else None
        session = caller.client.session_hash
        return raw_event(app, api_name, list(data), session_hash=session, headers=headers, event_data=clicked)

    return call


def test_a_visitor_reaches_no_other_visitors_task_by_any_route(
    sim,
    app: AppProcess,
    evidence: Evidence,
    landscape_image: Path,  # type: ignore[no-untyped-def]
) -> None:
    """Behind the Space's proxy, B (another address) gets A's task by no route to tasks or files."""
    a_headers, b_headers = {"X-Forwarded-For": "203.0.113.10"}, {"X-Forwarded-For": "203.0.113.11"}
    a = Caller("A", client_for(app, **a_headers), SERVER_KEY, evidence)
    b = Caller("B", client_for(app, **b_headers), SERVER_KEY, evidence)
    as_a, as_b = page_event(app, a, a_headers), page_event(app, b, b_headers)
    try:
        made = a.generate(landscape_image, "A's private lighthouse")
        assert made.error is None, made.error
        task_id = str(made.outputs[-1][1]["task_id"])
        ref = str(app.rows("task_id = ?", (task_id,))[0]["row_id"])  # how the page names the card
        # A reaches it by each route, so that each refusal below means something.
        assert [entry["task_id"] for entry in a.client.predict(api_name="/history")] == [task_id]
        assert task_id in json.dumps(as_a("refresh", None, None)["output"])
        assert "lighthouse" in json.dumps(as_a("choices", None, None)["output"])
        for message in (as_a("select", index=ref), as_a("show", ref)):
            assert message["success"] is True, message
        assert a.client.predict(task_id, api_name="/get_task")["task_id"] == task_id

        # B, by every route: nothing of A's task, its prompt or its video.
        assert b.client.predict(api_name="/history") == []
        for listing in (as_b("refresh", None, None), as_b("choices", None, None)):
            assert listing["success"] is True and "lighthouse" not in json.dumps(listing["output"]), listing
        for message in (
            as_b("select", index=ref),
            as_b("history_use_again", ref),
            as_b("open_with", ref, None),
        ):
            assert "not in your history" in refused(message), message
        # A row that is not among B's own picks is refused by the picker itself, before the handler.
        assert f"{ref} is not in the list of choices" in refused(as_b("show", ref))
        with pytest.raises(AppError, match="belongs to someone else"):
            call_private(b.client, "history_fetch", task_id)
        for route in ("/get_task", "/cancel"):
            with pytest.raises(AppError, match=r"belongs to someone else|no task with this id"):
                b.client.predict(task_id, api_name=route)
        with pytest.raises(AppError, match="no task or shot with this id"):
            b.client.predict(task_id, "gif", api_name="/export")
        with pytest.raises(AppError, match="no task or shot with this id"):
            b.client.predict(task_id, "and further on", 5, api_name="/extend")
        for tool, arguments in [("get_task", {"task_id": task_id}), ("export", {"task_id": task_id})]:
            answer = mcp_answer(app, b_headers, tool, arguments)
            assert "error=True" in answer and "lighthouse" not in answer, answer
        assert "lighthouse" not in mcp_answer(app, b_headers, "history", {})
    finally:
        close_all([a, b])
    assert [task["id"] for task in sim.control.tasks()] == [task_id]  # B started nothing


def test_tasks_of_the_owners_key_made_elsewhere_are_not_adopted(
    sim,
    app: AppProcess,
    evidence: Evidence,
    landscape_image: Path,  # type: ignore[no-untyped-def]
) -> None:
    """Tasks made elsewhere (by the CLI): no keyless visitor fetches them; the one whose key made one does."""
    key = f"sk-elsewhere-{secrets.token_hex(8)}"  # a key no other test's tasks were made with
    evidence.keys.add(key)
    owners = submit_elsewhere(sim.base_url, SERVER_KEY, landscape_image, "the owner's script, elsewhere")
    visitors_own = submit_elsewhere(sim.base_url, key, landscape_image, "the visitor's own, elsewhere")
    keyless = Caller("keyless", client_for(app, X_Forwarded_For="203.0.113.20"), SERVER_KEY, evidence)
    own = Caller("own key", client_for(app, key, X_Forwarded_For="203.0.113.21"), key, evidence)
    try:
        for task_id in (owners, visitors_own):
            with pytest.raises(AppError, match="enter the WaveSpeed key that created it"):
                keyless.client.predict(task_id, api_name="/get_task")
            with pytest.raises(AppError, match="enter the WaveSpeed key that created it"):
                call_private(keyless.client, "history_fetch", task_id)
            answer = mcp_answer(app, {"X-Forwarded-For": "203.0.113.22"}, "get_task", {"task_id": task_id})
            assert "error=True" in answer and "elsewhere" not in answer, answer
        assert app.rows("task_id IN (?, ?)", (owners, visitors_own)) == []  # nothing adopted
        assert keyless.client.predict(api_name="/history") == []
        # The visitor whose key made a task fetches it, and only that one.
        fetched = own.client.predict(visitors_own, api_name="/get_task")
        assert fetched["task_id"] == visitors_own and fetched["prompt"] == "the visitor's own, elsewhere"
        with pytest.raises(AppError, match="no task with this id"):
            own.client.predict(owners, api_name="/get_task")
        assert [entry["task_id"] for entry in own.client.predict(api_name="/history")] == [visitors_own]
        assert keyless.client.predict(api_name="/history") == []
    finally:
        close_all([keyless, own])
    assert [row["task_id"] for row in app.rows("task_id IN (?, ?)", (owners, visitors_own))] == [visitors_own]
