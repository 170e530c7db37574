"""Draft in Ray 2 Flash, finish in Ray 2, through the launched app: gradio_client, MCP, a Flash-only key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gradio_client.exceptions import AppError

from luma_playground._config import RAY_2, RAY_2_FLASH
from luma_playground.simulator import SimulatorServer

from ..conftest import wait_for
from .conftest import (
    SERVER_KEY,
    SHARED,
    USER_KEY,
    AppProcess,
    call_private,
    client_for,
    image_file,
    key_calls,
    mcp_tool,
)

FLASH, RAY = RAY_2_FLASH.id, RAY_2.id


def _models(sim: SimulatorServer) -> list[str]:
    """The model of every task the simulator made, oldest first."""
    return [task["model"] for task in sorted(sim.control.tasks(), key=lambda task: task["created_at"])]


def test_a_flash_draft_is_finished_in_ray_2_from_its_one_upload(
    app: AppProcess, sim: SimulatorServer, landscape_image: Path
) -> None:
    """A Flash video, then its finish by task id: one upload, one Flash submit, one Ray 2 submit."""
    client = client_for(app, USER_KEY)
    try:
        _, draft = client.predict(
            image_file(landscape_image), "a slow pan", "1280*720", 5, FLASH, api_name="/generate"
        )
        uploads = key_calls(sim, USER_KEY, "upload")  # 1, or 0 when this app already holds the picture
        video, final = client.predict(draft["task_id"], api_name="/finish")
        history = client.predict(api_name="/history")
    finally:
        client.close()
    assert draft["model"] == FLASH and draft["state"] == "completed"
    assert (final["model"], final["draft_task_id"], final["state"]) == (RAY, draft["task_id"], "completed")
    assert (final["prompt"], final["size"], final["duration"]) == ("a slow pan", "1280*720", 5)
    assert Path(video["video"] if isinstance(video, dict) else video).is_file()
    assert _models(sim) == [FLASH, RAY]
    assert uploads <= 1 and key_calls(sim, USER_KEY, "upload") == uploads  # the final sent no picture
    assert key_calls(sim, USER_KEY, "submit") == 2
    # History names the final's draft, so that the two show as a pair.
    assert {row["task_id"]: row["draft_task_id"] for row in history}[final["task_id"]] == draft["task_id"]


def test_a_ray_2_video_is_not_a_draft_to_finish(
    app: AppProcess, sim: SimulatorServer, landscape_image: Path
) -> None:
    """Finishing a video that is not a Flash draft is refused in one sentence, and nothing is submitted."""
    client = client_for(app, USER_KEY)
    try:
        _, record = client.predict(image_file(landscape_image), "a slow pan", api_name="/generate")
        with pytest.raises(AppError) as refused:
            client.predict(record["task_id"], api_name="/finish")
    finally:
        client.close()
    assert "Only a Ray 2 Flash draft can be finished in Ray 2" in str(refused.value)
    assert key_calls(sim, USER_KEY, "submit") == 1


def _record(result: Any) -> dict[str, Any]:
    """The task record an MCP tool answered with (the JSON object among its text parts)."""
    assert not result.isError, result.content
    for part in result.content:
        try:
            found = json.loads(getattr(part, "text", ""))
        except ValueError:
            continue
        for candidate in found if isinstance(found, list) else [found]:
            if isinstance(candidate, dict) and "task_id" in candidate:
                return candidate
    raise AssertionError(result.content)


def test_an_agent_drafts_in_flash_and_finishes_over_mcp(app: AppProcess, sim: SimulatorServer) -> None:
    """Over MCP, `generate` in Flash and then `finish` by task id make a Flash task and its Ray 2 final."""
    headers = {"X-WaveSpeed-Key": USER_KEY}
    picture = "data:image/png;base64," + _tiny_png()
    arguments = {"image": picture, "prompt": "waves roll in", "model": FLASH}
    draft = _record(mcp_tool(app.url, headers, "generate", arguments))
    final = _record(mcp_tool(app.url, headers, "finish", {"task_id": draft["task_id"]}))
    assert (draft["model"], final["model"], final["draft_task_id"]) == (FLASH, RAY, draft["task_id"])
    assert _models(sim) == [FLASH, RAY] and key_calls(sim, USER_KEY, "upload") <= 1


def _tiny_png() -> str:
    """A 640x360 PNG as base64 (large enough for the picture checks)."""
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (640, 360), (40, 90, 160)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_a_flash_only_key_refuses_ray_2_to_a_visitor_in_one_sentence(
    launch: Any, sim: SimulatorServer, landscape_image: Path
) -> None:
    """With LUMA_PLAYGROUND_MODELS=flash on a shared deployment, Ray 2 on the owner's key is refused."""
    app = launch("flash-only", **SHARED, LUMA_PLAYGROUND_MODELS="flash")
    client = client_for(app)
    try:
        with pytest.raises(AppError) as refused:
            client.predict(
                image_file(landscape_image), "a slow pan", "1280*720", 5, RAY, api_name="/generate"
            )
        _, draft = client.predict(
            image_file(landscape_image), "a slow pan", "1280*720", 5, FLASH, api_name="/generate"
        )
    finally:
        client.close()
    message = str(refused.value)
    assert message.count(". ") == 0 and "Ray 2" in message, message
    assert draft["model"] == FLASH and _models(sim) == [FLASH]
    assert key_calls(sim, SERVER_KEY, "submit") == 1


def test_history_finishes_a_draft_and_compare_opens_the_pair(
    app: AppProcess, sim: SimulatorServer, landscape_image: Path
) -> None:
    """History's "Finish in Ray 2" on a Flash card makes its final; Compare opens draft and final together."""
    client = client_for(app, USER_KEY)
    try:
        _, draft = client.predict(
            image_file(landscape_image), "a slow pan", "1280*720", 5, FLASH, api_name="/generate"
        )
        [row] = app.rows("task_id = ?", (draft["task_id"],))
        uploads = key_calls(sim, USER_KEY, "upload")
        call_private(client, "history_finish", str(row["row_id"]))

        def final() -> dict[str, Any] | None:
            rows = app.rows("draft_task_id = ? AND video_path IS NOT NULL", (draft["task_id"],))
            return rows[0] if rows else None

        made = wait_for(final, what="the Ray 2 final")
        left, right = call_private(client, "open_with", str(made["row_id"]), None)
    finally:
        client.close()
    assert made["model"] == RAY
    assert (left["value"], right["value"]) == (str(made["row_id"]), str(row["row_id"]))
    assert _models(sim) == [FLASH, RAY] and key_calls(sim, USER_KEY, "upload") == uploads <= 1


def test_a_shot_is_extended_in_flash(app: AppProcess, sim: SimulatorServer, landscape_image: Path) -> None:
    """`/extend` with model Flash makes the next segment in Ray 2 Flash, from the video's last frame."""
    client = client_for(app, USER_KEY)
    try:
        _, first = client.predict(image_file(landscape_image), "a slow pan", api_name="/generate")
        _, segment = client.predict(first["task_id"], "on into the fog", 5, FLASH, api_name="/extend")
    finally:
        client.close()
    assert (first["model"], segment["model"]) == (RAY, FLASH) and _models(sim) == [RAY, FLASH]


def test_the_generate_tab_finishes_the_flash_video_it_shows(
    app: AppProcess, sim: SimulatorServer, landscape_image: Path
) -> None:
    """The page's run in Flash, then "Finish in Ray 2" under it: the final names that draft."""
    client = client_for(app, USER_KEY)
    try:
        picture = image_file(landscape_image)
        call_private(client, "page_generate", picture, "the shown one", "1280*720", 5, FLASH, 1)
        [draft] = app.rows("model = ? AND prompt = ?", (FLASH, "the shown one"))
        call_private(client, "finish_shown")
    finally:
        client.close()

    def final() -> dict[str, Any] | None:
        return next(iter(app.rows("draft_task_id = ?", (draft["task_id"],))), None)

    assert wait_for(final, what="the final")["model"] == RAY and _models(sim) == [FLASH, RAY]
