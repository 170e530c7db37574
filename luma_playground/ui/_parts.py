"""What the UI's modules share: event options, timings, the session of a request, page parts.

A leaf: it imports no other module of the UI, so every feature can use it without a cycle.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any, TypeVar

import gradio as gr

from .._errors import LumaPlaygroundError

__all__ = [
    "QUIET",
    "TICK",
    "UNEXPECTED",
    "Form",
    "Keys",
    "Result",
    "guarded",
    "page_error",
    "page_warning",
    "session_hash",
]

logger = logging.getLogger("luma_playground")

_Handler = TypeVar("_Handler", bound=Callable[..., Any])

#: The options of a private event that shows no progress of its own (all but `/generate`).
QUIET: dict[str, Any] = dict(api_visibility="private", show_progress="hidden")
#: Seconds between status refreshes while nothing happens (elapsed time keeps moving).
TICK = 1.0


#: What a caller is told of an error no handler expected (its traceback is in the server's log).
UNEXPECTED = "Something went wrong on the server and was logged; try again in a moment."


def page_error(message: str, *, title: str = "Error") -> gr.Error:
    """The one place a message becomes Gradio's error (the page's popup, `AppError` for scripts).

    Gradio shows an error's message as HTML: it is escaped here, once, so that markup in a
    prompt, a file's tags or a CSV cell shows as the text it is.
    """
    return gr.Error(escape(message, quote=False), title=title, print_exception=False)


def page_warning(message: str, *, title: str) -> None:
    """Show a warning on the page, escaped as `page_error` does."""
    gr.Warning(escape(message, quote=False), title=title)


def guarded(handler: _Handler) -> _Handler:
    """The handler, with an error it did not expect logged (traceback and all) and shown as one sentence.

    Gradio's own errors pass as they are; the playground's are already one sentence each; a
    cancelled call stays cancelled. Works for plain and async functions and async generators.
    """
    if inspect.isasyncgenfunction(handler):

        @functools.wraps(handler)
        async def stream(*args: Any, **kwargs: Any) -> Any:
            try:
                async for update in handler(*args, **kwargs):
                    yield update
            except Exception as error:
                raise _shown(handler, error) from None

        return stream  # type: ignore[return-value]
    if inspect.iscoroutinefunction(handler):

        @functools.wraps(handler)
        async def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return await handler(*args, **kwargs)
            except Exception as error:
                raise _shown(handler, error) from None

        return call  # type: ignore[return-value]

    @functools.wraps(handler)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except Exception as error:
            raise _shown(handler, error) from None

    return run  # type: ignore[return-value]


def _shown(handler: Callable[..., Any], error: Exception) -> Exception:
    if isinstance(error, gr.Error):
        return error
    if isinstance(error, LumaPlaygroundError):
        return page_error(error.message, title=str(getattr(error, "title", "Error")))
    logger.error("%s failed unexpectedly", getattr(handler, "__name__", "a handler"), exc_info=error)
    return page_error(UNEXPECTED, title="Unexpected error")


def session_hash(request: gr.Request | None) -> str:
    """The browser tab behind a request ("local" outside a request)."""
    return getattr(request, "session_hash", None) or "local"


@dataclass(frozen=True)
class Form:
    """The Generate tab's inputs: the image (a file or a URL), the prompt, size, duration and model."""

    image_tabs: gr.Tabs
    image: gr.Image
    image_url: gr.Textbox
    use_url: gr.Button
    prompt: gr.Textbox
    size: gr.Radio
    duration: gr.Radio
    model: gr.Radio
    #: The line under the settings: what will be made, and its cost.
    summary: gr.HTML

    @property
    def request(self) -> list[gr.components.Component]:
        """The inputs of a generation, in `/generate`'s order."""
        return [self.image, self.prompt, self.size, self.duration, self.model]


@dataclass(frozen=True)
class Keys:
    """The key panel, the browser's remembered key, and the badge that says who pays."""

    badge: gr.HTML
    key: gr.Textbox
    remember: gr.Checkbox
    stored_key: gr.BrowserState


@dataclass(frozen=True)
class Result:
    """Where one video's run shows: its status card, the player and the task's details."""

    status: gr.HTML
    video: gr.Video
    details: gr.HTML
    #: "Finish in Ray 2", under a finished Ray 2 Flash video.
    finish: gr.Button
