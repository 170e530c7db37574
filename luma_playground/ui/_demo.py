"""`build_demo`: the Gradio Blocks app, laid out first and wired after."""

from __future__ import annotations

from typing import Any

import gradio as gr

from .._guard.identity import keep_raw_peer
from .._playground import Playground
from .._wavespeed.webhooks import webhook_routes
from ..api import tasks as _api
from ..api.batches import BatchApi
from ..api.shots import ShotsApi
from ..api.tasks import PublicApi
from . import (
    _batch_tab,
    _compare,
    _cost,
    _crop,
    _enhance,
    _generate_tab,
    _history_tab,
    _notify,
    _share,
    _shots_panel,
)
from ._compare import CompareHandlers
from ._cost import CostBook
from ._enhance import PromptEnhancer
from ._file_routes import file_routes
from ._generate import Handlers
from ._gradio_compat import json_text_for_agents, keep_server_files_out_of_mcp, quiet_idle_queue
from ._history import HistoryHandlers
from ._layout import Page, build_layout
from ._parts import QUIET
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
        page = build_layout(
            handlers.badge(False), key_panel_open=playground.simulated, login=playground.settings.oauth
        )
        _wire(demo, page, handlers)
    demo.queue(default_concurrency_limit=HELPER_CONCURRENCY)
    quiet_idle_queue(demo)
    json_text_for_agents()
    keep_server_files_out_of_mcp()
    demo.playground = playground
    return demo


def _wire(demo: gr.Blocks, page: Page, handlers: Handlers) -> None:
    """Connect every feature: the page's events are private; the public API is `_api`'s alone."""
    playground, store = handlers.playground, handlers.store
    settings = playground.settings
    form, keys, result = page.form, page.keys, page.result

    generation = _generate_tab.wire(handlers, page.run, form, keys, result, settings)
    # Each finished Flash video offers its Ray 2 final (priced); any other video hides the offer.
    offers = [result.finish, *[slot.finish for slot in page.run.slots]]
    for after in (generation.then, generation.failure):
        after(handlers.finish_offers, None, offers, **QUIET)
    history = HistoryHandlers(playground, store)
    # Then History, where the final is followed beside its draft, is drawn again.
    shown = page.history
    refreshed = [shown.cards, shown.summary, shown.check, shown.timer, shown.shown]
    for finishing in _generate_tab.wire_finish(handlers, page.run, result, page.tabs):
        finishing.success(history.refresh, [shown.selected, shown.shown], refreshed, **QUIET)
    _history_tab.wire(history, page.history, form, keys.key, page.tabs, finished=generation)
    _compare.wire(
        demo,
        CompareHandlers(history),
        page.compare,
        selected=page.history.selected,
        open_button=page.history.compare,
        tabs=page.tabs,
    )
    _generate_tab.wire_key(demo, handlers, keys)
    url_fetches = _generate_tab.wire_image(handlers, form)

    _crop.wire(page.crop, form.image, form.size)
    enhancer = PromptEnhancer(playground, store)
    _enhance.wire(enhancer, page.enhance, form.image, form.prompt)
    cost = CostBook(playground, store)
    _cost.wire(demo, cost, form, page.run.count, keys, runs=[generation])
    shot_handlers = _shots_panel.ShotHandlers(playground, store, cost)
    _shots_panel.wire(shot_handlers, page.shots, form, finished=generation, main_cancel=page.run.cancel)
    public = PublicApi(handlers, history, cost, enhancer)
    _api.wire(public, generate_concurrency=settings.event_concurrency)
    ShotsApi(public).wire(settings.event_concurrency)
    BatchApi(public).wire()
    batch = _batch_tab.BatchHandlers(playground, store, tick=handlers.tick)
    _batch_tab.wire(demo, batch, page.batch, keys.key)
    _notify.wire(demo, page.notify)
    opened = _share.wire(
        demo,
        page.share,
        form,
        page.run.count,
        page.enhance.style,
        fetch_image=handlers.use_url,
        url_fetches=url_fetches,
        shot=page.shots.source,
    )
    _shots_panel.wire_openers(
        shot_handlers,
        page.shots,
        history_pick=page.history.selected,
        history_extend=page.history.extend,
        shared_shot=page.share.shared_shot,
        opened=opened,
        tabs=page.tabs,
    )


def launch_options(playground: Playground, **overrides: Any) -> dict[str, Any]:
    """The `launch()` arguments that go with the demo: look, login, sharing, MCP, file access.

    uvicorn is kept from rewriting the peer's address from `X-Forwarded-For`, which the
    playground reads itself through `LUMA_PLAYGROUND_TRUSTED_PROXIES` hops only. The server also
    resumes the pending tasks of the server's key at start-up, and serves the completion callbacks
    when the playground has a public address.
    """
    settings = playground.settings
    # The visitor's address is the connection's peer, or what trusted proxies say (not uvicorn).
    keep_raw_peer()
    # The app's files by name alone: no address in the page or the API names a server folder.
    routes = file_routes(settings.outputs_dir)
    if playground.webhooks is not None:
        routes += webhook_routes(playground.webhooks)
    app_kwargs: dict[str, Any] = {"lifespan": playground.lifespan, "routes": routes}
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
