"""The `/extend` and `/export` endpoints through gradio_client and MCP, against the launched playground."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image


def _frames(path: str) -> tuple[int, tuple[int, int]]:
    with av.open(path) as container:
        frames = list(container.decode(video=0))
    return len(frames), (frames[0].width, frames[0].height)


def _first(client: Client, image: Path) -> str:
    _, record = client.predict(handle_file(str(image)), "a slow pan", "1280*720", 5, api_name="/generate")
    return record["task_id"]


def test_extend_returns_the_shot_and_the_new_segment(client: Client, sim, landscape_image: Path) -> None:  # type: ignore[no-untyped-def]
    """Extending a video, then the shot, returns one MP4 of all segments and a record naming them."""
    first = _first(client, landscape_image)
    video, record = client.predict(first, "push in", 5, api_name="/extend")
    assert record["state"] == "completed" and record["prompt"] == "push in"
    assert record["shot"]["segments"] == [first, record["task_id"]]
    video, again = client.predict(record["shot"]["name"], "pull back", 10, api_name="/extend")
    assert again["shot"]["name"] == record["shot"]["name"] and len(again["shot"]["segments"]) == 3
    assert again["shot"]["seconds"] == 20 and again["duration"] == 10
    assert _frames(video) == (120 + 120 + 240 - 2, (1280, 720))
    for task_id in again["shot"]["segments"]:
        assert sim.control.task(task_id)["submits"] == 1


def test_export_gives_a_gif_and_a_loop(client: Client, landscape_image: Path) -> None:
    """export makes a GIF of the asked width and frame rate, and a ping-pong loop of the video."""
    first = _first(client, landscape_image)
    gif, record = client.predict(first, "gif", "pingpong", "", 320, 8, api_name="/export")
    assert record["kind"] == "gif" and record["source"] == first and record["bytes"] > 0
    with Image.open(gif) as image:
        assert image.format == "GIF" and image.size == (320, 180) and image.n_frames == 40
    loop, _ = client.predict(first, "loop", "pingpong", "", 480, 12, api_name="/export")
    assert _frames(loop) == (2 * 120 - 2, (1280, 720))
    with pytest.raises(AppError, match="START before END"):
        client.predict(first, "trim", "pingpong", "4:1", 480, 12, api_name="/export")
