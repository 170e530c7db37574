"""The shot panel's handlers: a dropped MP4's settings fill the form again."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from luma_playground import GenerationRequest, Picture
from luma_playground.ui._cost import CostBook
from luma_playground.ui._shots_panel import ShotHandlers

from .conftest import fake_request

pytestmark = pytest.mark.anyio


async def test_a_dropped_video_offers_its_settings_again(
    playground, handlers, landscape_image, tmp_path
) -> None:
    """A saved MP4 dropped on the page shows its prompt and fills prompt, size, length and picture."""
    request = GenerationRequest.create(
        Picture.from_operator_file(landscape_image), "waves under a low sun", size="1280*720", duration=10
    )
    [job] = await handlers.store.start(handlers.store.visit(fake_request()), request)
    video = (await job.wait()).video_path
    dropped = tmp_path / "downloaded.mp4"
    dropped.write_bytes(video.read_bytes())
    shots = ShotHandlers(playground, handlers.store, CostBook(playground, handlers.store))
    note, offer = await shots.read_settings(str(dropped))
    assert "waves under a low sun" in note and offer["visible"] is True
    prompt, size, duration, picture = await shots.use_settings(str(dropped))
    assert (prompt, size, duration) == ("waves under a low sun", "1280*720", 10)
    with Image.open(picture) as image:
        assert image.size == (1280, 720)
    plain = tmp_path / "plain.mp4"
    plain.write_bytes(b"not a video")
    note, offer = await shots.read_settings(str(plain))
    assert "cannot be read" in note and offer["visible"] is False
    assert Path(picture).parent == playground.settings.data_dir / "pictures"
