"""The settings of a saved video, kept inside its MP4 so that the file alone says how it was made,
and read back from a file as any input is: checked before they reach a form.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import av

from .._errors import InvalidRequest
from .._journal.journal import TaskRecord
from .._request import OPTIONS, SETTINGS, Size, check_prompt
from .._wavespeed.connections import FairWorkers
from ..media import write_metadata
from .shot_store import ShotRecord

__all__ = ["SavedSettings", "checked_settings", "keep_settings", "settings_of", "shot_settings"]

logger = logging.getLogger("luma_playground")

#: The stream copy holds the GIL for much of its time: one at a time, so that a crowd of videos
#: finishing together does not starve the event loop (six threads at it, the default executor's
#: count on two cores, took turns with the loop for every socket it served).
#: Videos wait for it one key at a time: another key's batch of hundreds finishing together never
#: queues in front of a visitor's one.
_TAGGING = FairWorkers(1, "luma-tags")


def settings_of(record: TaskRecord, task_id: str) -> dict[str, str]:
    """The settings a task's video carries: every field but the picture (`SETTINGS`), model, task id."""
    fields = {field.name: str(getattr(record, field.name)) for field in SETTINGS}
    return {**fields, "task_id": task_id}


async def keep_settings(video: Path, record: TaskRecord, task_id: str) -> None:
    """Write the task's settings into its downloaded MP4 (a stream copy, off the event loop).

    A file the muxer cannot read keeps its bytes as downloaded: the video matters more than its tags.
    """
    try:
        settings = settings_of(record, task_id)
        await _TAGGING.run(record.key_fingerprint, write_metadata, video, settings)
    except (av.FFmpegError, ValueError, OSError) as error:
        logger.warning("could not write the settings into %s: %s", video.name, error)


@dataclass(frozen=True, slots=True)
class SavedSettings:
    """The settings a saved video carries, checked: its prompt, and its size, length and model if it says."""

    prompt: str
    size: Size | None
    duration: int | None
    model: str | None = None


def checked_settings(tags: Mapping[str, str]) -> SavedSettings | None:
    """The settings in a file's tags, checked like the form's input; None for a file without any.

    A file is the visitor's to edit: one `InvalidRequest` names the first setting that is not
    one the playground takes, in its own words (never the file's text).
    """
    prompt = tags.get("prompt")
    if not prompt:
        return None
    try:
        check_prompt(prompt)
    except InvalidRequest as error:
        raise InvalidRequest(f"This file's settings cannot be used: {_lower_first(error.message)}") from None
    found: dict[str, object] = {}
    for field in OPTIONS:
        text = tags.get(field.name)
        found[field.name] = None if text is None else field.value_of(text)
        if text is not None and found[field.name] is None:
            raise InvalidRequest(
                f"This file's settings cannot be used: its {field.name} is not {field.spelled()}.",
                field=field.name,
            )
    size, duration, model = found["size"], found["duration"], found["model"]
    return SavedSettings(
        prompt,
        Size(size) if isinstance(size, str) else None,
        duration if isinstance(duration, int) else None,
        model if isinstance(model, str) else None,
    )


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def shot_settings(shot: ShotRecord, records: list[TaskRecord]) -> dict[str, str]:
    """The settings a shot's MP4 carries: its first clip's, and the task id, prompt and length of each."""
    first = records[0]
    return {
        **settings_of(first, first.task_id or ""),
        "shot": shot.name,
        "segments": ",".join(record.task_id or "" for record in records),
        "segment_prompts": json.dumps([record.prompt for record in records], ensure_ascii=False),
        "segment_durations": ",".join(str(record.duration) for record in records),
    }
