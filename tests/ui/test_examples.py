"""The sample pictures: shipped, small, of the orientation their example asks for."""

from __future__ import annotations

import pytest
from PIL import Image

from luma_playground._pictures.checks import suggested_size
from luma_playground.ui.examples import EXAMPLES


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.filename)
def test_shipped_examples_fit_their_settings(example) -> None:  # type: ignore[no-untyped-def]
    """Each sample is a small JPEG whose orientation matches its size, with a real prompt."""
    assert example.path.stat().st_size < 200_000
    with Image.open(example.path) as image:
        assert image.format == "JPEG"
    assert suggested_size(example.path).value == example.size
    assert example.duration in (5, 10) and len(example.prompt) > 40
