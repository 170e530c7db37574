"""Longer shots in headless Chromium: extend the finished video or a History card, play the shot and
each segment, export a GIF, open a shot by its link."""

from __future__ import annotations

from typing import Any

import gradio as gr
import pytest
from gradio_client import Client, handle_file

from .test_history import open_tab
from .test_playground import LANDSCAPE, TIMEOUT_MS, fill_form, open_playground, watch_phases

pytestmark = pytest.mark.browser


def test_extend_a_video_and_play_the_shot(page: Any, keyless_app: gr.Blocks) -> None:
    """After a video is made, Extend shows both prices, makes a 10 s shot that plays, and a GIF downloads."""
    open_playground(page, keyless_app)
    fill_form(page, LANDSCAPE.path, "a slow pan to the right")
    page.click("#lp-generate")
    watch_phases(page, "Done")
    page.locator("#lp-shot-price").get_by_text("Next segment").wait_for(timeout=TIMEOUT_MS)
    price = page.locator("#lp-shot-price").inner_text()
    assert "the shot so far: 1 segment, 5 s" in price and "11 more allowed" in price
    assert page.locator("#lp-shot-prompt textarea").input_value() == "a slow pan to the right"
    page.locator("#lp-shot-prompt textarea").fill("the camera pushes in")
    page.click("#lp-extend")
    page.wait_for_function(
        "() => { const v = document.querySelector('#lp-shot-video video');"
        " return v && v.readyState >= 2 && v.videoWidth === 1280 && Math.abs(v.duration - 10) < 0.1; }",
        timeout=60_000,
    )
    assert "The shot is ready." in page.locator("#lp-shot-status").inner_text()
    assert page.locator("#lp-shot-segments li").count() == 2
    page.evaluate(
        "() => { const v = document.querySelector('#lp-shot-video video'); v.muted = true; v.play(); }"
    )
    page.wait_for_function(
        "() => document.querySelector('#lp-shot-video video').currentTime > 0.5", timeout=TIMEOUT_MS
    )
    page.locator("#lp-shot-price").get_by_text("2 segments, 10 s").wait_for(timeout=TIMEOUT_MS)
    page.click("#lp-gif")
    link = page.locator("#lp-download a").first
    link.wait_for(timeout=60_000)
    assert ".gif" in (link.get_attribute("href") or "")


def _plays_for(page: Any, player: str, seconds: float) -> None:
    """Wait until `player` holds a video of about `seconds` that the browser can play."""
    page.wait_for_function(
        "([player, seconds]) => { const v = document.querySelector(`${player} video`);"
        " return v && v.readyState >= 2 && Math.abs(v.duration - seconds) < 0.1; }",
        arg=[player, seconds],
        timeout=60_000,
    )


def test_a_history_card_extends_and_each_segment_plays(page: Any, keyless_app: gr.Blocks) -> None:
    """History's Extend… extends a card; the shot is one card, each segment plays, its link opens it."""
    prompt = "Extended from History: a kite over the dunes"
    api = Client(keyless_app.local_url, verbose=False)
    api.predict(handle_file(str(LANDSCAPE.path)), prompt, "1280*720", 5, api_name="/generate")
    api.close()
    open_playground(page, keyless_app)
    open_tab(page, "History")
    cards = page.locator("#lp-history .lp-card", has=page.locator(".lp-card-prompt", has_text=prompt))
    cards.first.click()
    page.click("#lp-history-extend")
    page.locator("#lp-shot-price").get_by_text("the shot so far: 1 segment, 5 s").wait_for(timeout=TIMEOUT_MS)
    assert page.locator("#lp-shot-prompt textarea").input_value() == prompt
    page.locator("#lp-shot-prompt textarea").fill("the kite climbs")
    page.click("#lp-extend")
    _plays_for(page, "#lp-shot-video", 10)

    open_tab(page, "History")
    page.locator("#lp-history .lp-card-shot", has_text=prompt).wait_for(timeout=TIMEOUT_MS)
    assert cards.count() == 1 and "Shot of 2 segments" in cards.inner_text()
    assert page.locator("#lp-history .lp-card", has_text="the kite climbs").count() == 0
    shot = cards.get_attribute("data-ref")
    cards.click()
    _plays_for(page, "#lp-history-video", 10)
    page.locator("#lp-history-facts .lp-segment", has_text="the kite climbs").click()
    _plays_for(page, "#lp-history-video", 5)
    assert "Segment 2 of 2" in page.locator("#lp-history-video").inner_text()

    page.goto(f"{keyless_app.local_url}?shot={shot}")
    _plays_for(page, "#lp-shot-video", 10)
    assert f"This shot ({shot}): 2 segments, 10 s." in page.locator("#lp-shot-status").inner_text()
