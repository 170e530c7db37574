"""The one place the playground reaches past Gradio's public API, and why.

Gradio describes every Radio's values as strings in the API page and the MCP tool, even when
they are integers (`Radio.api_info` says `"type": "string"`), so callers send `"5"` for a
duration of 5. No option or public hook changes a component's API description, and a Component
subclass makes Gradio write a `.pyi` stub next to the module that defines it. So the instance's
`api_info` is replaced; `tests/ui/test_gradio_compat.py` fails if Gradio stops reading it there.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

__all__ = ["announce_integers"]


def announce_integers(radio: gr.Radio) -> None:
    """Describe the radio's values as integers in the API page (they all are)."""
    stock_info = radio.api_info

    def api_info() -> dict[str, Any]:
        return {**stock_info(), "type": "integer"}

    radio.api_info = api_info  # type: ignore[method-assign]
