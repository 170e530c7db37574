"""The one place the playground reaches past Gradio's public API, and why.

Integer radios. Gradio describes every Radio's values as strings in the API page and the MCP tool, even when
they are integers (`Radio.api_info` says `"type": "string"`), so callers send `"5"` for a
duration of 5. No option or public hook changes a component's API description, and a Component
subclass makes Gradio write a `.pyi` stub next to the module that defines it. So the instance's
`api_info` is replaced; `tests/ui/test_gradio_compat.py` fails if Gradio stops reading it there.

Copied pictures. Gradio shows only files under its upload folder (or allowed paths), and names
that folder only through its utilities; pictures fetched from a URL (by the playground's own
checked fetch) and copied for "use again" go there, pinned by the same tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder, is_in_or_equal

__all__ = ["announce_integers", "is_inside", "upload_folder", "url_downloads"]


def announce_integers(radio: gr.Radio) -> None:
    """Describe the radio's values as integers in the API page (they all are)."""
    stock_info = radio.api_info

    def api_info() -> dict[str, Any]:
        return {**stock_info(), "type": "integer"}

    radio.api_info = api_info  # type: ignore[method-assign]


def upload_folder() -> Path:
    """Gradio's folder for uploaded files: a file there may be shown by any component."""
    return Path(get_upload_folder())


def is_inside(path: str | Path, folder: str | Path) -> bool:
    """True when `path` is `folder` or lies under it, as Gradio decides what it may serve."""
    return bool(is_in_or_equal(str(path), str(folder)))


def url_downloads() -> Path:
    """Where pictures fetched from URLs are kept: under the upload folder, so they can be shown."""
    return upload_folder() / "urls"
