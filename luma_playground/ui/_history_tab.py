"""The History tab's components and events: the cards, fetch by id, check, and "use again"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from ._history import HISTORY_LIMIT, HistoryHandlers
from ._history_view import (
    CARDS_CSS,
    CARDS_JS,
    FACTS_CSS,
    FACTS_JS,
    NOTHING_SELECTED,
    cards_html,
    summary_html,
)
from ._parts import QUIET, Form

if TYPE_CHECKING:
    from gradio.events import Dependency

__all__ = ["HistoryParts", "place", "wire"]

#: Seconds between refreshes while a task in view is being followed.
REFRESH_EVERY = 3.0


@dataclass(frozen=True)
class HistoryParts:
    """The History tab's components."""

    tab: gr.Tab
    summary: gr.HTML
    check: gr.Button
    refresh: gr.Button
    task_id: gr.Textbox
    fetch: gr.Button
    cards: gr.HTML
    facts: gr.HTML
    video: gr.Video
    reuse: gr.Button
    compare: gr.Button
    extend: gr.Button
    #: "Finish in Ray 2", on a finished Ray 2 Flash draft.
    finish: gr.Button
    #: The card shown: a row's number, or a shot's name (`shot-3`).
    selected: gr.Textbox
    timer: gr.Timer
    shown: gr.State

    @property
    def detail(self) -> list[gr.components.Component]:
        """What shows the selected generation or shot."""
        return [self.facts, self.video, self.reuse, self.compare, self.extend, self.finish]


def place() -> HistoryParts:
    """The History tab: summary and actions, then the cards beside the selected generation."""
    with gr.Tab("History", id="history", elem_id="lp-history-tab") as tab:
        with gr.Row(equal_height=True, elem_id="lp-history-bar"):
            summary = gr.HTML(summary_html(0, 0, limit=HISTORY_LIMIT), elem_id="lp-history-summary")
            check = gr.Button(
                "Check for results",
                visible=False,
                size="md",
                scale=0,
                min_width=230,
                elem_id="lp-history-check",
            )
            refresh = gr.Button("Refresh", size="md", scale=0, min_width=110, elem_id="lp-history-refresh")
        with (
            gr.Accordion("Fetch a task by its id", open=False, elem_id="lp-fetch"),
            gr.Row(equal_height=True),
        ):
            task_id = gr.Textbox(
                label="Task id",
                scale=4,
                elem_id="lp-fetch-id",
                placeholder="A task id from the WaveSpeed site or any other client",
            )
            fetch = gr.Button("Fetch", scale=1, elem_id="lp-fetch-go")
        with gr.Row(equal_height=False):
            with gr.Column(scale=7, min_width=360):
                cards = gr.HTML(
                    cards_html([]),
                    js_on_load=CARDS_JS,
                    css_template=CARDS_CSS,
                    max_height=820,
                    elem_id="lp-history",
                )
            with gr.Column(scale=5, min_width=320):
                facts = gr.HTML(
                    NOTHING_SELECTED,
                    css_template=FACTS_CSS,
                    js_on_load=FACTS_JS,
                    elem_id="lp-history-facts",
                )
                video = gr.Video(
                    label="Video",
                    interactive=False,
                    buttons=["download"],
                    height=360,
                    elem_id="lp-history-video",
                )
                with gr.Row():
                    reuse = gr.Button(
                        "Use these settings again", variant="primary", interactive=False, elem_id="lp-reuse"
                    )
                    compare = gr.Button("Compare with…", interactive=False, elem_id="lp-history-compare")
                    extend = gr.Button("Extend…", interactive=False, elem_id="lp-history-extend")
                finish = gr.Button(
                    "Finish in Ray 2", variant="primary", visible=False, elem_id="lp-history-finish"
                )
        selected = gr.Textbox(None, visible=False, elem_id="lp-history-selected")
        timer = gr.Timer(REFRESH_EVERY, active=False)
        shown = gr.State(None)
    return HistoryParts(
        tab,
        summary,
        check,
        refresh,
        task_id,
        fetch,
        cards,
        facts,
        video,
        reuse,
        compare,
        extend,
        finish,
        selected,
        timer,
        shown,
    )


def _busy() -> Any:
    return gr.Button(value="Checking…", interactive=False)


def wire(
    handlers: HistoryHandlers,
    parts: HistoryParts,
    form: Form,
    key: gr.Textbox,
    tabs: gr.Tabs,
    *,
    finished: Dependency,
) -> None:
    """Connect the History tab; `/history` is its one public endpoint (read-only).

    `finished` is the one-video run: History refreshes when it ends. "Use again" fills `form`
    and brings its tab (of `tabs`) to the front; a key typed into `key` finishes its pending tasks.
    """
    refresh_inputs = [parts.selected, parts.shown]
    refresh_outputs = [parts.cards, parts.summary, parts.check, parts.timer, parts.shown]

    def then_refresh(event: Dependency) -> None:
        for after in (event.then, event.failure):  # after a failure too: the Check button is back
            after(handlers.refresh, refresh_inputs, refresh_outputs, **QUIET)

    for trigger in (parts.tab.select, parts.refresh.click, parts.timer.tick, finished.then, finished.failure):
        trigger(handlers.refresh, refresh_inputs, refresh_outputs, **QUIET)

    parts.cards.select(handlers.select, None, [parts.selected, *parts.detail], **QUIET)
    parts.facts.select(handlers.play_segment, [parts.selected], [parts.video], **QUIET)
    for trigger in (parts.fetch.click, parts.task_id.submit):
        then_refresh(
            trigger(
                handlers.fetch,
                [parts.task_id],
                [parts.selected, *parts.detail, parts.task_id],
                api_name="history_fetch",
                api_visibility="private",
                show_progress="minimal",
                show_progress_on=[parts.facts],
            )
        )
    checking = parts.check.click(_busy, None, [parts.check], queue=False, **QUIET)
    then_refresh(checking.then(handlers.check_results, None, None, api_name="history_check", **QUIET))
    # The Generate tab preselects a size only for a picture the visitor adds (`image.input`), so
    # the size restored here stays.
    parts.reuse.click(
        handlers.use_again,
        [parts.selected],
        [form.image, form.prompt, form.size, form.duration, form.image_tabs, tabs, form.model],
        api_name="history_use_again",
        **QUIET,
    )
    then_refresh(
        parts.finish.click(
            handlers.finish, [parts.selected], [parts.finish, parts.timer], api_name="history_finish", **QUIET
        )
    )
    # The key is an input of a private event only (never in the API or the run history).
    then_refresh(key.change(handlers.resume_for_key, [key], None, trigger_mode="always_last", **QUIET))
