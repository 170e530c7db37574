"""Prompt enhancement: WaveSpeed's prompt optimizer in video mode, offered as a suggestion.

The suggestion never replaces the user's prompt by itself: it appears beside it, editable,
to be used or dismissed. The optimizer sees the picture too (see `_suggestions`, which also
holds a shared deployment's rules for the owner's key).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

import gradio as gr

from .._errors import LumaPlaygroundError
from .._features.suggestions import Suggestion, suggest_prompt
from .._pictures.sources import Picture
from .._playground import Playground
from ._components import RAW, with_image_path
from ._generate import ui_error
from ._gradio_compat import sent_picture
from ._parts import QUIET
from ._session import SessionStore, Visit

__all__ = ["STYLE_CHOICES", "EnhanceParts", "PromptEnhancer", "Suggestion", "place", "wire"]

#: The optimizer's styles, as its route names them.
STYLE_CHOICES = [
    ("Default", "default"),
    ("Artistic", "artistic"),
    ("Photographic", "photographic"),
    ("Technical", "technical"),
    ("Anime", "anime"),
    ("Realistic", "realistic"),
]
ENHANCE_LABEL = "Enhance prompt"


@dataclass(frozen=True)
class EnhanceParts:
    """The prompt's tools and the suggestion panel under them."""

    style: gr.Dropdown
    enhance: gr.Button
    panel: gr.Column
    suggestion: gr.Textbox
    note: gr.HTML
    accept: gr.Button
    reject: gr.Button


def place() -> EnhanceParts:
    """The row under the prompt (style and Enhance), then the suggestion panel (hidden)."""
    with gr.Row(elem_id="lp-prompt-tools", equal_height=True):
        style = gr.Dropdown(
            STYLE_CHOICES,
            value="default",
            label="Style",
            show_label=False,
            container=False,
            scale=2,
            min_width=140,
            elem_id="lp-style",
        )
        enhance = gr.Button(ENHANCE_LABEL, size="md", scale=3, min_width=160, elem_id="lp-enhance")
    with gr.Column(visible=False, variant="panel", elem_id="lp-suggestion") as panel:
        note = gr.HTML("", elem_id="lp-suggestion-note")
        suggestion = gr.Textbox(
            label="Suggested prompt (edit it before using it)",
            lines=3,
            max_lines=8,
            elem_id="lp-suggestion-text",
        )
        with gr.Row():
            accept = gr.Button("Use this prompt", variant="primary", size="sm", elem_id="lp-suggestion-use")
            reject = gr.Button("Keep mine", size="sm", elem_id="lp-suggestion-keep")
    return EnhanceParts(style, enhance, panel, suggestion, note, accept, reject)


class PromptEnhancer:
    """Asks the prompt optimizer for a better prompt, with the tab's key and picture."""

    def __init__(self, playground: Playground, store: SessionStore) -> None:
        self.playground = playground
        self.store = store

    @staticmethod
    def busy() -> Any:
        return gr.update(value="Enhancing…", interactive=False)

    @staticmethod
    def idle() -> Any:
        return gr.update(value=ENHANCE_LABEL, interactive=True)

    async def suggest(
        self, image: str | None, prompt: str | None, style: str | None, request: gr.Request
    ) -> tuple[Any, Any, Any]:
        """A suggestion for the prompt, shown in the panel; the prompt itself is left alone."""
        try:
            picture = sent_picture(image) if image else None
            suggestion = await self.suggestion(self.store.visit(request), picture, prompt, style)
        except LumaPlaygroundError as error:
            raise ui_error(error) from None
        label = dict((value, name) for name, value in STYLE_CHOICES)[suggestion.style]
        seen = "your prompt and picture" if suggestion.used_picture else "your prompt"
        note = (
            f'<div class="lp-suggestion-note">Suggested from {seen}, in the '
            f"<b>{escape(label)}</b> style. Edit it if you like, then use it or keep yours."
            + (' <span class="lp-sim-mark">simulated</span>' if suggestion.simulated else "")
            + "</div>"
        )
        return suggestion.text, note, gr.update(visible=True)

    async def suggestion(
        self, visit: Visit, image: str | Picture | None, prompt: str | None, style: str | None
    ) -> Suggestion:
        """Ask the optimizer, with the visit's key, for a fuller prompt from the words and picture.

        On the owner's key of a shared deployment it is admitted like a video (`suggest_prompt`).
        """
        return await suggest_prompt(self.playground, prompt, visit.caller, image=image, style=style)

    @staticmethod
    def accept(suggestion: str | None) -> tuple[Any, Any]:
        """Put the (possibly edited) suggestion into the prompt and close the panel."""
        if not suggestion or not suggestion.strip():
            gr.Warning("The suggestion is empty: the prompt was kept as it was.")
            return gr.skip(), gr.update(visible=False)
        return suggestion.strip(), gr.update(visible=False)

    @staticmethod
    def reject() -> Any:
        """Close the panel; the prompt stays as the user wrote it."""
        return gr.update(visible=False)


def wire(enhancer: PromptEnhancer, parts: EnhanceParts, image: gr.Image, prompt: gr.Textbox) -> None:
    """Enhance asks for a suggestion from the picture and prompt; the panel uses or dismisses it."""
    busy = parts.enhance.click(enhancer.busy, None, [parts.enhance], queue=False, **QUIET)
    asked = busy.then(
        with_image_path(enhancer.suggest, image),
        [image, prompt, parts.style],
        [parts.suggestion, parts.note, parts.panel],
        **QUIET,
        **RAW,
    )
    for after in (asked.then, asked.failure):
        after(enhancer.idle, None, [parts.enhance], queue=False, **QUIET)
    parts.accept.click(enhancer.accept, [parts.suggestion], [prompt, parts.panel], queue=False, **QUIET)
    parts.reject.click(enhancer.reject, None, [parts.panel], queue=False, **QUIET)
