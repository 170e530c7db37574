"""The Generate tab's power features, placed by `_layout` and wired here in one call.

Prompt enhancement, cost before you click, several videos at once, a link to share a setup, and
the preview of what the model sees. Every event here is private: the public API stays `/generate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gradio as gr

from ._cost import CostBook
from ._crop import CropParts, place_crop_preview, update_preview
from ._enhance import EnhanceParts, PromptEnhancer, place_prompt_tools
from ._generate import Handlers
from ._share import COPY_JS, ShareParts, link_query, place_share, read_link
from ._variants import Variants, VariantSlot, place_actions, place_count, place_grid

if TYPE_CHECKING:
    from ._layout import Layout

__all__ = ["PowerFeatures", "PowerLayout"]


@dataclass
class PowerLayout:
    """The power features' components; each `place_*` call puts some where `_layout` calls it."""

    crop: CropParts = field(init=False)
    enhance: EnhanceParts = field(init=False)
    count: gr.Radio = field(init=False)
    generate_many: gr.Button = field(init=False)
    cancel_all: gr.Button = field(init=False)
    grid: gr.Row = field(init=False)
    slots: list[VariantSlot] = field(init=False)
    share: ShareParts = field(init=False)
    shared_image: gr.State = field(init=False)

    def place_crop_preview(self) -> None:
        """Under the image input: what the model sees of the picture."""
        self.crop = place_crop_preview()

    def place_prompt_tools(self) -> None:
        """Under the prompt: the style, Enhance, and the suggestion panel."""
        self.enhance = place_prompt_tools()

    def place_count(self) -> None:
        """In the settings row: how many videos."""
        self.count = place_count()

    def place_actions(self) -> None:
        """In the actions row: Generate-N and Cancel all (shown for several videos)."""
        self.generate_many, self.cancel_all = place_actions()

    def place_share(self) -> None:
        """Under the actions: Copy link."""
        self.share = place_share()
        self.shared_image = gr.State(None)

    def place_grid(self) -> None:
        """Under the video player: the grid of videos of a several-videos run."""
        self.grid, self.slots = place_grid()


class PowerFeatures:
    """The handlers behind the power features, sharing one upload cache."""

    def __init__(self, handlers: Handlers) -> None:
        self.handlers = handlers
        playground, store = handlers.playground, handlers.store
        self.cost = CostBook(playground, store)
        self.enhancer = PromptEnhancer(playground, store, playground.uploads)
        self.variants = Variants(playground, store, tick=handlers.tick)

    def wire(self, demo: gr.Blocks, ui: Layout) -> None:
        """Connect every power feature's events to the page."""
        self._wire_crop(ui)
        self._wire_enhance(ui)
        self._wire_cost(demo, ui)
        self._wire_variants(demo, ui)
        self._wire_share(demo, ui)

    def _wire_crop(self, ui: Layout) -> None:
        crop = ui.power.crop
        for trigger in (ui.image.change, ui.size.change):
            trigger(
                update_preview,
                [ui.image, ui.size],
                [crop.group, crop.image, crop.note],
                trigger_mode="always_last",
                **_QUIET,
            )

    def _wire_enhance(self, ui: Layout) -> None:
        parts, enhancer = ui.power.enhance, self.enhancer
        busy = parts.enhance.click(enhancer.busy, None, [parts.enhance], queue=False, **_QUIET)
        asked = busy.then(
            enhancer.suggest,
            [ui.image, ui.prompt, parts.style],
            [parts.suggestion, parts.note, parts.panel],
            **_QUIET,
        )
        for after in (asked.then, asked.failure):
            after(enhancer.idle, None, [parts.enhance], queue=False, **_QUIET)
        parts.accept.click(
            enhancer.accept, [parts.suggestion], [ui.prompt, parts.panel], queue=False, **_QUIET
        )
        parts.reject.click(enhancer.reject, None, [parts.panel], queue=False, **_QUIET)

    def _wire_cost(self, demo: gr.Blocks, ui: Layout) -> None:
        settings = [ui.size, ui.duration, ui.power.count]
        for trigger in (
            ui.size.change,
            ui.duration.change,
            ui.power.count.change,
            ui.badge.change,
            ui.key.blur,
        ):
            trigger(self.cost.summary, settings, [ui.summary], trigger_mode="always_last", **_QUIET)
        demo.load(self.cost.summary, settings, [ui.summary], **_QUIET)
        # A finished one-video run changes the video: the balance has changed too.
        ui.video.change(self.cost.after_run, settings, [ui.summary], trigger_mode="always_last", **_QUIET)

    def _wire_variants(self, demo: gr.Blocks, ui: Layout) -> None:
        power, variants = ui.power, self.variants
        statuses = [slot.status for slot in power.slots]
        videos = [slot.video for slot in power.slots]
        cancels = [slot.cancel for slot in power.slots]
        power.count.change(
            variants.buttons, [power.count], [ui.generate, power.generate_many], queue=False, **_QUIET
        )
        ui.generate.click(variants.show_single, None, [ui.video, power.grid], queue=False, **_QUIET)
        begun = power.generate_many.click(
            variants.begin,
            [power.count, ui.key],
            [
                power.generate_many,
                power.cancel_all,
                ui.video,
                ui.details,
                power.grid,
                *[slot.column for slot in power.slots],
                *statuses,
                *videos,
                *cancels,
            ],
            queue=False,
            **_QUIET,
        )
        settings = self.handlers.playground.settings
        run = begun.then(
            variants.run,
            [ui.image, ui.prompt, ui.size, ui.duration, power.count],
            [ui.status, *statuses, *videos, *cancels],
            concurrency_limit=settings.event_concurrency,
            concurrency_id="generate",
            **_QUIET,
        )
        run.then(
            variants.finished, [power.count], [power.generate_many, power.cancel_all], queue=False, **_QUIET
        )
        run.then(self.cost.after_run, [ui.size, ui.duration, power.count], [ui.summary], **_QUIET)
        run.failure(
            variants.failed,
            [power.count],
            [power.generate_many, power.cancel_all, ui.video, power.grid],
            queue=False,
            **_QUIET,
        )
        for index, slot in enumerate(power.slots):
            slot.cancel.click(
                variants.cancel_one(index), None, [slot.status, slot.cancel], concurrency_limit=None, **_QUIET
            )
        power.cancel_all.click(
            variants.cancel_all,
            [power.count],
            [ui.status, *statuses, *cancels, power.generate_many, power.cancel_all],
            cancels=[run],
            concurrency_limit=None,
            **_QUIET,
        )

    def _wire_share(self, demo: gr.Blocks, ui: Layout) -> None:
        power = ui.power
        share = power.share
        built = share.copy.click(
            link_query,
            [ui.prompt, ui.size, ui.duration, power.count, power.enhance.style, ui.image, ui.image_url],
            [share.link],
            queue=False,
            **_QUIET,
        )
        built.then(None, [share.link], [share.link], js=COPY_JS, queue=False, **_QUIET)
        opened = demo.load(
            read_link,
            None,
            [ui.prompt, ui.size, ui.duration, power.count, power.enhance.style, power.shared_image],
            **_QUIET,
        )
        opened.then(
            self._fetch_shared_image, [power.shared_image], [ui.image_url, ui.image, ui.image_tabs], **_QUIET
        )

    async def _fetch_shared_image(self, url: str | None) -> tuple[Any, Any, Any]:
        """A link's public picture, fetched like "Use this image" does (nothing without one)."""
        if not url:
            return gr.skip(), gr.skip(), gr.skip()
        image, tabs = await self.handlers.use_url(url)
        return url, image, tabs


_QUIET: dict[str, Any] = dict(api_visibility="private", show_progress="hidden")
