"""Headless Chromium (Debian's) driving launched playgrounds on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from luma_playground import ApiKey, Playground, Settings
from luma_playground._wavespeed.retry import RetryPolicy
from luma_playground.simulator import SimulatorServer
from luma_playground.ui import build_demo, launch_options

from ..conftest import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SERVER_KEY = "sk-owner-browser-key-01"


@pytest.fixture
def screenshot_path(tmp_path: Path) -> Path:
    """Where a test saves its screenshot: the README's picture when asked to refresh it.

    `LUMA_PLAYGROUND_SCREENSHOT=1 pytest tests/browser` refreshes `docs/screenshot.png`; a plain
    run leaves the working tree alone.
    """
    if os.environ.get("LUMA_PLAYGROUND_SCREENSHOT"):
        return Path(__file__).resolve().parents[2] / "docs" / "screenshot.png"
    return tmp_path / "screenshot.png"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per module; skipped (outside CI) when it is not installed.

    Module scope: Playwright's sync API holds an event loop on the main thread while it runs,
    which async tests collected after these ones could not start theirs beside.
    """
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Chromium is required in CI but {CHROMIUM} is missing")
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (its own storage) and page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


@contextlib.contextmanager
def launched(playground: Playground) -> Iterator[gr.Blocks]:
    demo = build_demo(playground)
    options = launch_options(playground, server_port=free_port())
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **options)
    try:
        yield demo
    finally:
        demo.close()
        with contextlib.suppress(Exception):
            asyncio.run(playground.aclose())


@pytest.fixture(scope="session")
def keyless_app(sim_server: SimulatorServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[gr.Blocks]:
    """No server key: the built-in simulator for visitors without a key, `sim_server` for keys."""
    settings = Settings(base_url=sim_server.base_url, data_dir=tmp_path_factory.mktemp("browser-keyless"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LUMA_PLAYGROUND_SIMULATOR_TIME_SCALE", "0.01")
        playground = Playground.open(settings, retry=RetryPolicy(scale=0))
    with launched(playground) as demo:
        yield demo


@pytest.fixture(scope="session")
def owner_app(sim_server: SimulatorServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[gr.Blocks]:
    """The owner's key on the session's simulator (a test holds a task running with the `slow` fault)."""
    settings = Settings(
        base_url=sim_server.base_url,
        api_key=ApiKey(SERVER_KEY),
        data_dir=tmp_path_factory.mktemp("browser-owner"),
    )
    playground = Playground.open(settings, retry=RetryPolicy(scale=0), start_simulator=False)
    with launched(playground) as demo:
        yield demo
