"""Every saved MP4 carries the settings it was made with."""

from __future__ import annotations

import pytest

from luma_playground import GenerationRequest, Picture
from luma_playground._guard.limits import Caller
from luma_playground.media import read_metadata

pytestmark = pytest.mark.anyio


async def test_a_saved_video_carries_its_settings(playground, landscape_image) -> None:
    """After the download the MP4's metadata holds its prompt, size, duration, model and task id."""
    request = GenerationRequest.create(
        Picture.from_operator_file(landscape_image), "a slow pan, été", size="1280*720", duration=5
    )
    [job] = await playground.start(request, Caller("local"))
    done = await job.wait()
    assert read_metadata(done.video_path) == {
        "prompt": "a slow pan, été",
        "size": "1280*720",
        "duration": "5",
        "model": "luma/ray-2-i2v",
        "task_id": done.task_id,
    }
    record = playground.journal.by_task_id(done.task_id)
    assert record is not None and record.video_path == str(done.video_path)
