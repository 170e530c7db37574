"""Fixtures for the UI: launched playgrounds on 127.0.0.1, clients, and handlers without a server."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import pytest
from gradio_client import Client, handle_file

from luma_playground import ApiKey, Playground, Settings
from luma_playground._wavespeed.retry import RetryPolicy
from luma_playground.simulator import SimulatorServer
from luma_playground.ui import build_demo, launch_options
from luma_playground.ui._generate import Handlers
from luma_playground.ui._gradio_compat import upload_folder
from luma_playground.ui._session import SessionStore

from ..conftest import free_port, make_image

SERVER_KEY = "sk-owner-server-key-0001"


@pytest.fixture(scope="session")
def landscape_image(gradio_environment: None) -> Path:
    """A landscape picture where Gradio keeps a visitor's uploads: the page's handlers take only those."""
    folder = upload_folder() / "visitor-upload"
    folder.mkdir(parents=True, exist_ok=True)
    return make_image(folder / "landscape.png")


@pytest.fixture
def image_factory(tmp_path: Path) -> Any:
    """Makes a test picture among a visitor's uploads: `image_factory(name, size=(w, h), fmt="PNG")`."""
    folder = upload_folder() / f"visitor-{tmp_path.name}"
    folder.mkdir(parents=True, exist_ok=True)

    def factory(name: str, size: tuple[int, int] = (640, 360), fmt: str = "PNG") -> Path:
        return make_image(folder / name, size, fmt)

    return factory


@pytest.fixture(scope="session")
def portrait_image(gradio_environment: None) -> Path:
    """A portrait picture among a visitor's uploads (see `landscape_image`)."""
    folder = upload_folder() / "visitor-upload"
    folder.mkdir(parents=True, exist_ok=True)
    return make_image(folder / "portrait.png", (360, 640))


@pytest.fixture(scope="session")
def outside_tmp() -> Iterator[Path]:
    """A data folder outside the temp folder and the working folder, as on a real machine."""
    base = Path("/var/tmp") if Path("/var/tmp").is_dir() else Path.home()
    folder = Path(tempfile.mkdtemp(prefix="luma-ui-", dir=base))
    assert not folder.is_relative_to(tempfile.gettempdir())
    assert not folder.is_relative_to(Path.cwd())
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def close_playground(playground: Playground) -> None:
    """Release a playground whose clients ran on the (now stopped) Gradio server's loop."""
    with contextlib.suppress(Exception):
        asyncio.run(playground.aclose())


@contextlib.contextmanager
def launched(playground: Playground, **launch: object) -> Iterator[gr.Blocks]:
    """The playground's UI served on 127.0.0.1 until the block ends."""
    demo = build_demo(playground)
    options = launch_options(playground, **{"server_port": free_port(), **launch})
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **options)
    try:
        yield demo
    finally:
        demo.close()
        close_playground(playground)


@pytest.fixture(scope="session")
def server_app(sim_server: SimulatorServer, outside_tmp: Path) -> Iterator[gr.Blocks]:
    """The UI with the owner's key, pointed at the simulator as if it were WaveSpeed."""
    settings = Settings.from_env(
        {
            "WAVESPEED_BASE_URL": sim_server.base_url,
            "WAVESPEED_API_KEY": SERVER_KEY,
            "LUMA_PLAYGROUND_HOME": str(outside_tmp / "server-app"),
            # Every UI test shares this app and its key: pacing to Bronze's 5 submits a minute
            # would hold a test back by however many submits the tests before it made.
            "LUMA_PLAYGROUND_SUBMITS_PER_MINUTE": "100000",
        }
    )
    playground = Playground.open(settings, retry=RetryPolicy(scale=0), start_simulator=False)
    with launched(playground) as demo:
        yield demo


@pytest.fixture(scope="session")
def client(server_app: gr.Blocks) -> Iterator[Client]:
    """A gradio_client for the server-key app."""
    api = Client(server_app.local_url, verbose=False)
    yield api
    api.close()


@pytest.fixture
async def playground(sim: SimulatorServer, tmp_path: Path) -> AsyncIterator[Playground]:
    """A playground on the simulator with the owner's key, for calling handlers directly."""
    settings = Settings(base_url=sim.base_url, api_key=ApiKey(SERVER_KEY), data_dir=tmp_path)
    opened = Playground.open(settings, retry=RetryPolicy(attempts=2, scale=0), start_simulator=False)
    yield opened
    await opened.aclose()


@pytest.fixture
def handlers(playground: Playground) -> Handlers:
    return Handlers(playground, SessionStore(playground), tick=0.05)


def fake_request(
    session_hash: str = "tab-1", username: str | None = None, headers: dict[str, str] | None = None
) -> gr.Request:
    """What a handler reads from Gradio's request: the session, the user and the headers."""
    return SimpleNamespace(
        session_hash=session_hash,
        username=username,  # type: ignore[return-value]
        headers=headers or {},
    )


def private_event(client: Client, api_name: str) -> int:
    """A private event's index, made callable by `client` (gradio_client refuses them)."""
    for index, dependency in enumerate(client.config["dependencies"]):
        if dependency.get("api_name") == api_name:
            fn_index = int(dependency.get("id", index))
            client.endpoints[fn_index].is_valid = True
            return fn_index
    raise AssertionError(f"no event named {api_name}")


def call_private(client: Client, api_name: str, *args: Any) -> Any:
    """Call a private event the way the page does, by its index."""
    return client.predict(*args, fn_index=private_event(client, api_name))


def generate(client: Client, image: Path, prompt: str, size: str = "1280*720", duration: int = 5) -> str:
    """Make a video through `/generate`; the task id."""
    _, record = client.predict(handle_file(str(image)), prompt, size, duration, api_name="/generate")
    return str(record["task_id"])
