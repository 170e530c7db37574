"""Work on a saved or uploaded video off the event loop; a file it cannot decode is `UnreadableVideo`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import av

from .._errors import UnreadableVideo

__all__ = ["DAMAGED", "UNREADABLE", "read_video"]

logger = logging.getLogger("luma_playground")

_T = TypeVar("_T")

#: What PyAV raises on a damaged or cut-short file (its words name the file's path: never shown).
DAMAGED: tuple[type[Exception], ...] = (av.FFmpegError, EOFError)
#: The same, with the media functions' own `ValueError` ("no video stream", "no frames").
UNREADABLE: tuple[type[Exception], ...] = (*DAMAGED, ValueError)


async def read_video(video: Path, work: Callable[..., _T], *args: object, task_id: str | None = None) -> _T:
    """`work(*args)` in a worker thread; a failure to decode `video` becomes `UnreadableVideo`.

    The reason, which names the file's path, goes to the server's log only.
    """
    try:
        return await asyncio.to_thread(work, *args)
    except UNREADABLE as error:
        logger.warning("cannot read the video %s: %s", video.name, error)
        raise UnreadableVideo(task_id=task_id) from None
