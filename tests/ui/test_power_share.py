"""Share a setup: the link carries prompt, size, duration (never a key, never a private image)."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from luma_playground._urls import fetch_folder
from luma_playground.ui._generate import url_downloads
from luma_playground.ui._share import _fetched_copies, link_query, parse_link, public_image, read_link

PUBLIC = "https://images.example.com/photos/lake.jpg"


def fetched(url: str, source: Path) -> Path:
    """Put `source` where "Use this image" saves the picture at `url`."""
    target = fetch_folder(url, url_downloads()) / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def query_of(link: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(link).query).items()}


def test_the_link_carries_the_settings(landscape_image: Path) -> None:
    """Prompt, size, duration, videos and style go in; an uploaded file does not."""
    link = link_query("A slow pan, then rain", "720*1280", 10, 3, "anime", str(landscape_image), "")
    assert query_of(link) == {
        "prompt": "A slow pan, then rain",
        "size": "720*1280",
        "duration": "10",
        "videos": "3",
        "style": "anime",
    }
    assert query_of(link_query("x", "1280*720", 5, 1, "default", None, None)) == {
        "prompt": "x",
        "size": "1280*720",
        "duration": "5",
    }  # defaults left out


def test_a_public_picture_is_shared_only_when_it_is_the_one_shown(
    landscape_image: Path, portrait_image: Path
) -> None:
    """The URL goes in when the picture is what that URL served; another picture keeps it out."""
    copy = fetched(PUBLIC, landscape_image)
    shown = copy.parent.parent / "cache-copy.png"  # Gradio hands the handler a copy
    shutil.copyfile(landscape_image, shown)
    assert query_of(link_query("p", "1280*720", 5, 1, "default", str(shown), PUBLIC))["image"] == PUBLIC
    assert "image" not in query_of(link_query("p", "1280*720", 5, 1, "default", str(portrait_image), PUBLIC))
    local = "http://127.0.0.1:9/lake.jpg"  # not public: never fetched, never shared
    assert "image" not in query_of(link_query("p", "1280*720", 5, 1, "default", str(shown), local))


@pytest.mark.anyio
async def test_the_fetched_copy_is_where_the_share_check_looks(picture_host: Any) -> None:
    """ "Use this image" keeps the picture where the share link looks for it: the URL goes in."""
    url = picture_host.url("landscape.png")
    path = await picture_host.fetch(url, url_downloads())
    assert _fetched_copies(url) == [path]
    assert public_image(str(path), url) == url


def test_a_link_is_read_back_and_checked() -> None:
    """Valid values come back; invalid, private or unknown ones are ignored."""
    setup = parse_link(
        {
            "prompt": "Waves",
            "size": "720x1280",
            "duration": "10",
            "videos": "4",
            "style": "technical",
            "image": PUBLIC,
            "__theme": "dark",
        }
    )
    assert (setup.prompt, setup.size, setup.duration, setup.videos, setup.style, setup.image) == (
        "Waves",
        "720*1280",
        10,
        4,
        "technical",
        PUBLIC,
    )
    bad = parse_link(
        {
            "prompt": " ",
            "size": "640*480",
            "duration": "7",
            "videos": "9",
            "style": "cubist",
            "image": "http://192.168.1.4/x.jpg",
        }
    )
    assert bad == type(bad)()
    request = SimpleNamespace(query_params={"prompt": "Hello", "duration": "5"})
    prompt, size, duration, videos, style, image = read_link(request)  # type: ignore[arg-type]
    assert (prompt, duration) == ("Hello", 5)
    assert all(value == {"__type__": "update"} for value in (size, videos, style, image))
