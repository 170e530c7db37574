"""Several videos at once: the count, Generate-N and Cancel all, and the grid of videos.

The handlers are `Variants`'; its pieces are placed by `_variants.place_count`, `place_actions`
and `place_grid` where `_layout` puts them, and connected here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

from .._config import Settings
from ._components import RAW, with_image_path
from ._parts import QUIET, Form, Keys, Result
from ._variants import Variants, VariantSlot

if TYPE_CHECKING:
    from gradio.events import Dependency

__all__ = ["GridParts", "wire"]


@dataclass(frozen=True)
class GridParts:
    """The several-videos components: in the settings row, in the actions row, under the player."""

    count: gr.Radio
    generate_many: gr.Button
    cancel_all: gr.Button
    grid: gr.Row
    slots: tuple[VariantSlot, ...]


def wire(
    demo: gr.Blocks,
    variants: Variants,
    parts: GridParts,
    form: Form,
    keys: Keys,
    result: Result,
    generate: gr.Button,
    settings: Settings,
) -> Dependency:
    """Connect the count, Generate-N, the slots' Cancel and Cancel all; the run's event is returned.

    `generate` is the one-video Generate button: the count swaps it for Generate-N, and it brings
    the single player back in place of the grid.
    """
    statuses = [slot.status for slot in parts.slots]
    videos = [slot.video for slot in parts.slots]
    cancels = [slot.cancel for slot in parts.slots]
    parts.count.change(variants.buttons, [parts.count], [generate, parts.generate_many], queue=False, **QUIET)
    generate.click(variants.show_single, None, [result.video, parts.grid], queue=False, **QUIET)
    begun = parts.generate_many.click(
        variants.begin,
        [parts.count, keys.key],
        [
            parts.generate_many,
            parts.cancel_all,
            result.video,
            result.details,
            parts.grid,
            *[slot.column for slot in parts.slots],
            *statuses,
            *videos,
            *cancels,
        ],
        queue=False,
        **QUIET,
    )
    run = begun.then(
        with_image_path(variants.run, form.image),
        [*form.request, parts.count],
        [result.status, *statuses, *videos, *cancels],
        concurrency_limit=settings.event_concurrency,
        concurrency_id="generate",
        **QUIET,
        **RAW,
    )
    run.then(variants.finished, [parts.count], [parts.generate_many, parts.cancel_all], queue=False, **QUIET)
    run.failure(
        variants.failed,
        [parts.count],
        [parts.generate_many, parts.cancel_all, result.video, parts.grid],
        queue=False,
        **QUIET,
    )
    for index, slot in enumerate(parts.slots):
        slot.cancel.click(
            variants.cancel_one(index),
            None,
            [slot.status, slot.cancel],
            api_name=f"page_cancel_video_{index + 1}",
            concurrency_limit=None,
            **QUIET,
        )
    parts.cancel_all.click(
        variants.cancel_all,
        [parts.count],
        [result.status, *statuses, *cancels, parts.generate_many, parts.cancel_all],
        cancels=[run],
        concurrency_limit=None,
        **QUIET,
    )
    return run
