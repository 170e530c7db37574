"""What a visitor reads names no server path: `without_server_paths` cuts each to a file's name."""

from __future__ import annotations

import pytest

from luma_playground._errors import A_FOLDER, without_server_paths


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Invalid data found when processing input: '/home/alice/.local/share/lp/outputs/abc.mp4'.",
            "Invalid data found when processing input: 'abc.mp4'.",
        ),
        ("No file at '/srv/my app/x.png'.", "No file at 'x.png'."),
        ("Saved in /var/lib/playground/outputs.", f"Saved in {A_FOLDER}."),
        ("see gradio_api/file=/tmp/gradio/abc/v.mp4 now", "see gradio_api/file=v.mp4 now"),
        ("at ~/pictures/cat.png", "at cat.png"),
        (r"gone: C:\Users\bob\v.mp4", "gone: v.mp4"),
        ("(/var/lib/x.mp4)", "(x.mp4)"),
    ],
)
def test_a_server_path_is_cut_to_the_files_name(text: str, expected: str) -> None:
    """Quoted, bare, `~/`, Windows and Gradio-address paths keep the file's name; a folder is named so."""
    assert without_server_paths(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "The image URL https://example.com/a/b.png could not be fetched.",
        "The video is at http://127.0.0.1:7860/videos/abc.mp4.",
        "1280*720 or 720*1280, 5 s / 10 s, and/or 24/7",
        "Use /generate with a picture.",
    ],
)
def test_urls_and_plain_words_are_kept(text: str) -> None:
    """A URL's path, a single `/word`, sizes and slashes between words are not server paths."""
    assert without_server_paths(text) == text
