"""Every MCP caller is a visitor of its own: separate `mcp` clients against the launched shared app.

Gradio's MCP server forwards every tool call through one in-process client (one session), so an
MCP caller is known only by a login or by the key it sends. Each test drives separate clients,
each with its own connection, MCP session and `X-Forwarded-For` (the Space's proxy), and counts
the submits the simulator received.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from luma_playground._playground import SIMULATOR_KEY
from luma_playground.simulator import SimulatorServer

from ._oidc import Provider, provider, sign_in, space_env
from .conftest import (
    SERVER_KEY,
    SHARED,
    AppProcess,
    Caller,
    Evidence,
    client_for,
    close_all,
    key_calls,
    start_app,
)

#: The sentence an anonymous MCP caller gets from every tool that reads or acts on existing work.
OWN_KEY = "send your own WaveSpeed key in the X-WaveSpeed-Key header"
#: The tools that read or act on existing work, with the arguments that name A's work.
WORK_TOOLS = ("history", "get_task", "cancel", "export", "extend", "get_batch", "cancel_batch")
#: The tools that may start paid work: never asked twice.
PAID_TOOLS = ("generate", "batch", "extend")


@dataclass(frozen=True)
class Answer:
    """What one tool call answered: whether it is an error, and its text parts."""

    is_error: bool
    texts: list[str]

    @property
    def text(self) -> str:
        return " ".join(self.texts)

    @property
    def record(self) -> Any:
        """The JSON record of the answer (the last text part)."""
        assert not self.is_error, self.text
        return json.loads(self.texts[-1])


class Agent:
    """One MCP caller: its own HTTP connection and MCP session, sending its own headers."""

    def __init__(self, session: ClientSession, prefix: str) -> None:
        self.session = session
        #: What Gradio puts before each tool's name on a Space (the Space's name and "_").
        self.prefix = prefix

    async def call(self, tool: str, **arguments: Any) -> Answer:
        answer = await self._call(tool, arguments)
        if answer.is_error and not answer.text.strip() and tool not in PAID_TOOLS:
            # An error with no text at all is never the playground's (each of its refusals is a
            # sentence): Gradio's MCP server relays every call through one shared client, which
            # now and then loses a call submitted as the stream of the one before closes. A
            # call that pays for nothing is asked again, as a script would.
            answer = await self._call(tool, arguments)
        return answer

    async def _call(self, tool: str, arguments: dict[str, Any]) -> Answer:
        result = await self.session.call_tool(self.prefix + tool, arguments)
        return Answer(bool(result.isError), [getattr(part, "text", "") for part in result.content])


@contextlib.asynccontextmanager
async def agent(app: AppProcess, **headers: str) -> AsyncIterator[Agent]:
    """An MCP client of its own against the app, sending `headers` on every request."""
    sent = {name.replace("_", "-"): value for name, value in headers.items()}
    async with (
        httpx.AsyncClient(headers=sent, timeout=httpx.Timeout(90)) as http,
        streamable_http_client(f"{app.url}gradio_api/mcp/", http_client=http) as (reader, writer, _),
        ClientSession(reader, writer) as session,
    ):
        await session.initialize()
        # On a Space Gradio names each tool after the Space first: find that prefix.
        names = [tool.name for tool in (await session.list_tools()).tools]
        yield Agent(session, next(name for name in names if name.endswith("generate"))[: -len("generate")])


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


async def make_work(caller: Agent, picture: str, prompt: str) -> tuple[str, int]:
    """The caller generates a video and runs a one-row batch: the task id and the batch id."""
    made, batch = await asyncio.gather(
        caller.call("generate", image=picture, prompt=prompt),
        caller.call("batch", rows=[{"image": picture, "prompt": f"{prompt}, batched"}]),
    )
    return str(made.record["task_id"]), int(batch.record["batch_id"])


async def reach(caller: Agent, task_id: str, batch_id: int) -> dict[str, Answer]:
    """The caller's answer from each tool that reads or acts on the work named by these ids."""
    calls = {
        "history": {},
        "get_task": {"task_id": task_id},
        "cancel": {"task_id": task_id},
        "export": {"task_id": task_id, "kind": "trim", "trim": "0:1"},
        "extend": {"task_id": task_id, "prompt": "and further on"},
        "get_batch": {"batch_id": batch_id},
        "cancel_batch": {"batch_id": batch_id},
    }
    answers = await asyncio.gather(*(caller.call(tool, **arguments) for tool, arguments in calls.items()))
    return dict(zip(calls, answers, strict=True))


def prompts(history: Answer) -> list[str]:
    """The prompts of a `history` answer, sorted."""
    return sorted(entry["prompt"] for entry in history.record)


def fresh_key(evidence: Evidence) -> str:
    key = f"sk-mcp-caller-{secrets.token_hex(8)}"
    evidence.keys.add(key)
    return key


def test_anonymous_mcp_callers_reach_no_work_without_their_own_key(
    sim: SimulatorServer, app: AppProcess, landscape_image: Path
) -> None:
    """Two anonymous MCP callers at once: neither reads or acts on the other's task, batch or video."""
    picture = data_uri(landscape_image)

    async def run() -> tuple[tuple[str, int], dict[str, Answer], dict[str, Answer]]:
        async with (
            agent(app, X_Forwarded_For="203.0.113.51") as a,
            agent(app, X_Forwarded_For="203.0.113.52", Mcp_Session_Id="chosen-by-b") as b,
        ):
            made_a, _ = await asyncio.gather(
                make_work(a, picture, "A's secret harbour"), make_work(b, picture, "B's quiet field")
            )
            return made_a, await reach(b, *made_a), await reach(a, *made_a)

    (task_id, _), by_b, by_a = asyncio.run(run())
    for tool in WORK_TOOLS:
        for answer in (by_b[tool], by_a[tool]):
            assert answer.is_error and OWN_KEY in answer.text, (tool, answer)
            assert "harbour" not in answer.text and task_id not in answer.text, (tool, answer)
    # Two videos and two batch rows on the owner's key; nothing was extended.
    assert key_calls(sim, SERVER_KEY, "submit") == 4


def test_mcp_callers_with_their_own_keys_each_reach_only_their_keys_work(
    sim: SimulatorServer, app: AppProcess, evidence: Evidence, landscape_image: Path
) -> None:
    """With its own key in X-WaveSpeed-Key, each MCP caller sees and acts on its key's work alone."""
    picture = data_uri(landscape_image)
    key_a, key_b = fresh_key(evidence), fresh_key(evidence)

    async def run() -> dict[str, Any]:
        async with (
            agent(app, X_WaveSpeed_Key=key_a, X_Forwarded_For="203.0.113.61") as a,
            agent(app, X_WaveSpeed_Key=key_b, X_Forwarded_For="203.0.113.61") as b,
            agent(app, X_Forwarded_For="203.0.113.61") as anonymous,
            agent(app, X_WaveSpeed_Key=SIMULATOR_KEY, X_Forwarded_For="203.0.113.61") as public,
        ):
            (task_a, batch_a), (task_b, _) = await asyncio.gather(
                make_work(a, picture, "A's secret harbour"), make_work(b, picture, "B's quiet field")
            )
            return {
                "ids": (task_a, batch_a, task_b),
                "by_b": await reach(b, task_a, batch_a),
                "by_anonymous": await reach(anonymous, task_a, batch_a),
                "by_public": await reach(public, task_a, batch_a),
                "a_history": await a.call("history"),
                "a_task": await a.call("get_task", task_id=task_a),
                "a_batch": await a.call("get_batch", batch_id=batch_a),
                "a_export": await a.call("export", task_id=task_a, kind="trim", trim="0:1"),
            }

    found = asyncio.run(run())
    task_a, batch_a, task_b = found["ids"]
    by_b = found["by_b"]
    assert task_b in [entry["task_id"] for entry in by_b["history"].record]
    assert prompts(by_b["history"]) == ["B's quiet field", "B's quiet field, batched"]
    for tool in ("get_task", "cancel", "export", "extend", "get_batch", "cancel_batch"):
        answer = by_b[tool]
        assert answer.is_error and "harbour" not in answer.text, (tool, answer)
    for visitor in ("by_anonymous", "by_public"):  # the simulator's public key proves nothing
        for tool, answer in found[visitor].items():
            assert answer.is_error and OWN_KEY in answer.text and "harbour" not in answer.text, (tool, answer)
    # A reaches its own work by its key, and nothing of B's.
    assert prompts(found["a_history"]) == ["A's secret harbour", "A's secret harbour, batched"]
    assert found["a_task"].record["prompt"] == "A's secret harbour"
    assert found["a_batch"].record["batch_id"] == batch_a and found["a_batch"].record["state"] == "done"
    assert found["a_export"].record["source"] == task_a
    assert (key_calls(sim, key_a, "submit"), key_calls(sim, key_b, "submit")) == (2, 2)
    assert key_calls(sim, SERVER_KEY, "submit") == 0  # and nothing extended on anyone's key


@pytest.fixture(scope="module")
def limited_app(rsim: SimulatorServer, work_folder: Path, evidence: Evidence) -> Iterator[AppProcess]:
    """A Space whose owner's key allows each visitor two videos a day."""
    limits = SHARED | {"LUMA_PLAYGROUND_SESSION_DAILY": "2"}
    launched = start_app(work_folder / "mcp-callers-limited", rsim.base_url, **limits)
    evidence.apps.append(launched)
    yield launched
    launched.stop()


def test_anonymous_mcp_generation_on_the_owners_key_is_limited_as_one_visitor(
    sim: SimulatorServer, limited_app: AppProcess, evidence: Evidence, landscape_image: Path
) -> None:
    """Anonymous MCP callers share one visitor's day on the owner's key, and their address's too."""
    picture = data_uri(landscape_image)
    own_key = fresh_key(evidence)
    spent = Caller("spent", client_for(limited_app, X_Forwarded_For="203.0.113.71"), SERVER_KEY, evidence)
    fresh = Caller("fresh", client_for(limited_app, X_Forwarded_For="203.0.113.75"), SERVER_KEY, evidence)

    async def generate(**headers: str) -> Answer:
        async with agent(limited_app, **headers) as caller:
            return await caller.call("generate", image=picture, prompt="a gull over the pier")

    try:
        for _ in range(2):  # the page visitor at .71 uses up that address's day
            assert spent.generate(landscape_image, "a pier at dusk").error is None
        same_address = asyncio.run(generate(X_Forwarded_For="203.0.113.71"))
        assert same_address.is_error and "limit of 2 videos a day" in same_address.text, same_address
        first = asyncio.run(generate(X_Forwarded_For="203.0.113.72"))
        second = asyncio.run(generate(X_Forwarded_For="203.0.113.73", Mcp_Session_Id="a-fresh-one"))
        assert not first.is_error and not second.is_error, (first, second)
        third = asyncio.run(generate(X_Forwarded_For="203.0.113.74", Mcp_Session_Id="another-fresh-one"))
        assert third.is_error and "limit of 2 videos a day" in third.text, third
        # A page visitor elsewhere, and an MCP caller paying with their own key, are not held back.
        made = fresh.generate(landscape_image, "a pier at noon")
        assert made.error is None, made.error
        assert [entry["task_id"] for entry in fresh.client.predict(api_name="/history")] == [
            made.outputs[-1][1]["task_id"]
        ]
        assert not asyncio.run(generate(X_WaveSpeed_Key=own_key, X_Forwarded_For="203.0.113.74")).is_error
    finally:
        close_all([spent, fresh])
    assert key_calls(sim, SERVER_KEY, "submit") == 5 and key_calls(sim, own_key, "submit") == 1


@pytest.fixture(scope="module")
def hub() -> Iterator[Provider]:
    """The stand-in Hugging Face sign-in for this module's Space."""
    with provider() as state:
        yield state


def test_a_signed_in_mcp_caller_is_their_login(
    sim: SimulatorServer,
    launch: Callable[..., AppProcess],
    hub: Provider,
    landscape_image: Path,
) -> None:
    """Over MCP the sign-in cookie names the caller: each login reaches its own work alone."""
    app = launch(
        "mcp-login",
        **space_env(hub),
        SPACE_ID="reliability/mcp-login",
        GRADIO_MCP_SERVER="1",
        LUMA_PLAYGROUND_REQUIRE_LOGIN="1",
        LUMA_PLAYGROUND_DAILY_BUDGET="0",
    )
    picture = data_uri(landscape_image)
    alice = {"Cookie": f"session={sign_in(app.url, 'alice')}", "X_Forwarded_For": "203.0.113.81"}
    bob = {"Cookie": f"session={sign_in(app.url, 'bob')}", "X_Forwarded_For": "203.0.113.82"}

    async def run() -> dict[str, Answer]:
        async with (
            agent(app, **alice) as a,
            agent(app, **bob) as b,
            agent(app, X_Forwarded_For="203.0.113.83") as anonymous,
        ):
            made = await a.call("generate", image=picture, prompt="Alice's lantern")
            task_id = str(made.record["task_id"])
            return {
                "a_history": await a.call("history"),
                "b_history": await b.call("history"),
                "b_task": await b.call("get_task", task_id=task_id),
                "anonymous": await anonymous.call("generate", image=picture, prompt="a stranger's"),
            }

    found = asyncio.run(run())
    assert prompts(found["a_history"]) == ["Alice's lantern"]
    assert found["b_history"].record == []
    assert found["b_task"].is_error and "lantern" not in found["b_task"].text, found["b_task"]
    assert found["anonymous"].is_error and "signed-in visitors only" in found["anonymous"].text
    assert key_calls(sim, SERVER_KEY, "submit") == 1
