"""Uploads (one-step and two-step) and the public media files."""

from __future__ import annotations

import io
from collections.abc import Callable

import httpx
import pytest
from PIL import Image

from luma_playground.simulator import SimulatorConfig, SimulatorServer

MakeClient = Callable[..., httpx.Client]

UPLOAD = "/api/v3/media/upload/binary"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"])
def test_binary_upload_accepts_documented_formats(api: httpx.Client, fmt: str) -> None:
    """Each documented image format is accepted and served back byte for byte without a key."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(buffer, fmt)
    data = buffer.getvalue()
    response = api.post(UPLOAD, files={"file": (f"pic.{fmt.lower()}", data, "application/octet-stream")})
    assert response.status_code == 200
    described = response.json()["data"]
    assert described["type"] == "image" and described["size"] == len(data)
    assert described["filename"] == f"pic.{fmt.lower()}"
    served = httpx.get(described["download_url"], trust_env=False)
    assert served.status_code == 200 and served.content == data
    assert served.headers["content-type"].startswith("image/")


def test_binary_upload_refuses_non_images(api: httpx.Client) -> None:
    """A file that is not an image, or no file part at all, is a 400."""
    response = api.post(UPLOAD, files={"file": ("notes.png", b"definitely not a png", "image/png")})
    assert response.status_code == 400 and "image" in response.json()["message"]
    response = api.post(UPLOAD, files={"other": ("a.png", b"x", "image/png")})
    assert response.status_code == 400 and "file" in response.json()["message"]


def test_binary_upload_needs_a_key(make_client: MakeClient, photo_png: bytes) -> None:
    """Uploading without a key is a 401."""
    response = make_client(None).post(UPLOAD, files={"file": ("p.png", photo_png, "image/png")})
    assert response.status_code == 401


def test_upload_size_limit(photo_png: bytes) -> None:
    """A file over max_upload_bytes is refused with 400."""
    with SimulatorServer(SimulatorConfig(max_upload_bytes=1024)) as server:
        response = httpx.post(
            server.base_url + UPLOAD,
            headers={"Authorization": "Bearer k"},
            files={"file": ("p.png", photo_png, "image/png")},
            trust_env=False,
        )
    assert response.status_code == 400 and "limit" in response.json()["message"]


def test_two_step_upload_like_the_sdk(api: httpx.Client, photo_png: bytes) -> None:
    """POST /media/uploads hands out a PUT URL; after the PUT the download URL serves the image."""
    body = {"filename": "cat.png", "size": len(photo_png), "content_type": "image/png"}
    data = api.post("/api/v3/media/uploads", json=body).json()["data"]
    upload = data["upload"]
    assert upload["method"] == "PUT" and upload["url"] and data["download_url"]
    assert httpx.get(data["download_url"], trust_env=False).status_code == 404
    put = httpx.put(upload["url"], content=photo_png, headers=upload["headers"], trust_env=False)
    assert 200 <= put.status_code < 300
    assert httpx.get(data["download_url"], trust_env=False).content == photo_png
    again = httpx.put(upload["url"], content=photo_png, trust_env=False)
    assert again.status_code == 403


def test_two_step_upload_refuses_non_images(api: httpx.Client) -> None:
    """The two-step flow checks the name up front and the bytes on PUT."""
    refused = api.post("/api/v3/media/uploads", json={"filename": "notes.txt", "size": 10})
    assert refused.status_code == 400
    data = api.post("/api/v3/media/uploads", json={"filename": "a.png", "size": 4}).json()["data"]
    assert httpx.put(data["upload"]["url"], content=b"nope", trust_env=False).status_code == 400


def test_unknown_media_is_a_404(simulator: SimulatorServer) -> None:
    """Unknown uploads and outputs of unknown or unfinished tasks are 404."""
    assert httpx.get(f"{simulator.base_url}/media/uploads/{'0' * 32}.png", trust_env=False).status_code == 404
    assert httpx.get(f"{simulator.base_url}/media/outputs/{'0' * 32}.mp4", trust_env=False).status_code == 404
