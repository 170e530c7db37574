"""The page, placed: the form, the key panel and the result, with each feature's parts in place.

Each feature places its own components (its `place`) and connects them (its `wire`); this module
only decides where on the page each goes. `_demo.build_demo` calls every `wire`.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from .._request import DURATION, MODEL, PROMPT, SIZE
from . import _batch_tab, _compare, _crop, _enhance, _history_tab, _notify, _share, _shots_panel
from ._components import field_radio, image_input
from ._format import IDLE_STATUS, MODEL_NAME, summary_html
from ._generate_tab import RunParts, VideoSlot, place_actions, place_count, place_grid
from ._parts import Form, Keys, Result
from .examples import EXAMPLES

__all__ = ["Page", "build_layout"]

#: The browser's storage slot for a key the user asked to remember.
KEY_STORAGE = "luma-playground-key"


@dataclass(frozen=True)
class Page:
    """Every component an event reads or writes, by the feature that owns it."""

    form: Form
    keys: Keys
    result: Result
    run: RunParts
    tabs: gr.Tabs
    crop: _crop.CropParts
    enhance: _enhance.EnhanceParts
    share: _share.ShareParts
    history: _history_tab.HistoryParts
    compare: _compare.CompareParts
    shots: _shots_panel.ShotParts
    batch: _batch_tab.BatchParts
    notify: _notify.NotifyParts


@dataclass(frozen=True)
class _Left:
    form: Form
    crop: _crop.CropParts
    enhance: _enhance.EnhanceParts
    share: _share.ShareParts
    count: gr.Radio
    generate: gr.Button
    cancel: gr.Button


def _header(badge: str, login: bool) -> gr.HTML:
    with gr.Row(elem_id="lp-header"):
        gr.HTML(
            f'<div><h1><span class="lp-model">{MODEL_NAME}</span> · image to video</h1>'
            "<p>Animate a still picture with Luma's Ray 2 model, served by WaveSpeedAI.</p></div>",
            elem_id="lp-title",
        )
        if login:  # Hugging Face sign-in: limits and history follow the account
            gr.LoginButton(elem_id="lp-login", size="sm")
        return gr.HTML(badge, elem_id="lp-badge")


def _inputs() -> _Left:
    with gr.Tabs(elem_id="lp-image-tabs") as image_tabs:
        with gr.Tab("Image", id="image-tab"):
            image = image_input(
                label="Image", sources=["upload", "clipboard", "webcam"], height=300, elem_id="lp-image"
            )
        with gr.Tab("From a URL", id="url-tab"), gr.Row(equal_height=True):
            image_url = gr.Textbox(
                label="Image URL",
                placeholder="https://example.com/picture.jpg",
                scale=4,
                elem_id="lp-image-url",
            )
            use_url = gr.Button("Use this image", scale=1)
    crop = _crop.place()
    prompt = gr.Textbox(
        label=PROMPT.label,
        lines=3,
        max_lines=8,
        elem_id="lp-prompt",
        placeholder="Describe the motion: what moves, how the camera travels, the mood…",
    )
    enhance = _enhance.place()
    model = field_radio(MODEL, elem_id="lp-model", info=MODEL.help)
    with gr.Row(equal_height=True):
        size = field_radio(SIZE, elem_id="lp-size")
        duration = field_radio(DURATION, elem_id="lp-duration")
        count = place_count()
    summary = gr.HTML(summary_html(SIZE.default, DURATION.default), elem_id="lp-summary")
    with gr.Row(elem_id="lp-actions"):
        generate, cancel = place_actions()
    share = _share.place()
    form = Form(image_tabs, image, image_url, use_url, prompt, size, duration, model, summary)
    return _Left(form, crop, enhance, share, count, generate, cancel)


def _key_panel(badge: gr.HTML, open_: bool) -> Keys:
    with gr.Accordion("Your WaveSpeed API key", open=open_, elem_id="lp-key-panel"):
        key = gr.Textbox(
            label="API key",
            type="password",
            placeholder="Paste a key from wavespeed.ai",
            elem_id="lp-key",
            info="Used for this browser tab only; never saved on the server.",
        )
        remember = gr.Checkbox(label="Remember it in this browser", value=False, elem_id="lp-remember")
    stored_key = gr.BrowserState(None, storage_key=KEY_STORAGE)
    return Keys(badge, key, remember, stored_key)


def _result() -> tuple[Result, gr.Row, list[VideoSlot]]:
    status = gr.HTML(IDLE_STATUS, label="Status", elem_id="lp-status")
    video = gr.Video(
        label="Video",
        autoplay=True,
        loop=True,
        interactive=False,
        buttons=["download"],
        height=420,
        elem_id="lp-video",
    )
    finish = gr.Button("Finish in Ray 2", variant="primary", visible=False, elem_id="lp-finish")
    grid, slots = place_grid()
    details = gr.HTML("", label="Details", elem_id="lp-details")
    return Result(status, video, details, finish), grid, slots


def _examples(form: Form) -> None:
    gr.Examples(
        examples=[[str(e.path), e.prompt, e.size, e.duration] for e in EXAMPLES],
        inputs=[form.image, form.prompt, form.size, form.duration],
        label="Try an example",
        cache_examples=False,
        examples_per_page=6,
    )


def build_layout(badge: str, *, key_panel_open: bool, login: bool = False) -> Page:
    """Place the page: header (with a sign-in button when `login`), then inputs and the result."""
    header_badge = _header(badge, login)
    # History and comparisons get tabs of their own next to "Generate".
    with gr.Tabs(elem_id="lp-tabs") as tabs, gr.Tab("Generate", id="generate"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=5, min_width=340):
                left = _inputs()
                keys = _key_panel(header_badge, key_panel_open)
            with gr.Column(scale=6, min_width=340):
                result, grid, slots = _result()
                shots = _shots_panel.place()
        _examples(left.form)
    with tabs:
        history = _history_tab.place()
        compare = _compare.place()
        batch = _batch_tab.place()
    notify = _notify.place()
    gr.HTML(
        '<div id="lp-footer">Videos are kept for 7 days by WaveSpeed and saved locally by '
        "this playground.</div>"
    )
    return Page(
        form=left.form,
        keys=keys,
        result=result,
        run=RunParts(left.count, left.generate, left.cancel, grid, tuple(slots)),
        tabs=tabs,
        crop=left.crop,
        enhance=left.enhance,
        share=left.share,
        history=history,
        compare=compare,
        shots=shots,
        batch=batch,
        notify=notify,
    )
