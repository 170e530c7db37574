"""Gradio's Radio and Image, with their input checks handed from Gradio to the playground.

Gradio refuses an unknown radio value, and opens an upload with PIL, before the handler runs,
answering with its own generic words. These helpers let the raw value through, so that the handler
can answer an API caller with one clear sentence (`GenerationRequest.create`, `check_image`).
They patch the instance rather than subclass: a Component subclass makes Gradio write a `.pyi`
stub next to this module at import, which fails in a read-only install.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
from gradio.data_classes import ImageData

__all__ = ["choice_radio", "image_input"]


def choice_radio(choices: list[tuple[str, Any]], **options: Any) -> gr.Radio:
    """A radio whose value reaches the handler as sent; the handler says what is allowed."""
    radio = gr.Radio(choices, **options)
    stock_info = radio.api_info

    def api_info() -> dict[str, Any]:
        info = stock_info()
        values = [value for _, value in choices]
        if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            info["type"] = "integer"
        return info

    radio.preprocess = lambda payload: payload  # type: ignore[method-assign]
    radio.api_info = api_info  # type: ignore[method-assign]
    return radio


def image_input(**options: Any) -> gr.Image:
    """An image input that hands the uploaded file's path over without opening it."""
    image = gr.Image(type="filepath", image_mode=None, **options)
    stock_preprocess = image.preprocess

    def preprocess(payload: ImageData | None) -> Any:
        if payload is not None and payload.path and not (payload.url or "").startswith("data:"):
            return str(payload.path)
        return stock_preprocess(payload)

    image.preprocess = preprocess  # type: ignore[method-assign]
    return image
