"""The one place the playground reaches past Gradio's public API, and why.

Integer radios. Gradio describes every Radio's values as strings in the API page and the MCP tool, even when
they are integers (`Radio.api_info` says `"type": "string"`), so callers send `"5"` for a
duration of 5. No option or public hook changes a component's API description, and a Component
subclass makes Gradio write a `.pyi` stub next to the module that defines it. So the instance's
`api_info` is replaced; `tests/ui/test_gradio_compat.py` fails if Gradio stops reading it there.

Fetched and copied pictures. Gradio shows only files under its upload folder (or allowed paths)
and offers no public call that fetches a URL with its SSRF guard; the image field's "Use this
image" and History's "use again" use its own helpers for both, here, pinned by the same tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
from gradio import processing_utils
from gradio.utils import get_upload_folder, is_in_or_equal

__all__ = ["announce_integers", "fetch_into_uploads", "is_inside", "upload_folder"]


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


async def fetch_into_uploads(url: str) -> str:
    """Download a public URL into the upload folder through Gradio's SSRF guard; the file's path."""
    return str(await processing_utils.async_ssrf_protected_download(url, get_upload_folder()))
