"""The data endpoints through `gradio_client` and through the `mcp` client, against the launched app."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from luma_playground import Playground, Settings
from luma_playground._run.pipeline import FIRST_POLL_DELAY
from luma_playground._wavespeed.retry import RetryPolicy
from luma_playground.simulator import SimulatorServer

from .conftest import SERVER_KEY, launched

PROMPT = "Waves roll in under a low sun"
TOOLS = {
    "generate",
    "finish",
    "price",
    "enhance_prompt",
    "get_task",
    "history",
    "cancel",
    "extend",
    "export",
    "batch_price",
    "batch",
    "get_batch",
    "cancel_batch",
}


#: Wall-clock seconds the phase tests hold a phase with a fault, whatever the time scale: a phase
#: lasts seconds, not a tick between two looks.
PHASE_S = 2.0


@pytest.fixture(scope="module")
def agent_app(sim_server: SimulatorServer, outside_tmp: Path) -> Iterator[gr.Blocks]:
    """The app with the owner's key and its MCP server, on the session's simulator."""
    settings = Settings.from_env(
        {
            "WAVESPEED_BASE_URL": sim_server.base_url,
            "WAVESPEED_API_KEY": SERVER_KEY,
            "LUMA_PLAYGROUND_HOME": str(outside_tmp / "agent-app"),
            # These tests submit faster than Bronze's 5 videos a minute; pacing is tested elsewhere.
            "LUMA_PLAYGROUND_SUBMITS_PER_MINUTE": "60",
        }
    )
    playground = Playground.open(settings, retry=RetryPolicy(scale=0), start_simulator=False)
    with launched(playground, mcp_server=True) as demo:
        yield demo


@pytest.fixture
def api(agent_app: gr.Blocks) -> Iterator[Client]:
    client = Client(agent_app.local_url, verbose=False)
    yield client
    client.close()


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def wait_until(predicate: Any, what: str, timeout: float = 60) -> Any:
    """Poll `predicate` until it gives a true value (bounded); fail saying `what` never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    pytest.fail(f"{what} did not happen within {timeout} s")


def running_task(sim: SimulatorServer) -> str:
    """The id of the one task the simulator is running, once it is processing."""
    tasks = wait_until(
        lambda: [t for t in sim.control.tasks() if t["status"] == "processing"], "a task processing"
    )
    return str(tasks[0]["id"])


# -- gradio_client ------------------------------------------------------------------------------


def test_cancelling_a_generate_call_cancels_the_task(
    api: Client, sim: SimulatorServer, landscape_image: Path
) -> None:
    """`job.cancel()` on a running generate sends the DELETE, and the journal says cancelled."""
    sim.control.add_fault("submit", "slow")  # the task runs until it is cancelled
    job = api.submit(handle_file(str(landscape_image)), PROMPT, "1280*720", 10, api_name="/generate")
    task_id = running_task(sim)
    assert job.cancel()
    task = wait_until(
        lambda: sim.control.task(task_id)["status"] == "cancelled" and sim.control.task(task_id),
        "the remote cancellation",
    )
    assert task["status"] == "cancelled"
    [entry] = wait_until(
        lambda: [e for e in api.predict(api_name="/history") if e["task_id"] == task_id and not e["pending"]],
        "the journal's cancelled state",
    )
    assert entry["state"] == "cancelled" and not entry["video_saved"]


def test_progress_reaches_job_status(api: Client, sim: SimulatorServer, landscape_image: Path) -> None:
    """`job.status()` carries the phase and the elapsed and expected seconds while the model works."""
    # Queued until the first poll answers, PHASE_S after it is sent; then generating for PHASE_S more.
    sim.control.add_fault("result", "stall", seconds=PHASE_S)
    sim.control.add_fault("submit", "slow", seconds=FIRST_POLL_DELAY + 2 * PHASE_S)
    job = api.submit(handle_file(str(landscape_image)), PROMPT, "1280*720", 5, api_name="/generate")
    lines: set[str] = set()
    while not job.done():
        status = job.status()
        lines.update(unit.desc for unit in status.progress_data or [] if unit.desc)
        time.sleep(0.1)
    video, record = job.result()
    assert Path(video).stat().st_size > 0 and record["state"] == "completed"
    assert any(line.startswith("Generating, ") and " s of about " in line for line in lines), lines
    assert "Queued on WaveSpeed" in lines


def test_price_history_get_and_cancel(api: Client, sim: SimulatorServer, landscape_image: Path) -> None:
    """Each data endpoint answers with data: the price, the caller's tasks, one task, a cancel note."""
    price = api.predict("720*1280", 10, 2, api_name="/price")
    assert price["usd_per_video"] == pytest.approx(1.0) and price["usd_total"] == pytest.approx(2.0)
    assert price["balance_usd"] is not None  # the owner's own playground shows the owner's balance
    sim.control.add_fault("submit", "slow")  # the task runs until it is cancelled
    job = api.submit(data_uri(landscape_image), PROMPT, "1280*720", 5, api_name="/generate")
    task_id = running_task(sim)
    task = api.predict(task_id, api_name="/get_task")
    assert task["task_id"] == task_id and task["pending"] and task["prompt"] == PROMPT
    assert task_id in [entry["task_id"] for entry in api.predict(api_name="/history")]
    answer = api.predict(task_id, api_name="/cancel")
    assert answer["state"] == "cancelled" and answer["note"].startswith("Cancelled: WaveSpeed stopped task")
    assert sim.control.task(task_id)["status"] == "cancelled"
    with pytest.raises(AppError, match=r"[Cc]ancel|stopped"):
        job.result()
    again = api.predict(task_id, api_name="/cancel")
    assert again["note"].startswith("Nothing to cancel")


def test_enhance_prompt_returns_the_suggestion(
    api: Client, sim: SimulatorServer, landscape_image: Path
) -> None:
    """The optimizer's suggestion comes back as text, made with the picture when one is sent."""
    answer = api.predict("waves", handle_file(str(landscape_image)), "anime", api_name="/enhance_prompt")
    assert answer["used_picture"] and answer["style"] == "anime" and len(answer["prompt"]) > len("waves")
    assert sim.control.stats()["routes"]["optimizer"] == 1


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("/etc/passwd", r"an upload of yours\), an http\(s\) URL or a data:image"),
        ("http://127.0.0.1:9/picture.png", "not public"),
        ("data:image/png;base64,!!!", "not valid base64"),
    ],
)
def test_pictures_the_app_refuses(api: Client, sim: SimulatorServer, image: object, message: str) -> None:
    """A local path, a file outside the uploads, a private URL or a broken data URI: one sentence, free."""
    with pytest.raises(AppError, match=message):
        api.predict(image, PROMPT, "1280*720", 5, api_name="/generate")
    assert sim.control.stats()["routes"] == {}


# -- MCP ----------------------------------------------------------------------------------------


async def with_session(url: str, work: Any, headers: dict[str, str] | None = None) -> Any:
    """Run `work(session)` in an MCP session with the app (streamable HTTP, loopback)."""
    async with (
        httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(120)) as http,
        streamable_http_client(f"{url}gradio_api/mcp/", http_client=http) as (reader, writer, _),
        ClientSession(reader, writer) as session,
    ):
        await session.initialize()
        return await work(session)


def test_mcp_tools_are_described_for_an_agent(agent_app: gr.Blocks) -> None:
    """Every endpoint is a tool; generate's description gives sizes, durations, cost, wait and crop."""

    async def work(session: ClientSession) -> Any:
        return (await session.list_tools()).tools

    tools = {tool.name: tool for tool in asyncio.run(with_session(agent_app.local_url, work))}
    assert set(tools) == TOOLS
    described = tools["generate"].description or ""
    for words in ("1280*720", "720*1280", "5 or 10", "cropped to fill", "about a minute", "price"):
        assert words in described, words
    schema = tools["generate"].inputSchema["properties"]
    assert "data:image/png;base64" in schema["image"]["description"]
    assert schema["size"]["enum"] == ["1280*720", "720*1280"] and schema["duration"]["enum"] == [5, 10]


def test_mcp_generate_reports_phases_and_answers_json(
    agent_app: gr.Blocks, sim: SimulatorServer, landscape_image: Path
) -> None:
    """A data URI picture makes a video; progress says the phase; the record arrives as JSON."""
    messages: list[str] = []
    sim.control.add_fault("submit", "slow", seconds=PHASE_S)  # the first poll finds it generating

    async def progress(done: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    async def work(session: ClientSession) -> Any:
        arguments = {"image": data_uri(landscape_image), "prompt": PROMPT, "duration": 5}
        return await session.call_tool("generate", arguments, progress_callback=progress)

    result = asyncio.run(with_session(agent_app.local_url, work))
    assert not result.isError
    video_url, record_text = (content.text for content in result.content)  # type: ignore[union-attr]
    record = json.loads(record_text)
    assert record["state"] == "completed" and video_url.endswith(f"{record['task_id']}.mp4")
    assert any("Generating, " in message and " s of about " in message for message in messages), messages


def test_mcp_refusals_are_sentences(agent_app: gr.Blocks, sim: SimulatorServer) -> None:
    """A refused picture comes back as the app's sentence, never a bare "Error!"."""

    async def work(session: ClientSession) -> Any:
        arguments = {"image": "http://10.0.0.1/picture.png", "prompt": PROMPT}
        return await session.call_tool("generate", arguments, progress_callback=lambda *_: asyncio.sleep(0))

    result = asyncio.run(with_session(agent_app.local_url, work))
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.isError and "not public" in text and "Error!" not in text
    assert sim.control.stats()["routes"] == {}


def test_mcp_cancel_tool_stops_a_running_generate(
    agent_app: gr.Blocks, sim: SimulatorServer, landscape_image: Path
) -> None:
    """An agent cancels its running generate with the `cancel` tool: WaveSpeed gets the DELETE."""
    sim.control.add_fault("submit", "slow")  # the task runs until it is cancelled

    async def work(session: ClientSession) -> Any:
        arguments = {"image": data_uri(landscape_image), "prompt": PROMPT, "duration": 10}
        generation = asyncio.ensure_future(session.call_tool("generate", arguments))
        task_id = await asyncio.to_thread(running_task, sim)
        answer = await session.call_tool("cancel", {"task_id": task_id})
        return task_id, answer, await generation

    task_id, answer, generation = asyncio.run(with_session(agent_app.local_url, work))
    assert json.loads(answer.content[0].text)["state"] == "cancelled"
    assert sim.control.task(task_id)["status"] == "cancelled"
    assert generation.isError and "ancel" in generation.content[0].text


def test_mcp_every_tool_answers_json(
    agent_app: gr.Blocks, sim: SimulatorServer, landscape_image: Path
) -> None:
    """Each tool called over MCP answers JSON text an agent can parse (price, enhance, task, history)."""

    async def work(session: ClientSession) -> dict[str, Any]:
        made = await session.call_tool("generate", {"image": data_uri(landscape_image), "prompt": PROMPT})
        task_id = json.loads(made.content[1].text)["task_id"]  # type: ignore[union-attr]
        calls = {
            "price": {"size": "720*1280", "duration": 10, "count": 1},
            "enhance_prompt": {"prompt": "waves", "style": "realistic"},
            "get_task": {"task_id": task_id},
            "history": {},
            "cancel": {"task_id": task_id},
        }
        answers = {}
        for name, arguments in calls.items():
            result = await session.call_tool(name, arguments)
            assert not result.isError, (name, result.content)
            answers[name] = json.loads(result.content[0].text)  # type: ignore[union-attr]
        answers["task_id"] = task_id
        return answers

    answers = asyncio.run(with_session(agent_app.local_url, work))
    task_id = answers["task_id"]
    assert answers["price"]["usd_per_video"] == pytest.approx(1.0)
    assert answers["enhance_prompt"]["style"] == "realistic" and answers["enhance_prompt"]["prompt"]
    assert answers["get_task"]["task_id"] == task_id and answers["get_task"]["video_saved"]
    assert task_id in [entry["task_id"] for entry in answers["history"]]
    assert answers["cancel"]["note"].startswith("Nothing to cancel")


def test_mcp_export_answers_a_file_and_json(agent_app, sim, landscape_image: Path) -> None:  # type: ignore[no-untyped-def]
    """Over MCP, export returns the file's URL and its record as JSON text."""
    api = Client(agent_app.local_url, verbose=False)
    try:
        _, made = api.predict(handle_file(str(landscape_image)), "a pan", "1280*720", 5, api_name="/generate")
    finally:
        api.close()
    first = made["task_id"]

    async def work(session: ClientSession) -> Any:
        return await session.call_tool("export", {"task_id": first, "kind": "trim", "trim": "1:2"})

    result = asyncio.run(with_session(agent_app.local_url, work))
    assert not result.isError, result
    url, text = (content.text for content in result.content)  # type: ignore[union-attr]
    assert json.loads(text)["kind"] == "trim" and url.endswith("trim-1-2.mp4")


def test_mcp_batch_tools_price_run_and_find_a_batch(
    agent_app: gr.Blocks, sim: SimulatorServer, landscape_image: Path
) -> None:
    """An agent prices two rows, runs them as a batch (zip URL and JSON), and finds the batch again."""
    messages: list[str] = []
    rows = [{"image": data_uri(landscape_image), "prompt": f"row {n}"} for n in (1, 2)]

    async def progress(done: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    async def work(session: ClientSession) -> list[Any]:
        priced = await session.call_tool("batch_price", {"rows": rows})
        made = await session.call_tool("batch", {"rows": rows}, progress_callback=progress)
        assert not made.isError, made.content
        url, text = (content.text for content in made.content)  # type: ignore[union-attr]
        batch_id = json.loads(text)["batch_id"]
        found = await session.call_tool("get_batch", {"batch_id": batch_id})
        cancelled = await session.call_tool("cancel_batch", {"batch_id": batch_id})
        return [priced, url, json.loads(text), found, cancelled]

    # A key of its own: the batch is paced apart from the other tests' submits.
    headers = {"X-WaveSpeed-Key": "sk-agent-batch-0000000001"}
    priced, url, record, found, cancelled = asyncio.run(with_session(agent_app.local_url, work, headers))
    assert json.loads(priced.content[0].text)["usd_total"] == pytest.approx(1.0)
    assert re.search(rf"/batch-{record['batch_id']}-[0-9a-f]{{20}}\.zip$", url) and record["state"] == "done"
    assert [row["state"] for row in record["rows"]] == ["done", "done"]
    assert json.loads(found.content[1].text)["rows"] == record["rows"]
    assert json.loads(cancelled.content[0].text)["notes"][0].startswith("Nothing to cancel")
    assert any(f"Batch {record['batch_id']}: 0 of 2 done" in message for message in messages), messages
