"""The Generate tab's controls, placed and wired: the count, Generate, Cancel, the grid, key and image.

Every event here is private (the public `generate` is `_api`'s, returning data): the key is
an input of private events only, and those are neither in the API nor in the run history,
which records public endpoints alone. `_layout` decides where each piece goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from .._config import Settings
from ._components import RAW, with_image_path
from ._generate import COUNT_CHOICES, MAX_VIDEOS, Handlers, cancel_label, generate_label
from ._parts import QUIET, Form, Keys, Result

if TYPE_CHECKING:
    from gradio.events import Dependency

__all__ = [
    "RunParts",
    "VideoSlot",
    "place_actions",
    "place_count",
    "place_grid",
    "wire",
    "wire_finish",
    "wire_image",
    "wire_key",
]


@dataclass(frozen=True)
class VideoSlot:
    """One video's place in the grid: its column, status card, player, Cancel and "Finish in Ray 2"."""

    column: gr.Column
    status: gr.HTML
    video: gr.Video
    cancel: gr.Button
    finish: gr.Button


@dataclass(frozen=True)
class RunParts:
    """A run's controls: in the settings row, in the actions row, and the grid under the player."""

    count: gr.Radio
    generate: gr.Button
    cancel: gr.Button
    grid: gr.Row
    slots: tuple[VideoSlot, ...]

    def outputs(self, result: Result) -> list[Any]:
        """What a run's frames update, in `Handlers.generate`'s order."""
        return [
            result.status,
            result.video,
            result.details,
            self.grid,
            *[slot.status for slot in self.slots],
            *[slot.video for slot in self.slots],
            *[slot.cancel for slot in self.slots],
        ]


def place_count() -> gr.Radio:
    """The "how many videos" choice, placed beside size and duration."""
    return gr.Radio(COUNT_CHOICES, value=1, label="Videos at once", elem_id="lp-count")


def place_actions() -> tuple[gr.Button, gr.Button]:
    """Generate and its Cancel (shown while videos are made), placed in the actions row."""
    generate = gr.Button(generate_label(1), variant="primary", size="lg", scale=3, elem_id="lp-generate")
    cancel = gr.Button(
        cancel_label(1), variant="stop", size="lg", scale=1, visible=False, elem_id="lp-cancel"
    )
    return generate, cancel


def place_grid() -> tuple[gr.Row, list[VideoSlot]]:
    """The side-by-side grid of several videos, placed under the large player (hidden until used)."""
    slots = []
    with gr.Row(visible=False, elem_id="lp-variants", equal_height=False) as grid:
        for index in range(MAX_VIDEOS):
            with gr.Column(
                min_width=280, visible=False, elem_id=f"lp-variant-{index + 1}", elem_classes=["lp-variant"]
            ) as column:
                status = gr.HTML("", elem_id=f"lp-variant-{index + 1}-status")
                video = gr.Video(
                    label=f"Video {index + 1}",
                    autoplay=True,
                    loop=True,
                    interactive=False,
                    buttons=["download"],
                    height=240,
                    elem_id=f"lp-variant-{index + 1}-video",
                )
                cancel = gr.Button(
                    "Cancel this one",
                    variant="stop",
                    size="sm",
                    visible=False,
                    elem_id=f"lp-variant-{index + 1}-cancel",
                )
                finish = gr.Button(
                    "Finish in Ray 2", size="sm", visible=False, elem_id=f"lp-variant-{index + 1}-finish"
                )
            slots.append(VideoSlot(column, status, video, cancel, finish))
    return grid, slots


def wire(
    handlers: Handlers, parts: RunParts, form: Form, keys: Keys, result: Result, settings: Settings
) -> Dependency:
    """Generate makes the form's videos (one to four); Cancel stops them all, a slot's Cancel its own.

    The run's event is returned.
    """
    buttons = [parts.generate, parts.cancel]
    parts.count.change(handlers.buttons, [parts.count], buttons, queue=False, **QUIET)
    begun = parts.generate.click(
        handlers.begin,
        [parts.count, keys.key],
        [
            *buttons,
            keys.badge,
            result.video,
            result.details,
            parts.grid,
            *[slot.column for slot in parts.slots],
            *[slot.status for slot in parts.slots],
            *[slot.cancel for slot in parts.slots],
        ],
        queue=False,
        **QUIET,
    )
    run = begun.then(
        with_image_path(handlers.generate, form.image),
        [*form.request, parts.count],
        parts.outputs(result),
        api_name="page_generate",
        concurrency_limit=settings.event_concurrency,
        concurrency_id="generate",
        **QUIET,
        **RAW,
    )
    # `.then` follows a success only; `.failure` covers the rest.
    for after in (run.then, run.failure):
        after(handlers.buttons_after_run, [parts.count], buttons, queue=False, **QUIET)
    for index, slot in enumerate(parts.slots):
        slot.cancel.click(
            handlers.cancel_one(index),
            None,
            [slot.status, slot.cancel],
            api_name=f"page_cancel_video_{index + 1}",
            concurrency_limit=None,
            **QUIET,
        )
    parts.cancel.click(
        handlers.cancel,
        [parts.count],
        [
            result.status,
            *[slot.status for slot in parts.slots],
            *[slot.cancel for slot in parts.slots],
            *buttons,
        ],
        cancels=[run],
        concurrency_limit=None,
        api_name="page_cancel",
        **QUIET,
    )
    return run


def wire_finish(handlers: Handlers, parts: RunParts, result: Result, tabs: gr.Tabs) -> list[Dependency]:
    """Each finished Flash video of a run offers "Finish in Ray 2", priced (under the large player for
    a run of one, on its card for several); a new run hides the offers. The finishing events are
    returned.
    """
    offers = [result.finish, *[slot.finish for slot in parts.slots]]
    parts.generate.click(handlers.hide_finish, None, offers, queue=False, **QUIET)
    finishers = [(handlers.finish_shown, "finish_shown")] + [
        (handlers.finish_one(index), f"page_finish_video_{index + 1}") for index in range(len(parts.slots))
    ]
    return [
        button.click(finish, None, [button, tabs], api_name=name, **QUIET)
        for button, (finish, name) in zip(offers, finishers, strict=True)
    ]


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
