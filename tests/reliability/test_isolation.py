"""Twenty sessions with twenty keys at once: each key pays for, polls and sees only its own task."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from luma_playground import Journal

from ._matrix import assert_playable
from .conftest import AppProcess, Caller, Evidence, client_for

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
