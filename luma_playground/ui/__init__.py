"""The playground's web UI: a Gradio Blocks app around the pipeline."""

from __future__ import annotations

from ._demo import build_demo, launch_options
from ._session import KEY_HEADER

__all__ = ["KEY_HEADER", "build_demo", "launch_options"]
