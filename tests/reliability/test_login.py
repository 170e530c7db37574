"""Signed in with Hugging Face: the login is the visitor, for limits, history and REQUIRE_LOGIN.

The app runs as a Space with `hf_oauth: true` would, on Gradio's real login routes, with a
stand-in OpenID provider on 127.0.0.1 (`_oidc`) in place of huggingface.co. Visitors sign in as
a browser would and drive the app with gradio_client, carrying the session cookie.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from luma_playground.simulator import SimulatorServer

from ._oidc import Provider, provider, sign_in, space_env
from .conftest import SERVER_KEY, USER_KEY, AppProcess, Caller, Evidence, close_all, key_calls, new_caller
from .test_suggestions import optimizer_calls, suggest

PROMPT = "A paper lantern rising"


@pytest.fixture(scope="module")
def hub() -> Iterator[Provider]:
    with provider() as state:
        yield state


@pytest.fixture
def space(launch, hub: Provider) -> AppProcess:  # type: ignore[no-untyped-def]
    """A Space with sign-in, REQUIRE_LOGIN=1, two videos a day per visitor, behind the Space's proxy."""
    return launch(
        "login",
        **space_env(hub),
        SPACE_ID="reliability/login",
        LUMA_PLAYGROUND_REQUIRE_LOGIN="1",
        LUMA_PLAYGROUND_SESSION_DAILY="2",
        LUMA_PLAYGROUND_SESSION_RUNNING="10",
        LUMA_PLAYGROUND_DAILY_BUDGET="0",
    )


def signed_in(app: AppProcess, evidence: Evidence, user: str, address: str) -> Caller:
    """A fresh session of `user` (a sign-in of its own), calling from `address` through the proxy."""
    cookie = sign_in(app.url, user)
    return new_caller(
        app, evidence, f"{user} at {address}", Cookie=f"session={cookie}", X_Forwarded_For=address
    )


def server_submits(sim: SimulatorServer) -> int:
    return key_calls(sim, SERVER_KEY, "submit")


def test_the_login_is_the_visitor(
    sim,
    space: AppProcess,
    hub: Provider,
    evidence: Evidence,
    landscape_image: Path,  # type: ignore[no-untyped-def]
) -> None:
    """Anonymous visitors are refused the owner's key; one login's sessions share its limit and history."""
    anonymous = new_caller(space, evidence, "anonymous", X_Forwarded_For="203.0.113.40")
    own_key = new_caller(space, evidence, "own key", USER_KEY, X_Forwarded_For="203.0.113.41")
    # Three sessions of alice from three addresses, and bob.
    alice = [signed_in(space, evidence, "alice", f"198.51.100.{n}") for n in range(3)]
    bob = signed_in(space, evidence, "bob", "198.51.100.9")
    try:
        refused = anonymous.generate(landscape_image, PROMPT)
        refused_suggestions = [suggest(anonymous, "a lantern"), suggest(anonymous, "a lantern", page=True)]
        assert server_submits(sim) == 0 and optimizer_calls(sim, SERVER_KEY) == 0
        # Their own key needs no sign-in.
        assert own_key.generate(landscape_image, PROMPT).error is None and suggest(own_key, "mine") is None

        firsts = [each.generate(landscape_image, f"{PROMPT}, {each.name}") for each in alice]
        bobs = bob.generate(landscape_image, f"{PROMPT}, bob")
        alice_suggestion = suggest(alice[2], "a lantern, for alice")
        histories = {each.name: each.client.predict(api_name="/history") for each in [*alice, bob]}
    finally:
        close_all([anonymous, own_key, *alice, bob])
    assert refused.error is not None and "signed-in visitors only" in refused.error
    for refusal in refused_suggestions:  # the public endpoint and the page's event alike
        assert refusal is not None and "signed-in visitors only" in refusal, refusal
    assert hub.tokens[:4] == ["alice", "alice", "alice", "bob"]  # each signed in for real

    # The daily limit of 2 follows alice from session to session and address to address.
    assert [outcome.error is None for outcome in firsts] == [True, True, False]
    assert "limit of 2 videos a day" in (firsts[2].error or "")
    assert bobs.error is None and alice_suggestion is None
    assert server_submits(sim) == 3  # alice's two and bob's one

    # Her tasks belong to her login: every session of hers sees both, bob sees his alone.
    rows = space.rows("owner LIKE 'hf:%'")
    assert sorted(row["owner"] for row in rows) == ["hf:alice", "hf:alice", "hf:bob"]
    alices = {row["task_id"] for row in rows if row["owner"] == "hf:alice"}
    for each in alice:
        assert {entry["task_id"] for entry in histories[each.name]} == alices
    assert [entry["task_id"] for entry in histories[bob.name]] == [
        row["task_id"] for row in rows if row["owner"] == "hf:bob"
    ]
