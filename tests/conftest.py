"""Fixtures shared by the whole suite: an isolated home, sample images, the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx._transports.default as httpx_transports
import pytest
from PIL import Image, ImageDraw

from luma_playground import ApiKey, GenerationRequest, WaveSpeedClient
from luma_playground._wavespeed.retry import RetryPolicy
from luma_playground.simulator import SimulatorConfig, SimulatorServer
from luma_playground.simulator._config import RENDERS_ENV

T = TypeVar("T")

#: Folders whose tests launch the app, a CLI process or a browser: the whole suite runs them, the
#: quick lane (`pytest -m "not slow"`) leaves them out.
SLOW_FOLDERS = frozenset({"browser", "cli", "reliability", "shots", "ui"})


def _one_tls_context_per_process() -> None:
    """gradio_client opens a new httpx client, and so builds a TLS context (the CA store loaded,
    tens of ms of CPU), for every request it makes; the suite's requests all go to 127.0.0.1 over
    plain HTTP. Contexts made with httpx's defaults are made once per process and shared.
    """
    make = httpx_transports.create_ssl_context

    @functools.cache
    def default(verify: bool, trust_env: bool) -> ssl.SSLContext:
        return make(verify=verify, trust_env=trust_env)

    def create(
        verify: ssl.SSLContext | str | bool = True, cert: Any = None, trust_env: bool = True
    ) -> ssl.SSLContext:
        if isinstance(verify, bool) and cert is None:
            return default(verify, trust_env)
        return make(verify=verify, cert=cert, trust_env=trust_env)

    httpx_transports.create_ssl_context = create  # type: ignore[assignment]


_one_tls_context_per_process()


def free_port() -> int:
    """A port the system has just handed out on 127.0.0.1 as free.

    Apps launched in the test processes take one each: Gradio's own choice (the first free one
    from 7860) races between workers that check 7860 at the same moment.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cache_bytecode() -> None:
    """Each Python process the suite starts (workers, forkers, exports, the app script) compiles
    the playground's modules again (a tenth of a second of CPU) unless their bytecode is kept, so
    it is kept (in the `__pycache__` folders Git ignores) whatever `PYTHONDONTWRITEBYTECODE` says,
    for this process and those it starts.
    """
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False


_cache_bytecode()


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: two workers more than the cores. Much of the suite waits (for an app, a browser,
    a command, a simulated task), and on two cores four workers keep both busy where two left a
    third of the machine idle.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores + 2


#: The order folders are handed to workers in (`--no-loadscope-reorder` keeps it: xdist would hand
#: out the files with the most tests first, which leaves the browser tests, few to a file and
#: long, for the end): the long files first, so that the quick ones are what is left at the end to
#: even out when each worker finishes. "tests" is the top folder's own files.
FOLDER_ORDER = ("browser", "reliability", "cli", "shots", "ui", "tests")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of a slow folder `slow` (and a browser test `browser`); order the folders."""
    rank = {folder: place for place, folder in enumerate(FOLDER_ORDER)}
    items.sort(key=lambda item: rank.get(item.path.parent.name, len(FOLDER_ORDER)))
    for item in items:
        folder = item.path.parent.name
        if folder in SLOW_FOLDERS:
            item.add_marker(pytest.mark.slow)
        if folder == "browser":
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session", autouse=True)
def gradio_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One upload folder for every app this process serves; no analytics calls leave the machine.

    Set once for the whole process: Gradio reads the folder anew on every upload and every check,
    so an app launched under one value that later checks against another refuses its own uploads
    ("not uploaded by a user"). The process's temporary folder is pytest's too: gradio_client
    leaves a folder behind in it for every file it downloads.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("tmp")))
        patch.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio")))
        patch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        patch.setenv(RENDERS_ENV, str(shared_renders(tmp_path_factory)))
        yield


def shared_renders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of rendered clips for every simulator of the run, in every worker and process:
    a clip (picture, size, length, camera move) is rendered once, whichever test asks first.
    """
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "renders"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Every test gets its own journal and outputs folder, and no key from the environment."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("LUMA_PLAYGROUND_HOME", str(home))
    # The simulator answers as fast as the suite asks: no pacing to Bronze's 5 submits a minute.
    monkeypatch.setenv("LUMA_PLAYGROUND_SUBMITS_PER_MINUTE", "100000")
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


def wait_for(probe: Callable[[], T | None], timeout: float = 20.0, what: str = "") -> T:
    """The first truthy value `probe` returns, polled until `timeout` seconds have passed."""
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or probe}")


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


def submit_elsewhere(base_url: str, key: str, image: Path, prompt: str, size: str = "720*1280") -> str:
    """Create a task the way another client would (the WaveSpeed site, a script, the CLI on
    another machine): straight on the API with `key`, in no journal of ours; its id."""

    async def submit() -> str:
        async with WaveSpeedClient(base_url, ApiKey(key), retry=RetryPolicy(scale=0)) as client:
            image_url = await client.upload_image(image)
            request = GenerationRequest.create(image, prompt, size=size, duration=5)
            return (await client.submit(request, image_url)).id

    return asyncio.run(submit())


def simulator_fixture(
    *,
    time_scale: float = 0.01,
    seed: int = 7,
    keep_outputs: bool = False,
    scope: Literal["session", "package", "module"] = "session",
) -> Any:
    """A fixture serving one simulator on 127.0.0.1 (ephemeral port) for `scope`.

    `time_scale` shrinks every wait (0.01: a 5 s clip takes about half a second); `keep_outputs`
    renders into a folder of pytest's temporary tree instead of the simulator's own.
    """

    @pytest.fixture(scope=scope)
    def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorServer]:
        output_dir = tmp_path_factory.mktemp("simulator") if keep_outputs else None
        with SimulatorServer(SimulatorConfig(time_scale=time_scale, seed=seed, output_dir=output_dir)) as sim:
            yield sim

    return server


@contextlib.contextmanager
def reset_around(server: SimulatorServer) -> Iterator[SimulatorServer]:
    """Yield `server` with no tasks, counters, faults or accounts, and leave none behind."""
    server.control.reset()
    yield server
    # Session fixtures set up before the next test's reset must not meet this test's faults.
    server.control.reset()


#: One simulator for the session, with waits shrunk a hundredfold.
sim_server = simulator_fixture()


@pytest.fixture
def sim(sim_server: SimulatorServer) -> Iterator[SimulatorServer]:
    """The session's simulator, with no tasks, counters, faults or accounts left over."""
    with reset_around(sim_server) as fresh:
        yield fresh


@contextlib.contextmanager
def loopback_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[ThreadingHTTPServer]:
    """An HTTP server on a free port of 127.0.0.1, serving from a thread until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


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
        from luma_playground._pictures.urls import fetch_image, is_public_address

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

    with loopback_server(Serve) as server:
        host.port = server.server_address[1]
        yield host
