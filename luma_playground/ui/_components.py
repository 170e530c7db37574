"""The form's Radio and Image, and the raw values their events hand over to the playground's checks.

Gradio refuses an unknown radio value, and opens an upload with PIL, before a handler runs,
answering with its own generic words. The events that read them are declared with
`preprocess=False` (Gradio's public switch for raw values), so that a handler answers an API
caller or a visitor with one clear sentence (`GenerationRequest.create`, `check_image`);
`with_image_path` turns the image's raw value into the file path the handlers take.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import gradio as gr
from gradio.data_classes import ImageData

from .._request import RequestField
from ._gradio_compat import announce_integers

__all__ = ["RAW", "choice_radio", "field_radio", "image_input", "image_path", "with_image_path"]

#: The event option that hands the handler each input's value as sent (checked by the handler).
RAW: dict[str, Any] = dict(preprocess=False)


def choice_radio(choices: list[tuple[str, Any]], **options: Any) -> gr.Radio:
    """A radio whose API description gives its values' type (integers stay integers)."""
    radio = gr.Radio(choices, **options)
    values = [value for _, value in choices]
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        announce_integers(radio)
    return radio


def field_radio(field: RequestField, *, short: bool = False, **options: Any) -> gr.Radio:
    """A request field's radio: its choices (in the short words where room is tight), default and label."""
    return choice_radio(field.radio(short=short), **{"value": field.default, "label": field.label, **options})


def image_input(**options: Any) -> gr.Image:
    """The image input: events read it raw (`RAW`) and take its path with `with_image_path`."""
    return gr.Image(type="filepath", image_mode=None, **options)


def image_path(image: gr.Image, payload: Any) -> str | None:
    """The uploaded file's path from the image's raw value, without opening it.

    A path (a handler called directly) is kept; an inline `data:` image is decoded by Gradio.
    """
    if payload is None or isinstance(payload, str):
        return payload
    data = payload if isinstance(payload, ImageData) else ImageData(**payload)
    if data.path and not (data.url or "").startswith("data:"):
        return str(data.path)
    return image.preprocess(data)  # type: ignore[return-value]


def with_image_path(fn: Callable[..., Any], image: gr.Image, *, at: int = 0) -> Callable[..., Any]:
    """`fn` for an event with `RAW` inputs: its argument `at` (the image) becomes a file path.

    The wrapper keeps `fn`'s name, docstring and signature: Gradio reads them for the API page,
    the MCP tool and the request and header arguments.
    """

    def converted(args: tuple[Any, ...]) -> tuple[Any, ...]:
        return (*args[:at], image_path(image, args[at]), *args[at + 1 :])

    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def stream(*args: Any, **kwargs: Any) -> Any:
            async for update in fn(*converted(args), **kwargs):
                yield update

        return stream
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def call(*args: Any, **kwargs: Any) -> Any:
            return await fn(*converted(args), **kwargs)

        return call

    @functools.wraps(fn)
    def plain(*args: Any, **kwargs: Any) -> Any:
        return fn(*converted(args), **kwargs)

    return plain
