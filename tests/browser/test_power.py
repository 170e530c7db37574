"""The Generate tab's power features in headless Chromium: cost, enhance, variants, share, crop."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import gradio as gr
import pytest
from PIL import Image

from luma_playground.simulator import SimulatorServer
from luma_playground.ui.examples import EXAMPLES

pytestmark = pytest.mark.browser

LANDSCAPE = EXAMPLES[0]
PORTRAIT = next(example for example in EXAMPLES if example.size == "720*1280")
TIMEOUT_MS = 30_000


def open_playground(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#lp-generate", timeout=TIMEOUT_MS)


def upload(page: Any, image: Path) -> None:
    page.locator("#lp-image input[type=file]").set_input_files(str(image))
    page.locator("#lp-image img").wait_for(timeout=TIMEOUT_MS)


def choose(page: Any, radio: str, label: str) -> None:
    page.locator(f"#{radio} label").filter(has_text=label).first.click()


def wait_text(page: Any, selector: str, text: str) -> None:
    page.wait_for_function(
        "([s, t]) => document.querySelector(s)?.innerText.includes(t)",
        arg=[selector, text],
        timeout=TIMEOUT_MS,
    )


def players(page: Any) -> Any:
    """Every video element of the page: where it loads from and how far it got."""
    return page.evaluate(
        """() => ({
        videos: [...document.querySelectorAll('video')].map((v) => ({
            id: v.closest('[id]')?.id, src: v.currentSrc || v.src, ready: v.readyState,
            network: v.networkState, error: v.error?.code, width: v.videoWidth, shown: v.offsetWidth,
            preload: v.preload})),
        loads: performance.getEntriesByType('resource').filter((e) => e.name.includes('.mp4')).map(
            (e) => ({name: e.name.slice(-60), start: Math.round(e.startTime), end: Math.round(e.responseEnd),
                     status: e.responseStatus})),
        })"""
    )


def routes(server: SimulatorServer) -> dict[str, int]:
    return dict(server.control.stats()["routes"])


def test_cost_follows_the_settings_and_the_key(
    page: Any, keyless_app: gr.Blocks, sim_server: SimulatorServer
) -> None:
    """The price is multiplied out as settings change, marked simulated; a short balance warns."""
    builtin = keyless_app.playground.simulator  # type: ignore[attr-defined]
    open_playground(page, keyless_app.local_url)
    wait_text(page, "#lp-summary", "USD")
    summary = page.locator("#lp-summary").inner_text()
    assert "0.50 USD" in summary and "balance" in summary and "SIMULATED" in summary.upper()
    before = routes(builtin).get("price", 0)
    choose(page, "lp-duration", "10 seconds")
    choose(page, "lp-count", "3")
    wait_text(page, "#lp-summary", "3.00 USD")
    assert "3 videos × 1.00 USD" in page.locator("#lp-summary").inner_text()
    assert routes(builtin).get("price", 0) - before <= 1  # cached per key and size

    key = "sk-browser-low-balance-01"
    sim_server.control.set_account(key, balance=0.4)
    page.locator("#lp-key input").fill(key)
    page.locator("#lp-remember input").check()  # the key is taken, the badge turns "Your key"
    wait_text(page, "#lp-summary", "does not cover this run")
    assert "Your balance (0.40 USD)" in page.locator("#lp-summary").inner_text()


def test_share_link_reopens_the_setup(page: Any, keyless_app: gr.Blocks) -> None:
    """Copy link gives prompt, size, duration, videos and style; opening it restores them."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_playground(page, keyless_app.local_url)
    key = "sk-never-in-a-link-0001"
    page.locator("#lp-key input").fill(key)
    # An uploaded file is never part of a link. A portrait one: the size it suggests when its upload
    # is read (at a moment of the page's choosing) is the size chosen below, whichever comes last.
    upload(page, PORTRAIT.path)
    prompt = "Leaves swirl & fall; the camera rises"
    page.locator("#lp-prompt textarea").fill(prompt)
    choose(page, "lp-size", "Portrait")
    choose(page, "lp-duration", "10 seconds")
    choose(page, "lp-count", "2")
    page.locator("#lp-style input").click()
    page.get_by_role("option", name="Anime").click()
    page.click("#lp-copy-link")
    page.wait_for_function(
        "() => document.querySelector('#lp-share-link textarea, #lp-share-link input')"
        "?.value.startsWith('http')",
        timeout=TIMEOUT_MS,
    )
    link = page.locator("#lp-share-link textarea, #lp-share-link input").first.input_value()
    assert page.evaluate("navigator.clipboard.readText()") == link
    query = {name: values[0] for name, values in parse_qs(urlsplit(link).query).items()}
    assert query == {"prompt": prompt, "size": "720*1280", "duration": "10", "videos": "2", "style": "anime"}
    assert key not in link

    fresh = page.context.new_page()
    open_playground(fresh, link)
    fresh.wait_for_function(
        "(p) => document.querySelector('#lp-prompt textarea')?.value === p", arg=prompt, timeout=TIMEOUT_MS
    )
    assert fresh.locator("#lp-size input[value='720*1280']").is_checked()
    assert fresh.locator("#lp-duration input[value='10']").is_checked()
    wait_text(fresh, "#lp-generate", "Generate 2 videos")  # one button, counting the videos
    assert fresh.locator("#lp-style input").input_value() == "Anime"


def test_crop_preview_respects_orientation(page: Any, keyless_app: gr.Blocks, tmp_path: Path) -> None:
    """A sideways camera photo previews upright, dimmed where the frame cuts, scaled for upload."""
    photo = tmp_path / "camera.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    Image.new("RGB", (4000, 3000), (240, 240, 240)).save(photo, "JPEG", exif=exif)
    open_playground(page, keyless_app.local_url)
    upload(page, photo)
    wait_text(page, "#lp-crop-note", "left and right")  # portrait was preselected
    note = page.locator("#lp-crop-note").inner_text()
    assert "Sent at 1920×2560" in note and "upright" in note
    size = page.wait_for_function(
        "() => { const i = document.querySelector('#lp-crop-image img');"
        " return i && i.complete && i.naturalWidth > 0 && [i.naturalWidth, i.naturalHeight]; }",
        timeout=TIMEOUT_MS,
    ).json_value()
    assert size[1] > size[0]
    choose(page, "lp-size", "Landscape")
    wait_text(page, "#lp-crop-note", "top and bottom")


def test_enhance_then_two_videos_side_by_side(
    page: Any, keyless_app: gr.Blocks, tmp_path: Path, screenshot_path: Path
) -> None:
    """A suggestion is offered, edited and used; two videos then run at once on one upload."""
    builtin = keyless_app.playground.simulator  # type: ignore[attr-defined]
    before = routes(builtin)
    picture = tmp_path / "lake-4x3.jpg"  # 4:3, so the 16:9 frame visibly cuts it
    with Image.open(LANDSCAPE.path) as lake:
        lake.crop((160, 0, 1120, 720)).save(picture, quality=92)
    open_playground(page, keyless_app.local_url)
    upload(page, picture)
    wait_text(page, "#lp-crop-note", "25% of the picture is cut off at the top and bottom")
    mine = "a slow push-in over the lake"
    page.locator("#lp-prompt textarea").fill(mine)
    page.click("#lp-enhance")
    suggestion = page.locator("#lp-suggestion-text textarea")
    suggestion.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function(
        "() => document.querySelector('#lp-suggestion-text textarea')?.value.includes('reference image')",
        timeout=TIMEOUT_MS,
    )
    assert page.locator("#lp-prompt textarea").input_value() == mine  # not replaced by itself
    edited = suggestion.input_value() + " Birds cross the frame."
    suggestion.fill(edited)
    page.click("#lp-suggestion-use")
    page.wait_for_function(
        "(p) => document.querySelector('#lp-prompt textarea').value === p", arg=edited, timeout=TIMEOUT_MS
    )
    page.locator("#lp-suggestion").wait_for(state="hidden", timeout=TIMEOUT_MS)

    choose(page, "lp-count", "2")
    page.click("#lp-generate")
    wait_text(page, "#lp-status", "2 videos ready")
    for slot in (1, 2):
        assert "Done" in page.locator(f"#lp-variant-{slot}-status").inner_text()
        # The video's size is known once its metadata is (two players loading at once on a busy
        # machine may take a while to decode a first frame): generous, never a timed assertion.
        try:
            page.wait_for_function(
                "(s) => { const v = document.querySelector(`#lp-variant-${s}-video video`);"
                " return v && v.readyState >= 1 && v.videoWidth === 1280; }",
                arg=slot,
                timeout=2 * TIMEOUT_MS,
            )
        except Exception as error:
            raise AssertionError(f"video {slot} has no metadata: {players(page)}") from error
    assert not page.locator("#lp-variant-3").is_visible() and not page.locator("#lp-video").is_visible()
    # Generate comes back with the run's follow-up event, a moment after the last frame.
    page.wait_for_function("() => !document.querySelector('#lp-generate').disabled", timeout=TIMEOUT_MS)
    after = routes(builtin)
    assert after["upload"] - before.get("upload", 0) == 1  # Enhance's upload served both
    assert after["submit"] - before.get("submit", 0) == 2

    page.locator("#lp-prompt textarea").fill(mine)
    page.click("#lp-enhance")  # a second suggestion, left open for the screenshot
    page.locator("#lp-suggestion").wait_for(timeout=TIMEOUT_MS)
    for slot in (1, 2):
        page.evaluate(f"() => document.querySelector('#lp-variant-{slot}-video video').pause()")
    page.screenshot(path=str(screenshot_path), full_page=True)
    assert screenshot_path.stat().st_size > 10_000


def test_cancel_one_video_then_the_rest(page: Any, owner_app: gr.Blocks, sim: SimulatorServer) -> None:
    """Each video has its own Cancel; Cancel all stops what is left and frees the button."""
    sim.control.add_fault("submit", "slow", count=2)  # both tasks run until they are cancelled
    open_playground(page, owner_app.local_url)
    upload(page, LANDSCAPE.path)
    page.locator("#lp-prompt textarea").fill("Two takes, one cancelled")
    choose(page, "lp-count", "2")
    wait_text(page, "#lp-generate", "Generate 2 videos")
    page.click("#lp-generate")
    for slot in (1, 2):
        page.locator(f"#lp-variant-{slot}-status .lp-task").wait_for(timeout=TIMEOUT_MS)
    page.click("#lp-variant-2-cancel")
    # The Cancel's card and the run's own ending card both say so; a tick the run sent just
    # before the cancel may reach the page between them, so the card is waited for, not read once.
    wait_text(page, "#lp-variant-2-status", "WaveSpeed stopped task")  # the Cancelled card's note
    assert "Cancelled" not in page.locator("#lp-variant-1-status").inner_text()
    assert page.locator("#lp-cancel").inner_text() == "Cancel all"
    page.click("#lp-cancel")
    wait_text(page, "#lp-variant-1-status", "Cancelled")
    wait_text(page, "#lp-status", "Cancelled")
    # Generate comes back with the run's follow-up event, a moment after the last frame.
    page.wait_for_function("() => !document.querySelector('#lp-generate').disabled", timeout=TIMEOUT_MS)
    assert not page.locator("#lp-cancel").is_visible()
    statuses = [task["status"] for task in sim.control.tasks()[-2:]]
    assert statuses == ["cancelled", "cancelled"]
