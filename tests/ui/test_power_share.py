"""Share a setup: the link carries prompt, size, duration (never a key, never a private image)."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from luma_playground.ui._share import fetched, link_query, parse_link, read_link

PUBLIC = "https://images.example.com/photos/lake.jpg"
RAY = "luma/ray-2-i2v"


def query_of(link: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(link).query).items()}


def test_the_link_carries_the_settings(landscape_image: Path) -> None:
    """Prompt, size, duration, videos, style and a followed shot go in; an uploaded file does not."""
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
    assert query_of(link_query("", None, None, 1, None, None, None, None, "shot-12")) == {"shot": "shot-12"}
    assert link_query("x", None, None, 1, None, None, None, None, "0123abcd-task") == "?prompt=x"  # a task


@pytest.mark.anyio
async def test_a_public_picture_is_shared_only_when_it_is_the_one_shown(
    landscape_image: Path, portrait_image: Path, tmp_path: Path
) -> None:
    """The URL goes in when the picture shown is what that URL gave; another picture keeps it out."""
    note = await fetched(PUBLIC, str(landscape_image))
    shown = tmp_path / "cache-copy.png"  # Gradio hands the next event a copy of the fetched file
    shutil.copyfile(landscape_image, shown)
    assert query_of(link_query("p", "1280*720", 5, 1, "default", str(shown), PUBLIC, note))["image"] == PUBLIC
    other = link_query("p", "1280*720", 5, 1, "default", str(portrait_image), PUBLIC, note)
    assert "image" not in query_of(other)  # an upload after the fetch
    edited = link_query("p", "1280*720", 5, 1, "default", str(shown), PUBLIC + "?v=2", note)
    assert "image" not in query_of(edited)  # the URL box no longer names what was fetched
    assert "image" not in query_of(link_query("p", "1280*720", 5, 1, "default", str(shown), PUBLIC, None))
    local = "http://127.0.0.1:9/lake.jpg"  # not public: never noted, never shared
    assert await fetched(local, str(landscape_image)) is None


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
            "shot": "shot-3",
            "__theme": "dark",
        }
    )
    assert (setup.prompt, setup.size, setup.duration, setup.videos, setup.style, setup.image, setup.shot) == (
        "Waves",
        "720*1280",
        10,
        4,
        "technical",
        PUBLIC,
        "shot-3",
    )
    bad = parse_link(
        {
            "prompt": " ",
            "size": "640*480",
            "duration": "7",
            "videos": "9",
            "style": "cubist",
            "image": "http://192.168.1.4/x.jpg",
            "shot": "shot-3/../../etc",
        }
    )
    assert bad == type(bad)()
    request = SimpleNamespace(query_params={"prompt": "Hello", "duration": "5"})
    prompt, size, duration, videos, style, image, shot, model = read_link(request)  # type: ignore[arg-type]
    assert (prompt, duration) == ("Hello", 5)
    assert all(value == {"__type__": "update"} for value in (size, videos, style, image, shot, model))


def test_a_link_carries_the_model() -> None:
    """A Flash setup's link names the model and reopens in it; Ray 2, the default, goes unsaid."""
    flash = "luma/ray-2-flash-i2v"
    link = link_query("p", "1280*720", 5, 1, "default", None, None, None, None, flash)
    assert query_of(link) == {"prompt": "p", "size": "1280*720", "duration": "5", "model": flash}
    assert "model" not in query_of(link_query("p", "1280*720", 5, 1, "default", None, None, None, None, RAY))
    assert parse_link({"model": flash}).model == flash and parse_link({"model": "ray-3"}).model is None
