"""Draft in Ray 2 Flash, finish in Ray 2, in headless Chromium: two drafts, one final, the pair shown."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from PIL import Image

from luma_playground._config import RAY_2, RAY_2_FLASH

from .test_playground import TIMEOUT_MS, fill_form, open_playground
from .test_power import choose, wait_text

pytestmark = pytest.mark.browser

FLASH, RAY = RAY_2_FLASH.id, RAY_2.id
#: A final takes a draft's whole run again: generous, never a timed assertion.
FINAL_TIMEOUT_MS = 90_000


def counts(simulator: Any) -> tuple[int, int, int]:
    """What the simulator has seen so far: uploads, Flash submits and Ray 2 submits."""
    stats = simulator.control.stats()
    return stats["routes"].get("upload", 0), stats["models"].get(FLASH, 0), stats["models"].get(RAY, 0)


def card_texts(page: Any) -> list[str]:
    """Every History card's words, in the grid's order."""
    return list(
        page.evaluate("() => [...document.querySelectorAll('#lp-history .lp-card')].map(c => c.innerText)")
    )


def test_two_flash_drafts_one_finished_in_ray_2_shown_as_a_pair(
    page: Any, keyless_app: gr.Blocks, tmp_path: Path
) -> None:
    """Two Flash drafts, one finished in History: shown as a pair and in Compare; 1 upload, 2 + 1 submits."""
    builtin = keyless_app.playground.simulator  # type: ignore[attr-defined]
    picture = tmp_path / "draft.png"  # a picture of its own: never one this app has uploaded before
    Image.new("RGB", (1280, 720), tuple(secrets.token_bytes(3))).save(picture)
    prompt = f"Drafts first, then the final {secrets.token_hex(3)}"
    open_playground(page, keyless_app)
    fill_form(page, picture, prompt)
    choose(page, "lp-model", "Ray 2 Flash")
    choose(page, "lp-count", "2")
    wait_text(page, "#lp-generate", "Generate 2 videos")
    before = counts(builtin)

    page.click("#lp-generate")
    for slot in (1, 2):
        wait_text(page, f"#lp-variant-{slot}-status", "Done")
    # Each finished draft's card offers its final, priced; they show once the run is over.
    for slot in (1, 2):
        wait_text(page, f"#lp-variant-{slot}-finish", "Finish in Ray 2 ·")

    page.get_by_role("tab", name="History").click()
    drafts = page.locator("#lp-history .lp-card", has_text=prompt)
    page.wait_for_function(
        "(p) => [...document.querySelectorAll('#lp-history .lp-card')]"
        ".filter(c => c.innerText.includes(p) && c.innerText.includes('Done')).length === 2",
        arg=prompt,
        timeout=TIMEOUT_MS,
    )
    drafts.nth(1).click()  # the older draft: its final must come to sit beside it
    finish = page.locator("#lp-history-finish")
    finish.wait_for(state="visible", timeout=TIMEOUT_MS)
    assert "Finish in Ray 2" in finish.inner_text() and "USD" in finish.inner_text()
    finish.click()

    # The final's card (done, with its poster), then its draft's card naming it.
    page.wait_for_function(
        "(p) => [...document.querySelectorAll('#lp-history .lp-card')].some(c =>"
        " c.innerText.includes(p) && c.innerText.includes('Ray 2 final of draft')"
        " && c.dataset.state === 'completed' && c.querySelector('img'))",
        arg=prompt,
        timeout=FINAL_TIMEOUT_MS,
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('#lp-history .lp-card')]"
        ".some(c => c.innerText.includes('finished in Ray 2 as'))",
        timeout=TIMEOUT_MS,
    )
    texts = card_texts(page)
    at = next(i for i, text in enumerate(texts) if prompt in text and "Ray 2 final of draft" in text)
    assert prompt in texts[at + 1] and "Flash draft, finished in Ray 2 as" in texts[at + 1], texts

    page.locator("#lp-history .lp-card").nth(at).click()
    compare = page.locator("#lp-history-compare")
    # The final's facts (a row names its draft) say the pick has reached the server, not the draft's.
    page.wait_for_function(
        "() => !document.querySelector('#lp-history-compare').disabled"
        " && [...document.querySelectorAll('#lp-history-facts th')].some(th => th.innerText === 'Draft')"
        " && document.querySelector('#lp-history-video video')?.readyState >= 2",
        timeout=TIMEOUT_MS,
    )
    compare.click()
    page.wait_for_function(
        "() => { const v = [...document.querySelectorAll('#lp-compare-a video, #lp-compare-b video')];"
        " return v.length === 2 && v.every(x => x.readyState >= 2) && v[0].src !== v[1].src; }",
        timeout=TIMEOUT_MS,
    )
    left = page.locator("#lp-compare-a-pick input").input_value()
    right = page.locator("#lp-compare-b-pick input").input_value()
    assert left.startswith("Ray 2 final · ") and right.startswith("Flash draft · "), (left, right)

    uploads, flash, ray = (after - first for after, first in zip(counts(builtin), before, strict=True))
    assert (uploads, flash, ray) == (1, 2, 1)
