"""Share a setup: a link that reopens the playground with the same prompt, size and duration.

The link carries the prompt, size, duration, number of videos and prompt style; the picture only
when it is the one fetched from a public URL (an uploaded file stays private). It never carries
a key. The link is read back on page load from the query parameters.
"""

from __future__ import annotations

import contextlib
import filecmp
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import gradio as gr

from .._errors import InvalidRequest
from .._models import MAX_PROMPT_CHARS, Size, check_image_url
from .._urls import fetch_folder
from ._enhance import STYLES
from ._generate import url_downloads
from ._variants import MAX_VIDEOS

__all__ = ["ShareParts", "link_query", "place_share", "read_link"]

#: Runs in the browser: the page's own address plus the query, copied to the clipboard.
COPY_JS = """
(query) => {
  const link = window.location.origin + window.location.pathname + (query || "");
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(link).catch(() => {});
  }
  return link;
}
"""


@dataclass
class ShareParts:
    """The Copy link button and the box that shows the link."""

    copy: gr.Button
    link: gr.Textbox


def place_share() -> ShareParts:
    """The Copy link button with the link beside it, placed under the actions."""
    with gr.Row(elem_id="lp-share", equal_height=True):
        copy = gr.Button("Copy link to this setup", size="sm", scale=0, min_width=200, elem_id="lp-copy-link")
        link = gr.Textbox(
            show_label=False,
            container=False,
            interactive=False,
            scale=3,
            placeholder="A link that reopens this prompt, size and duration",
            buttons=["copy"],
            elem_id="lp-share-link",
        )
    return ShareParts(copy, link)


def _fetched_copies(url: str) -> list[Path]:
    """The pictures "Use this image" saved from `url`."""
    return sorted(fetch_folder(url, url_downloads()).glob("[!.]*"))


def public_image(image: str | None, image_url: str | None) -> str | None:
    """The public URL the current picture came from, or None (an upload, or another picture)."""
    if not image or not image_url or not image_url.strip():
        return None
    try:
        url = check_image_url(image_url)
    except InvalidRequest:
        return None
    for fetched in _fetched_copies(url):
        with contextlib.suppress(OSError):
            if filecmp.cmp(image, fetched, shallow=False):
                return url
    return None


def link_query(
    prompt: str | None,
    size: str | None,
    duration: object,
    videos: object,
    style: str | None,
    image: str | None,
    image_url: str | None,
) -> str:
    """The query string ("?prompt=…") that reopens these settings; never a key or a local file."""
    fields: dict[str, Any] = {}
    if prompt and prompt.strip():
        fields["prompt"] = prompt.strip()[:MAX_PROMPT_CHARS]
    with contextlib.suppress(InvalidRequest):
        fields["size"] = Size.parse(size).value
    if duration in (5, 10, "5", "10"):
        fields["duration"] = int(duration)
    if str(videos) in {str(n) for n in range(2, MAX_VIDEOS + 1)}:
        fields["videos"] = int(str(videos))
    if style in STYLES and style != "default":
        fields["style"] = style
    if url := public_image(image, image_url):
        fields["image"] = url
    return "?" + urlencode(fields) if fields else ""


@dataclass(frozen=True, slots=True)
class SharedSetup:
    """What a link asks for; None where it says nothing usable."""

    prompt: str | None = None
    size: str | None = None
    duration: int | None = None
    videos: int | None = None
    style: str | None = None
    image: str | None = None


def parse_link(params: dict[str, str]) -> SharedSetup:
    """The setup in a link's query parameters; anything unknown or invalid is ignored."""
    prompt = params.get("prompt")
    prompt = prompt[:MAX_PROMPT_CHARS] if prompt and prompt.strip() else None
    try:
        size = Size.parse(params["size"]).value if params.get("size") else None
    except InvalidRequest:
        size = None
    duration = int(params["duration"]) if params.get("duration") in ("5", "10") else None
    videos_text = params.get("videos", "")
    videos = int(videos_text) if videos_text in {str(n) for n in range(1, MAX_VIDEOS + 1)} else None
    style = params.get("style") if params.get("style") in STYLES else None
    image = None
    if params.get("image"):
        try:
            image = check_image_url(params["image"])
        except InvalidRequest:
            image = None
    return SharedSetup(prompt, size, duration, videos, style, image)


def read_link(request: gr.Request) -> tuple[Any, ...]:
    """On page load: the prompt, size, duration, videos, style and image URL a link carries."""
    params = dict(getattr(request, "query_params", None) or {})
    setup = parse_link({str(k): str(v) for k, v in params.items()})

    def given(value: object) -> Any:
        return gr.skip() if value is None else value

    return (
        given(setup.prompt),
        given(setup.size),
        given(setup.duration),
        given(setup.videos),
        given(setup.style),
        given(setup.image),
    )
