"""Fixtures shared by the whole suite: an isolated home, sample images, the simulator."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Every test gets its own journal and outputs folder, and no key from the environment."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("LUMA_PLAYGROUND_HOME", str(home))
    for name in (
        "WAVESPEED_API_KEY",
        "WAVESPEED_BASE_URL",
        "LUMA_PLAYGROUND_AUTH",
        "LUMA_PLAYGROUND_PUBLIC_URL",
        "SPACE_HOST",
        "GRADIO_SHARE",
        "GRADIO_SERVER_NAME",
    ):
        monkeypatch.delenv(name, raising=False)
    yield home


def make_image(path: Path, size: tuple[int, int] = (640, 360), fmt: str = "PNG") -> Path:
    """A small picture with some structure (gradient, shapes), saved at `path`."""
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for x in range(0, width, 8):
        draw.rectangle([x, 0, x + 8, height], fill=(x * 255 // width, 90, 200 - x * 150 // width))
    draw.ellipse([width // 4, height // 4, 3 * width // 4, 3 * height // 4], fill=(250, 200, 40))
    image.save(path, fmt)
    return path


@pytest.fixture
def image_factory(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Makes a test picture: `image_factory(name, size=(w, h), fmt="PNG") -> Path`."""

    def factory(name: str, size: tuple[int, int] = (640, 360), fmt: str = "PNG") -> Path:
        return make_image(tmp_path / name, size, fmt)

    return factory


@pytest.fixture(scope="session")
def landscape_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_image(tmp_path_factory.mktemp("images") / "landscape.png")


@pytest.fixture(scope="session")
def portrait_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_image(tmp_path_factory.mktemp("images") / "portrait.png", (360, 640))


@pytest.fixture(scope="session")
def sim_server() -> Iterator[object]:
    """One simulator for the session, on 127.0.0.1, with waits shrunk a hundredfold."""
    from luma_playground.simulator import SimulatorConfig, SimulatorServer

    server = SimulatorServer(SimulatorConfig(time_scale=0.01, seed=7)).start()
    yield server
    server.stop()


@pytest.fixture
def sim(sim_server):  # type: ignore[no-untyped-def]
    """The session's simulator, with no tasks, counters, faults or accounts left over."""
    sim_server.control.reset()
    yield sim_server
    sim_server.control.reset()


@dataclass
class PictureHost:
    """A web server on 127.0.0.1 serving the sample pictures, and a fetch allowed to reach it.

    `url(name)` names it `pictures.test`, a host only `fetch` resolves (to the server's loopback
    address, which `fetch`'s allow-list treats as public); the product's own checks stay as they are.
    """

    port: int
    files: dict[str, bytes]
    hits: list[str] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"http://pictures.test:{self.port}/{name}"

    async def fetch(self, url: str, dest_dir: Path, **options: Any) -> Path:
        from luma_playground._urls import fetch_image, is_public_address

        async def resolve(host: str, port: int) -> list[str]:
            if host != "pictures.test":
                raise OSError("name not known")
            return ["127.0.0.1"]

        def ours(address: Any) -> bool:
            return str(address) == "127.0.0.1" or is_public_address(address)

        return await fetch_image(url, dest_dir, resolver=resolve, is_allowed=ours, **options)


@pytest.fixture
def picture_host(landscape_image: Path, portrait_image: Path) -> Iterator[PictureHost]:
    """Serves `landscape.png` and `portrait.png` on 127.0.0.1, counting each request's path."""
    files = {"landscape.png": landscape_image.read_bytes(), "portrait.png": portrait_image.read_bytes()}
    host = PictureHost(0, files)

    class Serve(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host.hits.append(self.path)
            body = host.files.get(self.path.lstrip("/"))
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Serve)
    host.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield host
    server.shutdown()
    server.server_close()
