"""The `/generate` endpoint through gradio_client, against the launched playground."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import gradio as gr
import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from luma_playground import Playground, Settings
from luma_playground._request import OPTIONS
from luma_playground.simulator import key_fingerprint
from luma_playground.ui import KEY_HEADER

from .conftest import SERVER_KEY, launched

PROMPT = "A slow push-in while the light shifts"


def video_facts(path: str) -> tuple[int, int, float]:
    """Width, height and duration in seconds of a decodable MP4."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert frames > 0
        return stream.width, stream.height, float(container.duration or 0) / av.time_base


def test_generate_returns_a_playable_video(client: Client, sim, landscape_image: Path) -> None:  # type: ignore[no-untyped-def]
    """A call returns the MP4 at the requested size and duration, and the task's record as data."""
    video, record = client.predict(
        handle_file(str(landscape_image)), PROMPT, "1280*720", 5, api_name="/generate"
    )
    width, height, seconds = video_facts(video)
    assert (width, height) == (1280, 720) and seconds == pytest.approx(5, abs=0.2)
    task = sim.control.task(record["task_id"])
    assert task["key_fingerprint"] == key_fingerprint(SERVER_KEY)
    assert record["state"] == "completed" and record["size"] == "1280*720" and record["duration"] == 5
    assert record["inference_seconds"] > 0 and record["price_usd"] == pytest.approx(0.5)
    assert record["backend"] == "wavespeed" and record["prompt"] == PROMPT
    # The record names the app's own saved copy, which the app serves.
    saved = httpx.get(record["video_url"])
    assert saved.status_code == 200 and saved.content == Path(video).read_bytes()


def test_two_sessions_use_their_own_keys(
    server_app: gr.Blocks,
    sim,
    landscape_image: Path,  # type: ignore[no-untyped-def]
) -> None:
    """Two callers at once, each with a key header: each task is created with its own key."""
    keys = ["sk-alice-0000000001", "sk-bob-00000000002"]

    def run(key: str) -> str:
        api = Client(server_app.local_url, headers={KEY_HEADER: key}, verbose=False)
        try:
            _, record = api.predict(
                handle_file(str(landscape_image)), PROMPT, "1280*720", 5, api_name="/generate"
            )
        finally:
            api.close()
        return str(record["task_id"])

    with ThreadPoolExecutor(2) as pool:
        task_ids = list(pool.map(run, keys))
    for key, task_id in zip(keys, task_ids, strict=True):
        assert sim.control.task(task_id)["key_fingerprint"] == key_fingerprint(key)
    assert len(sim.control.tasks()) == 2


@pytest.mark.parametrize(
    ("size", "duration", "prompt", "message"),
    [
        ("1280x721", 5, PROMPT, "Size must be one of 1280*720, 720*1280"),
        ("1280*720", 7, PROMPT, "Duration must be 5 or 10 seconds"),
        ("1280*720", "five", PROMPT, "Duration must be 5 or 10 seconds"),
        ("1280*720", 5, "   ", "Write a prompt"),
    ],
)
def test_invalid_values_get_one_clear_error(
    client: Client,
    sim,
    landscape_image: Path,  # type: ignore[no-untyped-def]
    size: object,
    duration: object,
    prompt: str,
    message: str,
) -> None:
    """A value the model does not take comes back as the playground's sentence; nothing is sent."""
    with pytest.raises(AppError, match=re.escape(message)):
        client.predict(handle_file(str(landscape_image)), prompt, size, duration, api_name="/generate")
    assert sim.control.stats()["routes"].get("upload", 0) == 0


def test_a_file_that_is_not_an_image(client: Client, sim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A text file sent as the image gets the playground's message, not Gradio's generic one."""
    fake = tmp_path / "notes.png"
    fake.write_text("not a picture")
    with pytest.raises(AppError, match="not an image"):
        client.predict(handle_file(str(fake)), PROMPT, "1280*720", 5, api_name="/generate")
    assert not sim.control.tasks()


def test_api_failures_are_sentences(client: Client, sim, landscape_image: Path) -> None:  # type: ignore[no-untyped-def]
    """A failed task is reported with its task id; nothing like a traceback reaches the caller."""
    sim.control.add_fault("submit", "task_failed", error="GPU fell over")
    with pytest.raises(AppError) as caught:
        client.predict(handle_file(str(landscape_image)), PROMPT, "1280*720", 5, api_name="/generate")
    message = str(caught.value)
    task_id = sim.control.tasks()[0]["id"]
    assert "GPU fell over" in message and task_id in message
    assert "Traceback" not in message


def test_the_api_page_shows_the_data_endpoints(server_app: gr.Blocks) -> None:
    """The public endpoints are the thirteen data functions; the page's own events stay private."""
    info = httpx.get(f"{server_app.local_url}gradio_api/info").json()
    assert list(info["named_endpoints"]) == [
        "/generate",
        "/finish",
        "/price",
        "/enhance_prompt",
        "/get_task",
        "/history",
        "/cancel",
        "/extend",
        "/export",
        "/batch_price",
        "/batch",
        "/get_batch",
        "/cancel_batch",
    ]
    assert not info["unnamed_endpoints"]
    endpoint = info["named_endpoints"]["/generate"]
    names = [p["parameter_name"] for p in endpoint["parameters"]]
    assert names == ["image", "prompt", "size", "duration", "model"]
    assert endpoint["parameters"][2]["type"]["enum"] == ["1280*720", "720*1280"]
    assert endpoint["parameters"][3]["type"]["enum"] == [5, 10]
    assert endpoint["parameters"][4]["type"]["enum"] == ["luma/ray-2-i2v", "luma/ray-2-flash-i2v"]
    assert len(endpoint["returns"]) == 1  # the video and its record, as one pair


def test_the_api_page_offers_each_fields_choices(server_app: gr.Blocks) -> None:
    """Every endpoint argument named after a request field offers its choices, with its default."""
    info = httpx.get(f"{server_app.local_url}gradio_api/info").json()
    seen = set()
    for name, endpoint in info["named_endpoints"].items():
        for field in OPTIONS:
            for parameter in (p for p in endpoint["parameters"] if p["parameter_name"] == field.name):
                seen.add((name, field.name))
                assert parameter["type"]["enum"] == list(field.values), (name, field.name)
                assert parameter["parameter_default"] == field.default, (name, field.name)
    assert {("/generate", "size"), ("/price", "duration"), ("/extend", "duration")} <= seen


def test_generate_is_not_limited_to_one_at_a_time(server_app: gr.Blocks) -> None:
    """The generate event runs many at once; the per-key slots queue what the account cannot."""
    generate = next(fn for fn in server_app.fns.values() if fn.api_name == "generate")
    assert generate.concurrency_limit == server_app.playground.settings.event_concurrency >= 64  # type: ignore[attr-defined]


def test_key_header_is_not_echoed(server_app: gr.Blocks, landscape_image: Path) -> None:
    """A key sent in the header appears in neither the config nor the API page after a run."""
    key = "sk-header-secret-77777"
    api = Client(server_app.local_url, headers={KEY_HEADER: key}, verbose=False)
    api.predict(handle_file(str(landscape_image)), PROMPT, "1280*720", 5, api_name="/generate")
    api.close()
    for path in ("config", "gradio_api/info"):
        assert key not in httpx.get(f"{server_app.local_url}{path}").text


def test_completion_callbacks_are_served(sim_server, outside_tmp: Path) -> None:  # type: ignore[no-untyped-def]
    """With a public address, the app serves WaveSpeed's completion callbacks beside the UI."""
    settings = Settings.from_env(
        {
            "WAVESPEED_BASE_URL": sim_server.base_url,
            "WAVESPEED_API_KEY": SERVER_KEY,
            "LUMA_PLAYGROUND_HOME": str(outside_tmp / "public-app"),
            "SPACE_ID": "someone/luma",
            "SPACE_HOST": "someone-luma.hf.space",
        }
    )
    playground = Playground.open(settings, start_simulator=False)
    assert settings.public_url == "https://someone-luma.hf.space" and settings.shared
    with launched(playground) as demo:
        probe = httpx.get(f"{demo.local_url}webhooks/wavespeed").json()
        assert probe["receiver"] == "luma_playground"
        refused = httpx.post(f"{demo.local_url}webhooks/wavespeed/not-a-token", content=b"{}")
        assert refused.status_code == 404 and refused.json()["received"] is False
        assert httpx.get(f"{demo.local_url}config").status_code == 200
