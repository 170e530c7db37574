"""Share a setup: a link that reopens the playground with the same prompt, size, duration and model.

The link carries the prompt, size, duration, number of videos and prompt style; the picture only
when it is the one fetched from a public URL (an uploaded file stays private); and the shot the
Extend panel follows, by its name (`shot=shot-3`), which opens it again for whoever may see it
(the owner of a private playground; on a shared one, its maker). It never carries a key. The
link is read back on page load from the query parameters.

Whether the picture shown is the one a URL served is known from the tab's own note: each fetch
("Use this image", or a link's picture) records the URL and the digest of the file it gave.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import gradio as gr

from .._errors import InvalidRequest
from .._features.shots import SHOT_NAME
from .._features.suggestions import STYLES
from .._request import DURATION, MAX_PROMPT_CHARS, MODEL, Size, check_image_url
from ._components import RAW, with_image_path
from ._generate import MAX_VIDEOS
from ._parts import QUIET, Form

if TYPE_CHECKING:
    from gradio.events import Dependency

__all__ = ["Fetched", "ShareParts", "fetched", "link_query", "parse_link", "place", "read_link", "wire"]

#: What the tab last fetched from a URL: the URL, and the SHA-256 of the picture it gave.
Fetched = tuple[str, str]

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


@dataclass(frozen=True)
class ShareParts:
    """The Copy link button, the box that shows the link, and what the tab fetched from URLs."""

    copy: gr.Button
    link: gr.Textbox
    #: The picture URL a link opened with, fetched once the page has loaded.
    shared_image: gr.State
    #: The tab's last fetch from a URL (`Fetched`), or None.
    fetched: gr.State
    #: The shot a link opened with (`shot-3`), opened once the page has loaded.
    shared_shot: gr.State


def place() -> ShareParts:
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
    return ShareParts(copy, link, gr.State(None), gr.State(None), gr.State(None))


def _digest(path: str) -> str:
    with Path(path).open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


async def fetched(image_url: str | None, image: str | None) -> Fetched | None:
    """The note of a fetch that just put the picture at `image_url` into the image field."""
    if not image or not image_url:
        return None
    try:
        return check_image_url(image_url), await asyncio.to_thread(_digest, image)
    except (InvalidRequest, OSError):
        return None


def public_image(image: str | None, image_url: str | None, last: Fetched | None) -> str | None:
    """The public URL the current picture came from, or None (an upload, or another picture)."""
    if not image or not image_url or not image_url.strip() or not last:
        return None
    try:
        url = check_image_url(image_url)
        same = url == last[0] and _digest(image) == last[1]
    except (InvalidRequest, OSError):
        return None
    return url if same else None


def link_query(
    prompt: str | None,
    size: str | None,
    duration: object,
    videos: object,
    style: str | None,
    image: str | None,
    image_url: str | None,
    last: Fetched | None = None,
    shot: str | None = None,
    model: str | None = None,
) -> str:
    """The query string ("?prompt=…") that reopens these settings (and `shot`, a shot's name);
    never a key or a local file.
    """
    fields: dict[str, Any] = {}
    if prompt and prompt.strip():
        fields["prompt"] = prompt.strip()[:MAX_PROMPT_CHARS]
    with contextlib.suppress(InvalidRequest):
        fields["size"] = Size.parse(size).value
    if (seconds := DURATION.value_of(str(duration))) is not None:
        fields["duration"] = seconds
    if model in MODEL.values and model != MODEL.default:
        fields["model"] = model
    if str(videos) in {str(n) for n in range(2, MAX_VIDEOS + 1)}:
        fields["videos"] = int(str(videos))
    if style in STYLES and style != "default":
        fields["style"] = style
    if url := public_image(image, image_url, last):
        fields["image"] = url
    if shot and SHOT_NAME.fullmatch(shot):
        fields["shot"] = shot
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
    shot: str | None = None
    model: str | None = None


def parse_link(params: dict[str, str]) -> SharedSetup:
    """The setup in a link's query parameters; anything unknown or invalid is ignored."""
    prompt = params.get("prompt")
    prompt = prompt[:MAX_PROMPT_CHARS] if prompt and prompt.strip() else None
    try:
        size = Size.parse(params["size"]).value if params.get("size") else None
    except InvalidRequest:
        size = None
    duration = DURATION.value_of(params.get("duration", ""))
    videos_text = params.get("videos", "")
    videos = int(videos_text) if videos_text in {str(n) for n in range(1, MAX_VIDEOS + 1)} else None
    style = params.get("style") if params.get("style") in STYLES else None
    image = None
    if params.get("image"):
        try:
            image = check_image_url(params["image"])
        except InvalidRequest:
            image = None
    shot = params.get("shot") if SHOT_NAME.fullmatch(params.get("shot") or "") else None
    model = MODEL.value_of(params.get("model", ""))
    return SharedSetup(prompt, size, duration, videos, style, image, shot, model)


def read_link(request: gr.Request) -> tuple[Any, ...]:
    """On page load: the prompt, size, duration, videos, style, image URL, shot and model a link carries."""
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
        given(setup.shot),
        given(setup.model),
    )


def wire(
    demo: gr.Blocks,
    parts: ShareParts,
    form: Form,
    count: gr.Radio,
    style: gr.Dropdown,
    *,
    fetch_image: Callable[[str], Awaitable[tuple[Any, Any]]],
    url_fetches: list[Any],
    shot: gr.State,
) -> Dependency:
    """Copy link builds the link; a link opened restores its setup, then fetches its picture.

    `fetch_image` is "Use this image"'s handler; `url_fetches` are the events through which it
    filled the image field: each is noted, so that the link knows the picture came from its URL.
    `shot` is what the Extend panel follows (a shot's name goes into the link). The page load
    that read the link is returned: its shot (`parts.shared_shot`) is opened after it.
    """
    setup = [form.prompt, form.size, form.duration, count, style]
    built = parts.copy.click(
        with_image_path(link_query, form.image, at=5),
        [*setup, form.image, form.image_url, parts.fetched, shot, form.model],
        [parts.link],
        queue=False,
        **QUIET,
        **RAW,
    )
    built.then(None, [parts.link], [parts.link], js=COPY_JS, queue=False, **QUIET)

    async def fetch_shared(url: str | None) -> tuple[Any, Any, Any]:
        """A link's public picture, fetched like "Use this image" does (nothing without one)."""
        if not url:
            return gr.skip(), gr.skip(), gr.skip()
        image, tabs = await fetch_image(url)
        return url, image, tabs

    opened = demo.load(read_link, None, [*setup, parts.shared_image, parts.shared_shot, form.model], **QUIET)
    shared = opened.then(
        fetch_shared, [parts.shared_image], [form.image_url, form.image, form.image_tabs], **QUIET
    )
    note = with_image_path(fetched, form.image, at=1)
    for fetch in (*url_fetches, shared):
        fetch.success(note, [form.image_url, form.image], [parts.fetched], **QUIET, **RAW)
    return opened
