"""Prompt suggestions on the owner's key follow the rules of its videos, against a script.

Each test launches a shared deployment and asks for suggestions as a script would: fresh
`gradio_client` sessions, forged `X-Forwarded-For` headers, the page's own event and the public
endpoint; the simulator counts the optimizer calls made on each key.
"""

from __future__ import annotations

from gradio_client.exceptions import AppError

from luma_playground.simulator import SimulatorServer

from .conftest import SERVER_KEY, USER_KEY, Caller, Evidence, call_private, close_all, key_calls, new_caller

SPACE = {"SPACE_ID": "reliability/suggestions", "LUMA_PLAYGROUND_TRUSTED_PROXIES": "0"}


def optimizer_calls(sim: SimulatorServer, key: str) -> int:
    return key_calls(sim, key, "optimizer")


def suggest(caller: Caller, prompt: str, *, page: bool = False) -> str | None:
    """Ask for a suggestion (the public endpoint, or the page's event); the refusal, if any."""
    try:
        if page:
            call_private(caller.client, "suggest", None, prompt, "default")
        else:
            answer = caller.client.predict(prompt, None, "default", api_name="/enhance_prompt")
            assert answer["prompt"], answer
    except AppError as error:
        return str(error)
    return None


def test_new_sessions_from_one_address_share_the_suggestions_of_a_day(
    sim,
    launch,
    evidence: Evidence,  # type: ignore[no-untyped-def]
) -> None:
    """Fresh sessions, each forging its own X-Forwarded-For, share one address's 3 a day; own keys go on."""
    app = launch(
        "suggest-limit", **SPACE, LUMA_PLAYGROUND_DAILY_BUDGET="0", LUMA_PLAYGROUND_SESSION_SUGGESTIONS="3"
    )
    visitors = [new_caller(app, evidence, f"s{n}", X_Forwarded_For=f"203.0.113.{n}") for n in range(5)]
    own = new_caller(app, evidence, "own key", USER_KEY)
    try:
        refusals = [suggest(each, f"waves {n}", page=n % 2 == 1) for n, each in enumerate(visitors)]
        own_refusal = suggest(own, "waves, on my own key")
    finally:
        close_all([*visitors, own])
    assert refusals[:3] == [None, None, None]
    for refusal in refusals[3:]:  # the public endpoint and the page's event alike
        assert refusal is not None and "allows 3 prompt suggestions a day" in refusal, refusals
        assert "your own WaveSpeed key" in refusal
    assert optimizer_calls(sim, SERVER_KEY) == 3
    assert own_refusal is None and optimizer_calls(sim, USER_KEY) == 1


def test_suggestions_draw_on_the_daily_budget(sim, launch, evidence: Evidence) -> None:  # type: ignore[no-untyped-def]
    """A tenth of a cent each (its listed price) from 0.24 cents: two paid, one given back, then refused."""
    app = launch("suggest-budget", **SPACE, LUMA_PLAYGROUND_DAILY_BUDGET="0.0024")
    visitors = [new_caller(app, evidence, f"b{n}") for n in range(4)]
    own = new_caller(app, evidence, "own key", USER_KEY)
    try:
        assert suggest(visitors[0], "first suggestion") is None
        sim.control.add_fault("optimizer", "status", status=401, count=1)
        failed = suggest(visitors[1], "this one fails")
        assert failed is not None and "refused" in failed
        assert suggest(visitors[2], "second paid suggestion") is None
        spent = suggest(visitors[3], "one past the budget")
        own_refusal = suggest(own, "my own key pays")
    finally:
        close_all([*visitors, own])
    assert spent is not None and "budget" in spent and "your own WaveSpeed key" in spent
    # Three reached the optimizer (one failed on the way); the refused one never did.
    assert optimizer_calls(sim, SERVER_KEY) == 3
    assert own_refusal is None and optimizer_calls(sim, USER_KEY) == 1
