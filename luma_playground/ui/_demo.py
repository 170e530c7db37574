"""`build_demo`: the Gradio Blocks app, laid out first and wired after."""

from __future__ import annotations

from typing import Any

import gradio as gr

from .._service import Playground
from .._webhooks import webhook_routes
from ._compare import CompareHandlers, wire_compare
from ._generate import Handlers
from ._history import HistoryHandlers, wire_history
from ._layout import Layout, build_layout
from ._power import PowerFeatures
from ._session import SessionStore
from ._theme import CSS, THEME

__all__ = ["build_demo", "launch_options"]

TITLE = "Luma Ray 2 playground"
#: Quick helper events (key, image checks) run this many at once, all sessions together.
HELPER_CONCURRENCY = 32


def build_demo(playground: Playground | None = None) -> gr.Blocks:
    """The playground's UI on `playground` (opened from the environment when not given)."""
    playground = playground or Playground.open()
    outputs_dir = playground.settings.outputs_dir
    outputs_dir.mkdir(parents=True, exist_ok=True)
    # Videos are served from where the pipeline saved them, under any launcher (`gradio app.py`).
    gr.set_static_paths([outputs_dir])
    handlers = Handlers(playground, SessionStore(playground))
    with gr.Blocks(title=TITLE, fill_width=False) as demo:
        layout = build_layout(handlers.badge(False), key_panel_open=playground.simulated)
        _wire(demo, layout, handlers, playground)
        PowerFeatures(handlers).wire(demo, layout)
    demo.queue(default_concurrency_limit=HELPER_CONCURRENCY)
    demo.playground = playground
    return demo


def _wire(demo: gr.Blocks, ui: Layout, handlers: Handlers, playground: Playground) -> None:
    """Connect the events: one public endpoint (`/generate`), everything else private."""
    quiet: dict[str, Any] = dict(api_visibility="private", show_progress="hidden")
    generate_inputs = [ui.image, ui.prompt, ui.size, ui.duration]

    # The key is an input of private events only: those are neither in the API nor in the run
    # history, which records public endpoints alone.
    prepared = ui.generate.click(
        handlers.prepare, [ui.key], [ui.generate, ui.cancel, ui.badge], queue=False, **quiet
    )
    generation = prepared.then(
        handlers.generate,
        generate_inputs,
        [ui.video, ui.status, ui.details],
        api_name="generate",
        api_visibility="public",
        show_progress="hidden",
        concurrency_limit=playground.settings.event_concurrency,
        concurrency_id="generate",
    )
    # `.then` follows a success only; `.failure` covers the rest.
    for after in (generation.then, generation.failure):
        after(handlers.finish, None, [ui.generate, ui.cancel], queue=False, **quiet)
    history = HistoryHandlers(playground, handlers.store)
    wire_history(ui, history, finished=generation)
    wire_compare(demo, ui, CompareHandlers(history))
    ui.cancel.click(
        handlers.cancel,
        None,
        [ui.status, ui.generate, ui.cancel],
        cancels=[generation],
        concurrency_limit=None,
        **quiet,
    )

    for trigger in (ui.key.input, ui.remember.input):
        trigger(
            handlers.set_key,
            [ui.key, ui.remember],
            [ui.badge, ui.stored_key],
            trigger_mode="always_last",
            queue=False,
            **quiet,
        )
    demo.load(handlers.restore_key, [ui.stored_key], [ui.key, ui.remember, ui.badge], queue=False, **quiet)
    demo.unload(handlers.forget)

    ui.image.change(handlers.suggest_size, [ui.image], [ui.size], **quiet)
    ui.use_url.click(handlers.use_url, [ui.image_url], [ui.image, ui.image_tabs], **quiet)
    ui.image_url.submit(handlers.use_url, [ui.image_url], [ui.image, ui.image_tabs], **quiet)
    # The summary line (with the cost) is kept up to date by the power features.


def launch_options(playground: Playground, **overrides: Any) -> dict[str, Any]:
    """The `launch()` arguments that go with the demo: look, login, sharing, MCP, file access.

    The server also resumes the pending tasks of the server's key at start-up, and serves the
    completion callbacks when the playground has a public address.
    """
    settings = playground.settings
    app_kwargs: dict[str, Any] = {"lifespan": playground.lifespan}
    if playground.webhooks is not None:
        app_kwargs["routes"] = webhook_routes(playground.webhooks)
    options: dict[str, Any] = dict(
        theme=THEME,
        css=CSS,
        allowed_paths=[str(settings.outputs_dir)],
        auth=settings.auth,
        auth_message="This playground spends its owner's credits: sign in to use it.",
        share=settings.share or None,
        mcp_server=settings.mcp or None,
        app_kwargs=app_kwargs,
    )
    options.update(overrides)
    return options
