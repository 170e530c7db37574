"""The playground's components, placed on the page; the wiring lives in `_demo`."""

from __future__ import annotations

from dataclasses import dataclass, field

import gradio as gr

from .._models import Size
from ..examples import EXAMPLES
from ._compare import CompareLayout, build_compare_tab
from ._components import choice_radio, image_input
from ._format import IDLE_STATUS, MODEL_NAME, summary_html
from ._history import HistoryLayout, build_history_tab
from ._power import PowerLayout

__all__ = ["DURATION_CHOICES", "SIZE_CHOICES", "Layout", "build_layout"]

SIZE_CHOICES = [
    (f"Landscape · {Size.LANDSCAPE.width}×{Size.LANDSCAPE.height}", Size.LANDSCAPE.value),
    (f"Portrait · {Size.PORTRAIT.width}×{Size.PORTRAIT.height}", Size.PORTRAIT.value),
]
DURATION_CHOICES = [("5 seconds", 5), ("10 seconds", 10)]
#: The browser's storage slot for a key the user asked to remember.
KEY_STORAGE = "luma-playground-key"


@dataclass
class Layout:
    """Every component an event reads or writes."""

    badge: gr.HTML
    image_tabs: gr.Tabs
    image: gr.Image
    image_url: gr.Textbox
    use_url: gr.Button
    prompt: gr.Textbox
    size: gr.Radio
    duration: gr.Radio
    summary: gr.HTML
    generate: gr.Button
    cancel: gr.Button
    key: gr.Textbox
    remember: gr.Checkbox
    stored_key: gr.BrowserState
    status: gr.HTML
    video: gr.Video
    details: gr.HTML
    tabs: gr.Tabs
    history: HistoryLayout
    compare: CompareLayout
    power: PowerLayout = field(default_factory=PowerLayout)


def _header(badge: str) -> gr.HTML:
    with gr.Row(elem_id="lp-header"):
        gr.HTML(
            f'<div><h1><span class="lp-model">{MODEL_NAME}</span> · image to video</h1>'
            "<p>Animate a still picture with Luma's Ray 2 model, served by WaveSpeedAI.</p></div>",
            elem_id="lp-title",
        )
        return gr.HTML(badge, elem_id="lp-badge")


def _inputs(power: PowerLayout) -> dict[str, gr.components.Component]:
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
    power.place_crop_preview()
    prompt = gr.Textbox(
        label="Prompt",
        lines=3,
        max_lines=8,
        elem_id="lp-prompt",
        placeholder="Describe the motion: what moves, how the camera travels, the mood…",
    )
    power.place_prompt_tools()
    with gr.Row(equal_height=True):
        size = choice_radio(SIZE_CHOICES, value=Size.LANDSCAPE.value, label="Size", elem_id="lp-size")
        duration = choice_radio(DURATION_CHOICES, value=5, label="Duration", elem_id="lp-duration")
        power.place_count()
    summary = gr.HTML(summary_html(Size.LANDSCAPE.value, 5), elem_id="lp-summary")
    with gr.Row(elem_id="lp-actions"):
        generate = gr.Button("Generate video", variant="primary", size="lg", scale=3, elem_id="lp-generate")
        cancel = gr.Button("Cancel", variant="stop", size="lg", scale=1, visible=False, elem_id="lp-cancel")
        power.place_actions()
    power.place_share()
    return dict(
        image_tabs=image_tabs,
        image=image,
        image_url=image_url,
        use_url=use_url,
        prompt=prompt,
        size=size,
        duration=duration,
        summary=summary,
        generate=generate,
        cancel=cancel,
    )


def _key_panel(open_: bool) -> dict[str, gr.components.Component]:
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
    return dict(key=key, remember=remember, stored_key=stored_key)


def _result(power: PowerLayout) -> dict[str, gr.components.Component]:
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
    power.place_grid()
    details = gr.HTML("", label="Details", elem_id="lp-details")
    return dict(status=status, video=video, details=details)


def _examples(inputs: dict[str, gr.components.Component]) -> None:
    gr.Examples(
        examples=[[str(e.path), e.prompt, e.size, e.duration] for e in EXAMPLES],
        inputs=[inputs["image"], inputs["prompt"], inputs["size"], inputs["duration"]],
        label="Try an example",
        cache_examples=False,
        examples_per_page=6,
    )


def build_layout(badge: str, *, key_panel_open: bool) -> Layout:
    """Place the page: header, then inputs on the left and the result on the right."""
    header_badge = _header(badge)
    power = PowerLayout()
    # History, prompt variants and comparisons get tabs of their own next to "Generate".
    with gr.Tabs(elem_id="lp-tabs") as tabs, gr.Tab("Generate", id="generate"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=5, min_width=340):
                inputs = _inputs(power)
                keys = _key_panel(key_panel_open)
            with gr.Column(scale=6, min_width=340):
                result = _result(power)
        _examples(inputs)
    with tabs:
        pages = dict(tabs=tabs, history=build_history_tab(), compare=build_compare_tab())
    gr.HTML(
        '<div id="lp-footer">Videos are kept for 7 days by WaveSpeed and saved locally by '
        "this playground.</div>"
    )
    return Layout(badge=header_badge, **pages, **inputs, **keys, **result, power=power)  # type: ignore[arg-type]
