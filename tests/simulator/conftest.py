"""A simulator server shared by the session, reset before every test, and helpers to drive it."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw

from luma_playground.simulator import SimulatorControl, SimulatorServer

from ..conftest import loopback_server, reset_around, simulator_fixture

TIME_SCALE = 0.01
KEY = "sk-sim-test-primary"
OTHER_KEY = "sk-sim-test-other"

Submit = Callable[..., dict[str, Any]]
WaitUntilEnded = Callable[..., dict[str, Any]]
MakeClient = Callable[..., httpx.Client]


def photo_bytes(size: tuple[int, int] = (960, 640), fmt: str = "PNG") -> bytes:
    """A small photo-like picture (gradient, shapes, noise), encoded in `fmt`."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=-1)
    pixels += np.random.default_rng(7).normal(0, 8, pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.ellipse((width // 4, height // 4, width // 2, height // 2), fill=(240, 200, 40))
    draw.rectangle((width // 2, height // 2, 3 * width // 4, 7 * height // 8), fill=(30, 60, 160))
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def _client(
    base_url: str, key: str | None, headers: dict[str, str] | None = None, **options: Any
) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else dict(headers or {})
    options.setdefault("timeout", 30)
    return httpx.Client(base_url=base_url, headers=headers, trust_env=False, **options)


#: One simulator for these tests, a hundred times faster than real time, rendering into pytest's tree.
simulator = simulator_fixture(time_scale=TIME_SCALE, seed=0, keep_outputs=True)


@pytest.fixture(scope="session")
def control(simulator: SimulatorServer) -> SimulatorControl:
    """The simulator's control client."""
    return simulator.control


@pytest.fixture(autouse=True)
def reset_simulator(simulator: SimulatorServer) -> Iterator[None]:
    """Every test starts with no tasks, counters, faults or accounts, and leaves none behind."""
    with reset_around(simulator):
        yield


@pytest.fixture
def key() -> str:
    """The API key of the `api` client."""
    return KEY


@pytest.fixture
def other_key() -> str:
    """The API key of the `other_api` client."""
    return OTHER_KEY


@pytest.fixture
def make_client(simulator: SimulatorServer) -> Iterator[MakeClient]:
    """Make extra clients (a key or none, custom timeouts); all are closed after the test."""
    clients: list[httpx.Client] = []

    def make(key: str | None = KEY, **options: Any) -> httpx.Client:
        clients.append(_client(simulator.base_url, key, **options))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def api(make_client: MakeClient) -> httpx.Client:
    """A client holding the primary test key."""
    return make_client(KEY)


@pytest.fixture
def other_api(make_client: MakeClient) -> httpx.Client:
    """A client holding a second key."""
    return make_client(OTHER_KEY)


@pytest.fixture(scope="session")
def photo_png() -> bytes:
    """A PNG test photo."""
    return photo_bytes()


@pytest.fixture(scope="session")
def image_url(simulator: SimulatorServer, photo_png: bytes) -> str:
    """The simulator URL of the uploaded test photo (uploads survive resets, so once is enough)."""
    with _client(simulator.base_url, KEY) as client:
        response = client.post(
            "/api/v3/media/upload/binary", files={"file": ("photo.png", photo_png, "image/png")}
        )
    response.raise_for_status()
    url: str = response.json()["data"]["download_url"]
    return url


@pytest.fixture
def submit() -> Submit:
    """Submit a Ray 2 task with `client` and return its prediction data."""

    def submit(client: httpx.Client, image: str, **fields: Any) -> dict[str, Any]:
        body = {"image": image, "prompt": "a quiet harbour at dawn", **fields}
        response = client.post("/api/v3/luma/ray-2-i2v", json=body)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    return submit


@pytest.fixture
def wait_until_ended() -> WaitUntilEnded:
    """Poll a task until its status is neither created nor processing; return its data."""

    def wait(client: httpx.Client, task_id: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data: dict[str, Any] = client.get(f"/api/v3/predictions/{task_id}/result").json()["data"]
            if data["status"] not in ("created", "processing"):
                return data
            time.sleep(0.02)
        raise AssertionError(f"task {task_id} did not end within {timeout} s")

    return wait


@dataclass
class WebhookReceiver:
    """A tiny HTTP server on 127.0.0.1 that records what it is sent."""

    url: str
    calls: list[tuple[dict[str, str], bytes, float]] = field(default_factory=list)

    def wait(self, count: int = 1, timeout: float = 20.0) -> None:
        """Wait until `count` calls have arrived."""
        deadline = time.monotonic() + timeout
        while len(self.calls) < count:
            assert time.monotonic() < deadline, f"{len(self.calls)} webhook calls, expected {count}"
            time.sleep(0.01)

    def payload(self, index: int = 0) -> dict[str, Any]:
        """The JSON body of a call."""
        body: dict[str, Any] = json.loads(self.calls[index][1])
        return body


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """Receives webhook calls on an ephemeral loopback port and answers 200."""
    receiver = WebhookReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            receiver.calls.append((headers, body, time.time()))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet."""

    with loopback_server(Handler) as server:
        receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        yield receiver
