"""The settings of a saved video, kept inside its MP4 so that the file alone says how it was made."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av

from ._journal import TaskRecord
from .media import write_metadata

__all__ = ["keep_settings", "settings_of"]

logger = logging.getLogger("luma_playground")

#: The stream copy holds the GIL for much of its time: one at a time, so that a crowd of videos
#: finishing together does not starve the event loop (six threads at it, the default executor's
#: count on two cores, took turns with the loop for every socket it served).
_TAGGING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="luma-tags")


def settings_of(record: TaskRecord, task_id: str) -> dict[str, str]:
    """The settings a task's video carries: prompt, size, duration, model and task id."""
    return {
        "prompt": record.prompt,
        "size": record.size,
        "duration": str(record.duration),
        "model": record.model,
        "task_id": task_id,
    }


async def keep_settings(video: Path, record: TaskRecord, task_id: str) -> None:
    """Write the task's settings into its downloaded MP4 (a stream copy, off the event loop).

    A file the muxer cannot read keeps its bytes as downloaded: the video matters more than its tags.
    """
    try:
        settings = settings_of(record, task_id)
        await asyncio.get_running_loop().run_in_executor(_TAGGING, write_metadata, video, settings)
    except (av.FFmpegError, ValueError, OSError) as error:
        logger.warning("could not write the settings into %s: %s", video.name, error)
