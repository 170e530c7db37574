"""The playground in headless Chromium: generate, watch the status, play the video, cancel."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import gradio as gr
import httpx
import pytest

from luma_playground.simulator import SimulatorServer, key_fingerprint
from luma_playground.ui.examples import EXAMPLES

pytestmark = pytest.mark.browser

PORTRAIT = next(e for e in EXAMPLES if e.size == "720*1280")
LANDSCAPE = EXAMPLES[0]
TIMEOUT_MS = 30_000


def open_playground(page: Any, demo: gr.Blocks) -> None:
    page.goto(demo.local_url)
    page.wait_for_selector("#lp-generate", timeout=TIMEOUT_MS)


def fill_form(page: Any, image: Path, prompt: str) -> None:
    page.locator("#lp-image input[type=file]").set_input_files(str(image))
    page.locator("#lp-image img").wait_for(timeout=TIMEOUT_MS)
    page.locator("#lp-prompt textarea").fill(prompt)


def phase(page: Any) -> str:
    return str(page.locator("#lp-status .lp-phase").inner_text())


def watch_phases(page: Any, until: str, timeout: float = 30) -> list[str]:
    """The distinct status titles seen until `until` shows up."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = phase(page)
        if not seen or seen[-1] != current:
            seen.append(current)
        if current == until:
            return seen
        time.sleep(0.05)
    pytest.fail(f"status never reached {until!r}; saw {seen}")


def browser_storage(page: Any) -> str:
    """Everything the page keeps in the browser's storage (run history included)."""
    return str(page.evaluate("() => JSON.stringify([{...localStorage}, {...sessionStorage}])"))


def test_generate_and_play(page: Any, keyless_app: gr.Blocks, screenshot_path: Path) -> None:
    """Upload, prompt, Generate: the status moves, the video plays, the details show."""
    open_playground(page, keyless_app)
    assert "Offline simulator" in page.locator("#lp-badge").inner_text()
    fill_form(page, PORTRAIT.path, "")
    page.wait_for_function(
        "() => document.querySelector(\"#lp-size input[value='720*1280']\")?.checked", timeout=TIMEOUT_MS
    )  # preselected from the image's orientation
    page.click("#lp-generate")
    watch_phases(page, "Check the input")
    assert "Write a prompt" in page.locator("#lp-status").inner_text()
    page.wait_for_function("() => !document.querySelector('#lp-generate').disabled", timeout=TIMEOUT_MS)
    page.locator("#lp-prompt textarea").fill(PORTRAIT.prompt)
    page.click("#lp-generate")
    phases = watch_phases(page, "Done")
    assert len(phases) >= 3, phases
    page.wait_for_function(
        "() => { const v = document.querySelector('#lp-video video');"
        " return v && v.readyState >= 2 && v.videoHeight === 1280; }",
        timeout=TIMEOUT_MS,
    )
    details = page.locator("#lp-details").inner_text()
    assert "luma/ray-2-i2v" in details and "720×1280 portrait" in details
    # Generate comes back with the run's follow-up event, a moment after the last frame.
    page.wait_for_function("() => !document.querySelector('#lp-generate').disabled", timeout=TIMEOUT_MS)
    # Paused on a frame a second in, so that the picture shows the clip rather than a blank first frame.
    page.evaluate(
        "() => new Promise(done => { const v = document.querySelector('#lp-video video'); v.pause();"
        " v.addEventListener('seeked', done, {once: true}); v.currentTime = 1; })"
    )
    # Notices close themselves after a while: close what is still there, whatever has gone meanwhile.
    page.evaluate("() => document.querySelectorAll('.toast-close').forEach(button => button.click())")
    page.locator(".toast-body").first.wait_for(state="detached", timeout=TIMEOUT_MS)
    page.screenshot(path=str(screenshot_path), full_page=True)
    assert screenshot_path.stat().st_size > 10_000


def test_typed_key_is_used_and_never_recorded(
    page: Any, keyless_app: gr.Blocks, sim_server: SimulatorServer
) -> None:
    """A typed key pays for the task and appears nowhere: storage, run history, config, API page."""
    key = "sk-typed-in-the-browser-4242"
    open_playground(page, keyless_app)
    page.locator("#lp-key input").fill(key)
    page.locator("#lp-remember input").check()
    page.wait_for_function(
        "() => document.querySelector('#lp-badge')?.innerText.includes('Your key')", timeout=TIMEOUT_MS
    )
    fill_form(page, LANDSCAPE.path, "A typed key, then a slow pan")
    page.click("#lp-generate")
    watch_phases(page, "Done")
    task_id = page.locator("#lp-details code").first.inner_text()
    assert sim_server.control.task(task_id)["key_fingerprint"] == key_fingerprint(key)

    # The page's events are private: Gradio's run history records none of them, key or not.
    assert "A typed key, then a slow pan" not in browser_storage(page)
    assert key not in browser_storage(page)
    for path in ("config", "gradio_api/info", "gradio_api/runs"):
        assert key not in httpx.get(f"{keyless_app.local_url}{path}").text, path

    page.reload()
    page.wait_for_function(
        "() => document.querySelector('#lp-badge')?.innerText.includes('Your key')", timeout=TIMEOUT_MS
    )
    assert page.locator("#lp-key input").input_value() == key  # remembered in this browser


def test_cancel_during_a_run(page: Any, owner_app: gr.Blocks, sim: SimulatorServer) -> None:
    """Cancel stops a running task at once and says what became of it."""
    open_playground(page, owner_app)
    fill_form(page, LANDSCAPE.path, "Something to cancel")
    sim.control.add_fault("submit", "slow")  # the task runs until it is cancelled
    page.click("#lp-generate")
    page.locator("#lp-status .lp-task").wait_for(timeout=TIMEOUT_MS)
    page.click("#lp-cancel")
    watch_phases(page, "Cancelled")
    time.sleep(1)  # the card stays on what became of the task: no late tick overwrites it
    assert phase(page) == "Cancelled"
    note = page.locator("#lp-status .lp-detail").inner_text()
    assert "WaveSpeed stopped task" in note and "not a refund" in note
    task = sim.control.tasks()[-1]
    assert task["status"] == "cancelled" and task["id"] in note
    # Generate comes back with the run's follow-up event, a moment after the last frame.
    page.wait_for_function("() => !document.querySelector('#lp-generate').disabled", timeout=TIMEOUT_MS)
    assert not page.locator("#lp-cancel").is_visible()


@pytest.mark.parametrize("width", [390, 768])
def test_the_page_fits_a_phone_and_a_tablet(browser: Any, keyless_app: gr.Blocks, width: int) -> None:
    """Nothing on the page (the examples table included) makes it wider than the screen."""
    context = browser.new_context(viewport={"width": width, "height": 844})
    page = context.new_page()
    try:
        open_playground(page, keyless_app)
        page.locator("#lp-tabs table").first.wait_for(timeout=TIMEOUT_MS)
        page_width, screen = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert page_width <= screen, f"the page is {page_width} px wide on a {screen} px screen"
        generate = page.locator("#lp-generate").bounding_box()
        assert generate is not None and generate["x"] + generate["width"] <= width
    finally:
        context.close()
