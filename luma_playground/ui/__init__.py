"""The playground's web UI: a Gradio Blocks app around the pipeline."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._session import KEY_HEADER

if TYPE_CHECKING:
    from ._demo import build_demo, launch_options

__all__ = ["KEY_HEADER", "build_demo", "launch_options"]


def __getattr__(name: str) -> object:
    """The page's builders, imported when first asked for.

    `api/` builds on the page's handlers (`ui._generate`, ...) and `ui._demo` wires the page and
    the API together: importing `_demo` only when the app is built keeps `api/` importable first.
    """
    if name in {"build_demo", "launch_options"}:
        from . import _demo

        return getattr(_demo, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
