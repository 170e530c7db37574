"""What the UI's modules share: event options, timings, the session of a request, page parts.

A leaf: it imports no other module of the UI, so every feature can use it without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

__all__ = ["QUIET", "TICK", "Form", "Keys", "Result", "session_hash"]

#: The options of a private event that shows no progress of its own (all but `/generate`).
QUIET: dict[str, Any] = dict(api_visibility="private", show_progress="hidden")
#: Seconds between status refreshes while nothing happens (elapsed time keeps moving).
TICK = 1.0


def session_hash(request: gr.Request | None) -> str:
    """The browser tab behind a request ("local" outside a request)."""
    return getattr(request, "session_hash", None) or "local"


@dataclass(frozen=True)
class Form:
    """The Generate tab's inputs: the image (a file or a URL), the prompt, size and duration."""

    image_tabs: gr.Tabs
    image: gr.Image
    image_url: gr.Textbox
    use_url: gr.Button
    prompt: gr.Textbox
    size: gr.Radio
    duration: gr.Radio
    #: The line under the settings: what will be made, and its cost.
    summary: gr.HTML

    @property
    def request(self) -> list[gr.components.Component]:
        """The inputs of a generation, in `/generate`'s order."""
        return [self.image, self.prompt, self.size, self.duration]


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
