"""Word when work is done, in Chromium: the title, the notification, permission asked on a click only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gradio as gr
import pytest

from luma_playground.ui.examples import EXAMPLES

pytestmark = pytest.mark.browser
TIMEOUT_MS = 30_000

#: Records every notification made and every permission request, then lets the real ones through.
RECORD_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  window.__notes = [];
  window.__asked = 0;
  function Recorded(title, options) {
    window.__notes.push({ title, body: options && options.body });
    try { return new Real(title, options); } catch (error) { return {}; }
  }
  Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
  Recorded.requestPermission = (...args) => { window.__asked += 1; return Real.requestPermission(...args); };
  window.Notification = Recorded;
})();
"""

HIDE = """(hidden) => {
  Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
  const state = hidden ? "hidden" : "visible";
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
  document.dispatchEvent(new Event("visibilitychange"));
}"""


@pytest.fixture
def noted_page(browser: Any) -> Iterator[Any]:
    """A page whose context granted notifications, with `window.Notification` recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, permissions=["notifications"])
    context.add_init_script(RECORD_NOTIFICATIONS)
    yield context.new_page()
    context.close()


def _open(page: Any, demo: gr.Blocks) -> str:
    page.goto(demo.local_url)
    page.wait_for_selector("#lp-generate", timeout=TIMEOUT_MS)
    page.wait_for_function("() => Boolean(window.lpNotify)", timeout=TIMEOUT_MS)
    return str(page.title())


def test_a_video_done_in_a_hidden_tab_says_so(noted_page: Any, keyless_app: gr.Blocks) -> None:
    """Hidden tab, video done: the title changes and a notification is made; shown again, it is restored."""
    page = noted_page
    title = _open(page, keyless_app)
    assert page.evaluate("() => window.__asked") == 0  # never on load
    page.click("#lp-notify-ask")
    page.wait_for_function(
        "() => document.querySelector('#lp-notify-ask').dataset.permission", timeout=TIMEOUT_MS
    )
    assert page.evaluate("() => window.__asked") == 1
    assert page.locator("#lp-notify-ask").inner_text() == "Notifications on"
    page.locator("#lp-notify-sound input").check()
    example = EXAMPLES[0]
    page.locator("#lp-image input[type=file]").set_input_files(str(example.path))
    page.locator("#lp-image img").wait_for(timeout=TIMEOUT_MS)
    page.locator("#lp-prompt textarea").fill(example.prompt)
    page.evaluate(HIDE, True)
    page.click("#lp-generate")
    page.wait_for_function("() => document.title.startsWith('✓ Video ready')", timeout=TIMEOUT_MS)
    assert page.title() == f"✓ Video ready — {title}"
    assert page.evaluate("() => window.__notes") == [{"title": "✓ Video ready", "body": "Done"}]
    page.evaluate(HIDE, False)
    assert page.title() == title


def test_a_batch_done_in_a_hidden_tab_says_so(noted_page: Any, keyless_app: gr.Blocks) -> None:
    """Two pictures through the Batch tab while hidden: the results, the zip, the title, the notification."""
    page = noted_page
    _open(page, keyless_app)
    page.click("#lp-notify-ask")
    page.wait_for_function(
        "() => document.querySelector('#lp-notify-ask').dataset.permission", timeout=TIMEOUT_MS
    )
    page.get_by_role("tab", name="Batch").click()
    pictures = [str(e.path) for e in EXAMPLES if e.size == "1280*720"][:2]
    page.locator("#lp-batch-pictures input[type=file]").set_input_files(pictures)
    page.locator("#lp-batch-prompt textarea").fill("the light moves slowly")
    page.click("#lp-batch-preview")
    page.locator("#lp-batch-confirm").wait_for(timeout=TIMEOUT_MS)
    assert (
        "2 videos, 2 x 5 s at 0.50 USD = 1.00 USD (simulated)" in page.locator("#lp-batch-price").inner_text()
    )
    page.evaluate(HIDE, True)
    page.click("#lp-batch-confirm")
    page.wait_for_function("() => document.title.startsWith('✓ Batch done')", timeout=TIMEOUT_MS)
    assert "Batch done: 2 videos" in page.locator("#lp-batch-status").inner_text()
    assert page.evaluate("() => window.__notes.map((note) => note.title)") == ["✓ Batch done"]
    page.locator("#lp-batch-download").wait_for(timeout=TIMEOUT_MS)
    assert page.locator("#lp-batch-gallery video, #lp-batch-gallery img").count() >= 1
