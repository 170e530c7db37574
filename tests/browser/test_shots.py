"""Longer shots in headless Chromium: extend the finished video, play the shot, export a GIF."""

from __future__ import annotations

from typing import Any

import gradio as gr
import pytest

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
