"""One video from the form: Generate and Cancel, and the form's own helpers (key, image).

Every event here is private (the public `generate` is `_api`'s, returning data): the key is
an input of private events only, and those are neither in the API nor in the run history,
which records public endpoints alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

from .._config import Settings
from ._components import RAW, with_image_path
from ._generate import Handlers
from ._parts import QUIET, Form, Keys, Result

if TYPE_CHECKING:
    from gradio.events import Dependency

__all__ = ["Actions", "place_actions", "wire", "wire_image", "wire_key"]


@dataclass(frozen=True)
class Actions:
    """The Generate button and its Cancel (shown while a video is being made)."""

    generate: gr.Button
    cancel: gr.Button


def place_actions() -> Actions:
    """Generate and Cancel, placed in the actions row."""
    generate = gr.Button("Generate video", variant="primary", size="lg", scale=3, elem_id="lp-generate")
    cancel = gr.Button("Cancel", variant="stop", size="lg", scale=1, visible=False, elem_id="lp-cancel")
    return Actions(generate, cancel)


def wire(
    handlers: Handlers, form: Form, keys: Keys, result: Result, actions: Actions, settings: Settings
) -> Dependency:
    """Generate runs `/generate` on the form; Cancel stops it. The run's event is returned."""
    prepared = actions.generate.click(
        handlers.prepare, [keys.key], [actions.generate, actions.cancel, keys.badge], queue=False, **QUIET
    )
    generation = prepared.then(
        with_image_path(handlers.generate, form.image),
        form.request,
        [result.video, result.status, result.details],
        api_name="page_generate",
        api_visibility="private",
        show_progress="hidden",
        concurrency_limit=settings.event_concurrency,
        concurrency_id="generate",
        **RAW,
    )
    # `.then` follows a success only; `.failure` covers the rest.
    for after in (generation.then, generation.failure):
        after(handlers.finish, None, [actions.generate, actions.cancel], queue=False, **QUIET)
    actions.cancel.click(
        handlers.cancel,
        None,
        [result.status, actions.generate, actions.cancel],
        cancels=[generation],
        concurrency_limit=None,
        api_name="page_cancel",
        **QUIET,
    )
    return generation


def wire_key(demo: gr.Blocks, handlers: Handlers, keys: Keys) -> None:
    """The typed key is kept for the tab (and in the browser if asked); a closed tab forgets it."""
    for trigger in (keys.key.input, keys.remember.input):
        trigger(
            handlers.set_key,
            [keys.key, keys.remember],
            [keys.badge, keys.stored_key],
            trigger_mode="always_last",
            queue=False,
            **QUIET,
        )
    demo.load(
        handlers.restore_key, [keys.stored_key], [keys.key, keys.remember, keys.badge], queue=False, **QUIET
    )
    demo.unload(handlers.forget)


def wire_image(handlers: Handlers, form: Form) -> list[Dependency]:
    """A picture the visitor adds preselects the size; a URL is fetched into the image field.

    Only a picture the visitor adds (`input`, not `change`) or fetches preselects the size: one
    put back by History or a link keeps the size that came with it. The fetches are returned.
    """
    suggest = with_image_path(handlers.suggest_size, form.image)
    form.image.input(suggest, [form.image], [form.size], **QUIET, **RAW)
    fetches = [
        trigger(handlers.use_url, [form.image_url], [form.image, form.image_tabs], **QUIET)
        for trigger in (form.use_url.click, form.image_url.submit)
    ]
    for fetch in fetches:
        fetch.success(suggest, [form.image], [form.size], **QUIET, **RAW)
    return fetches
