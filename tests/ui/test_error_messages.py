"""How errors reach the page and API callers: escaped once, and an unexpected one as one logged sentence."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import gradio as gr
import pytest

from luma_playground import InvalidRequest
from luma_playground.ui._generate import ui_error
from luma_playground.ui._parts import UNEXPECTED, guarded, page_error

pytestmark = pytest.mark.anyio


async def test_page_error_escapes_markup_once() -> None:
    """Markup in a message is escaped once, so Gradio's popup shows it as text."""
    shown = page_error('Size must be one of 1280*720, not "<img src=x>".', title="Check the input")
    assert shown.message == 'Size must be one of 1280*720, not "&lt;img src=x&gt;".'
    assert ui_error(InvalidRequest("a <b>bold</b> prompt")).message == "a &lt;b&gt;bold&lt;/b&gt; prompt"


async def test_guarded_handlers_turn_an_unexpected_error_into_one_logged_sentence(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An error no handler expected is logged with its traceback and shown as one sentence; others pass."""

    async def broken(task_id: str) -> str:
        raise KeyError(f"/srv/secret/{task_id}")

    async def stream(task_id: str) -> AsyncIterator[str]:
        yield "started"
        raise RuntimeError("boom")

    def refused(task_id: str) -> str:
        raise InvalidRequest("Write a prompt that describes the motion you want.")

    with caplog.at_level(logging.ERROR, logger="luma_playground"):
        with pytest.raises(gr.Error) as caught:
            await guarded(broken)("abc")
        assert caught.value.message == UNEXPECTED and "/srv" not in caught.value.message
        with pytest.raises(gr.Error, match="Something went wrong"):
            async for _ in guarded(stream)("abc"):
                pass
    assert [record.exc_info is not None for record in caplog.records] == [True, True]
    with pytest.raises(gr.Error) as told:
        guarded(refused)("abc")
    assert told.value.message == "Write a prompt that describes the motion you want."
    assert guarded(broken).__name__ == "broken" and guarded(stream).__doc__ == stream.__doc__
