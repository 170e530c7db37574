"""Pictures sent inline as base64 data URIs, over HTTP and through the official wavespeed SDK."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import av
import httpx
import pytest
import wavespeed

from luma_playground.simulator import SimulatorConfig, SimulatorControl, SimulatorServer

from .conftest import photo_bytes

Submit = Callable[..., dict[str, Any]]
WaitUntilEnded = Callable[..., dict[str, Any]]

SUBMIT = "/api/v3/luma/ray-2-i2v"


def data_uri(data: bytes, mime: str = "image/png") -> str:
    """`data` as a base64 data URI of type `mime`."""
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def assert_mp4(video: bytes, width: int, height: int) -> None:
    """`video` is an MP4 whose video stream has this frame size."""
    assert video[4:8] == b"ftyp"
    with av.open(io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (width, height)


def test_data_uri_picture_renders_a_video(
    api: httpx.Client,
    photo_png: bytes,
    control: SimulatorControl,
    submit: Submit,
    wait_until_ended: WaitUntilEnded,
) -> None:
    """A data:image/png;base64 picture is rendered like an uploaded one and echoed back as sent."""
    image = data_uri(photo_png)
    task = submit(api, image, size="720*1280")
    data = wait_until_ended(api, task["id"])
    assert data["status"] == "completed", data
    assert_mp4(httpx.get(data["outputs"][0], trust_env=False).content, 720, 1280)
    assert control.task(task["id"])["input"]["image"] == image


def test_data_uri_with_parameters_and_jpeg(
    api: httpx.Client, submit: Submit, wait_until_ended: WaitUntilEnded
) -> None:
    """A JPEG data URI with a media type parameter is accepted, whatever the case of its scheme."""
    image = data_uri(photo_bytes((320, 240), "JPEG"), "image/jpeg;name=cat.jpg").replace("data:", "DATA:")
    data = wait_until_ended(api, submit(api, image)["id"])
    assert data["status"] == "completed", data


@pytest.mark.parametrize(
    ("image", "says"),
    [
        ("data:image/png,iVBORw0KGgo=", "data:image/<type>;base64,<data>"),
        ("data:text/plain;base64,aGVsbG8=", "data:image/<type>;base64,<data>"),
        ("data:;base64,aGVsbG8=", "data:image/<type>;base64,<data>"),
        ("data:image/png;base64,not*base64!", "not valid base64"),
        ("data:image/png;base64,", "empty"),
        (data_uri(b"plain text, not a picture"), "must be an image"),
        ("ftp://example.com/cat.png", "http(s) URL or a data:image/"),
    ],
)
def test_bad_data_uri_is_a_400_and_costs_nothing(api: httpx.Client, image: str, says: str) -> None:
    """A malformed data URI, or one holding no picture, is the usual 400 naming the field, free."""
    response = api.post(SUBMIT, json={"image": image, "prompt": "a harbour"})
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"code", "message"} and body["code"] == 400
    assert body["message"].startswith("image") and says in body["message"]
    assert api.get("/api/v3/balance").json()["data"]["balance"] == 100.0


def test_data_uri_limit_is_on_the_decoded_bytes(photo_png: bytes) -> None:
    """The size limit applies to the decoded picture: at the limit it passes, one byte over is a 400."""
    small = photo_bytes((64, 48))
    with (
        SimulatorServer(SimulatorConfig(time_scale=0.01, max_upload_bytes=len(small))) as server,
        httpx.Client(
            base_url=server.base_url, headers={"Authorization": "Bearer k"}, trust_env=False
        ) as client,
    ):
        # The base64 text is a third longer than the limit; only the decoded size counts.
        accepted = client.post(SUBMIT, json={"image": data_uri(small), "prompt": "a harbour"})
        refused = client.post(SUBMIT, json={"image": data_uri(small + b"\0"), "prompt": "a harbour"})
    assert accepted.status_code == 200, accepted.text
    assert refused.status_code == 400
    assert refused.json()["message"] == f"image data URI exceeds the limit of {len(small)} bytes"


def test_same_inline_picture_is_stored_once(
    api: httpx.Client, photo_png: bytes, submit: Submit, wait_until_ended: WaitUntilEnded
) -> None:
    """Sending the same data URI twice renders one clip, shared by both tasks."""
    image = data_uri(photo_bytes((200, 150)))
    first = wait_until_ended(api, submit(api, image)["id"])
    second = wait_until_ended(api, submit(api, image)["id"])
    assert first["status"] == second["status"] == "completed"
    first_video = httpx.get(first["outputs"][0], trust_env=False).content
    assert first_video == httpx.get(second["outputs"][0], trust_env=False).content


def test_official_sdk_sends_a_data_uri(simulator: SimulatorServer, key: str, photo_png: bytes) -> None:
    """The wavespeed SDK, pointed at the simulator, runs Ray 2 on a data URI picture and gets an MP4."""
    client = wavespeed.Client(api_key=key, base_url=simulator.base_url)
    output = client.run(
        "luma/ray-2-i2v",
        {"image": data_uri(photo_png), "prompt": "the camera pans left", "duration": 5},
        poll_interval=0.05,
        timeout=60,
    )
    (url,) = output["outputs"]
    assert url.startswith(f"{simulator.base_url}/media/outputs/") and url.endswith(".mp4")
    assert_mp4(httpx.get(url, trust_env=False).content, 1280, 720)
