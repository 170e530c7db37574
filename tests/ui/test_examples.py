"""The sample pictures: shipped, small, of the orientation their example asks for, redrawable."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from luma_playground._pictures.checks import suggested_size
from luma_playground.ui.examples import EXAMPLES, render_examples


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.filename)
def test_shipped_examples_fit_their_settings(example) -> None:  # type: ignore[no-untyped-def]
    """Each sample is a small JPEG whose orientation matches its size, with a real prompt."""
    assert example.path.stat().st_size < 200_000
    with Image.open(example.path) as image:
        assert image.format == "JPEG"
    assert suggested_size(example.path).value == example.size
    assert example.duration in (5, 10) and len(example.prompt) > 40


def test_examples_can_be_drawn_again(tmp_path: Path) -> None:
    """`render_examples` draws every sample again into a folder."""
    paths = render_examples(tmp_path)
    assert sorted(p.name for p in paths) == sorted(e.filename for e in EXAMPLES)
    orientations = set()
    for path in paths:
        with Image.open(path) as image:
            orientations.add(image.width > image.height)
    assert orientations == {True, False}
