"""History and Compare in headless Chromium: a generation shows up, is reused, plays in step."""

from __future__ import annotations

from typing import Any

import gradio as gr
import pytest
from gradio_client import Client, handle_file

from luma_playground.ui.examples import EXAMPLES

from .test_playground import TIMEOUT_MS, fill_form, open_playground, watch_phases
from .test_power import wait_text

pytestmark = pytest.mark.browser

LANDSCAPE = EXAMPLES[0]
PLAYERS = "#lp-compare-a video, #lp-compare-b video"


def open_tab(page: Any, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def players(page: Any) -> list[dict[str, Any]]:
    """Both compare players' time and state."""
    return list(
        page.evaluate(
            f"() => [...document.querySelectorAll('{PLAYERS}')]"
            ".map(v => ({time: v.currentTime, paused: v.paused}))"
        )
    )


def test_history_shows_a_generation_and_reuses_it(page: Any, keyless_app: gr.Blocks) -> None:
    """After a generation, History shows it with its video; "use again" fills the Generate tab."""
    prompt = "History keeps this one: lanterns in the dusk"
    open_playground(page, keyless_app)
    landscape, portrait = (
        page.locator(f"#lp-size input[value='{size}']") for size in ("1280*720", "720*1280")
    )
    # Portrait first, so that the landscape picture's suggestion is seen to arrive (it comes a
    # moment after the upload, and would undo a choice made before it).
    portrait.check()
    fill_form(page, LANDSCAPE.path, prompt)
    page.wait_for_function(
        "() => document.querySelector(\"#lp-size input[value='1280*720']\")?.checked", timeout=TIMEOUT_MS
    )  # suggested by the picture
    portrait.check()  # a portrait video of a landscape picture: the size is the user's
    page.click("#lp-generate")
    watch_phases(page, "Done")
    page.locator("#lp-prompt textarea").fill("")
    landscape.check()

    open_tab(page, "History")
    card = page.locator("#lp-history .lp-card").first
    card.locator(".lp-card-prompt", has_text=prompt).wait_for(timeout=TIMEOUT_MS)
    assert "Done" in card.inner_text() and "720×1280" in card.inner_text()
    page.wait_for_function(
        "() => document.querySelector('#lp-history .lp-card img')?.naturalWidth > 0", timeout=TIMEOUT_MS
    )  # the poster frame
    card.click()
    page.wait_for_function(
        "() => { const v = document.querySelector('#lp-history-video video');"
        " return v && v.readyState >= 2 && v.videoHeight === 1280; }",
        timeout=TIMEOUT_MS,
    )
    assert prompt in page.locator("#lp-history-facts").inner_text()

    page.click("#lp-reuse")
    page.wait_for_function(
        "(prompt) => document.querySelector('#lp-prompt textarea')?.value === prompt",
        arg=prompt,
        timeout=TIMEOUT_MS,
    )
    assert page.locator("#lp-generate").is_visible()  # back on the Generate tab
    # The crop preview runs on every change of the picture and of the size: once it shows the
    # restored picture in the portrait frame, the events the restore set off have all run.
    wait_text(page, "#lp-crop-note", "9:16 portrait frame")
    assert portrait.is_checked()
    assert page.locator("#lp-image img").is_visible()


def test_compare_plays_two_videos_in_step(page: Any, keyless_app: gr.Blocks) -> None:
    """Playing one compare player plays both at the same time; seeking and pausing follow."""
    api = Client(keyless_app.local_url, verbose=False)
    for prompt in ("Compare me: the left one", "Compare me: the right one"):
        api.predict(handle_file(str(LANDSCAPE.path)), prompt, "1280*720", 5, api_name="/generate")
    api.close()
    open_playground(page, keyless_app)
    open_tab(page, "Compare")
    page.wait_for_function(
        f"() => {{ const v = [...document.querySelectorAll('{PLAYERS}')];"
        " return v.length === 2 && v.every(x => x.readyState >= 2)"
        " && v[0].src !== v[1].src; }",
        timeout=TIMEOUT_MS,
    )

    page.evaluate("() => document.querySelector('#lp-compare-a video').play()")
    page.wait_for_function(
        f"() => [...document.querySelectorAll('{PLAYERS}')].every(v => v.currentTime > 0.8)",
        timeout=TIMEOUT_MS,
    )
    left, right = players(page)
    assert not left["paused"] and not right["paused"]
    assert abs(left["time"] - right["time"]) < 0.3, (left, right)

    page.evaluate("() => document.querySelector('#lp-compare-b video').pause()")
    page.wait_for_function(
        f"() => [...document.querySelectorAll('{PLAYERS}')].every(v => v.paused)", timeout=TIMEOUT_MS
    )
    page.evaluate("() => { document.querySelector('#lp-compare-a video').currentTime = 3.5; }")
    page.wait_for_function(
        f"() => [...document.querySelectorAll('{PLAYERS}')].every(v => Math.abs(v.currentTime - 3.5) < 0.2)",
        timeout=TIMEOUT_MS,
    )
    assert all(player["paused"] for player in players(page))
