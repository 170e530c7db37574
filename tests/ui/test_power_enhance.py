"""Prompt enhancement: a suggestion in video mode with the picture, never a silent replacement."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest

from luma_playground import Playground, Settings
from luma_playground.ui._enhance import PromptEnhancer
from luma_playground.ui._generate import Handlers
from luma_playground.ui._session import SessionStore

from .conftest import fake_request

#: The model of these runs (the form's default).
RAY = "luma/ray-2-i2v"

pytestmark = pytest.mark.anyio


async def test_suggestion_uses_style_image_and_video_mode(
    handlers: Handlers,
    sim,  # type: ignore[no-untyped-def]
    landscape_image: Path,
) -> None:
    """The optimizer gets the text, the uploaded picture, video mode and the chosen style."""
    enhancer = PromptEnhancer(handlers.playground, handlers.store)
    suggestion, note, panel = await enhancer.suggest(
        str(landscape_image), "a boat drifts", "anime", fake_request()
    )
    assert suggestion.startswith("A boat drifts") and "anime" in suggestion
    assert "faithful to the reference image" in suggestion  # it saw the picture
    assert "cinematic 24 fps" in suggestion  # video mode
    assert "Anime" in note and panel["visible"] is True
    task = sim.control.tasks()[0]
    assert task["input"]["mode"] == "video" and task["input"]["style"] == "anime"
    assert task["input"]["image"].startswith(sim.base_url)


async def test_one_upload_serves_enhance_and_videos(
    handlers: Handlers,
    sim,  # type: ignore[no-untyped-def]
    landscape_image: Path,
) -> None:
    """Two suggestions and two videos of the same picture upload it once (uploads are free)."""
    enhancer = PromptEnhancer(handlers.playground, handlers.store)
    for style in ("default", "photographic"):
        await enhancer.suggest(str(landscape_image), "waves roll in", style, fake_request())
    async for _ in handlers.generate(
        str(landscape_image), "waves roll in", "1280*720", 5, RAY, 2, fake_request()
    ):
        pass
    routes = sim.control.stats()["routes"]
    assert routes["upload"] == 1 and routes["optimizer"] == 2 and routes["submit"] == 2


async def test_without_a_picture_and_without_words(handlers: Handlers, sim) -> None:  # type: ignore[no-untyped-def]
    """No picture: the text alone is improved. No words: a sentence, nothing sent."""
    enhancer = PromptEnhancer(handlers.playground, handlers.store)
    suggestion, _, _ = await enhancer.suggest(None, "city lights at night", "default", fake_request())
    assert "reference image" not in suggestion
    with pytest.raises(gr.Error, match="Write a few words first"):
        await enhancer.suggest(None, "   ", "default", fake_request())
    assert sim.control.stats()["routes"]["optimizer"] == 1


def test_accept_and_reject_leave_the_choice_to_the_user() -> None:
    """Use puts the edited suggestion in the prompt; Keep mine only closes the panel."""
    prompt, panel = PromptEnhancer.accept("  An edited suggestion.  ")
    assert prompt == "An edited suggestion." and panel["visible"] is False
    assert PromptEnhancer.reject()["visible"] is False


async def test_optimizer_failure_is_a_sentence(handlers: Handlers, sim) -> None:  # type: ignore[no-untyped-def]
    """The optimizer route failing gives one titled sentence; the prompt is left alone."""
    sim.control.add_fault("optimizer", "status", status=401, count=5)
    enhancer = PromptEnhancer(handlers.playground, handlers.store)
    with pytest.raises(gr.Error, match="API key was refused"):
        await enhancer.suggest(None, "a prompt", "default", fake_request())


async def test_shared_deployments_cap_suggestions(playground: Playground, sim) -> None:  # type: ignore[no-untyped-def]
    """On the owner's key, a visitor gets a daily number of suggestions, then a clear refusal."""
    playground.settings = playground.settings.with_changes(share=True, session_daily_suggestions=2)
    enhancer = PromptEnhancer(playground, SessionStore(playground))
    for prompt in ("one", "two"):
        await enhancer.suggest(None, prompt, "default", fake_request())
    with pytest.raises(gr.Error, match="allows 2 prompt suggestions a day"):
        await enhancer.suggest(None, "three", "default", fake_request())
    assert sim.control.stats()["routes"]["optimizer"] == 2
    assert Settings.from_env({}).session_daily_suggestions >= 20
