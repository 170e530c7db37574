"""Tasks created elsewhere (another client, the same key), taken into the journal to be followed and kept."""

from __future__ import annotations

import contextlib
from typing import Any

from .._config import MODEL_ID, ApiKey
from .._errors import LumaPlaygroundError
from .._journal.journal import TaskRecord
from .._playground import Playground
from .._wavespeed.client import WaveSpeedClient

__all__ = ["adopt"]


async def adopt(
    playground: Playground, task_id: str, user_key: ApiKey | None = None, owner: str = "local"
) -> TaskRecord:
    """A journal row for a task created elsewhere, so that it is followed and kept like ours."""
    backend, key = playground.backend_for(user_key)
    prediction = await backend.client.get(task_id, api_key=key)
    given = await _task_input(backend.client, prediction.id, key)
    row_id = await playground.journal.abegin(
        model=prediction.model or MODEL_ID,
        backend=backend.name,
        base_url=backend.client.base_url,
        owner=owner,
        key_fingerprint=key.fingerprint if key else "",
        prompt=str(given.get("prompt") or ""),
        size=str(given.get("size") or ""),
        duration=_int_or_zero(given.get("duration")),
        image="",
        image_url=given.get("image") if isinstance(given.get("image"), str) else None,
    )
    await playground.journal.aupdate(
        row_id, "created", detail="created by another client", task_id=prediction.id
    )
    record = playground.journal.get(row_id)
    assert record is not None
    return record


async def _task_input(client: WaveSpeedClient, task_id: str, key: ApiKey | None) -> dict[str, Any]:
    """The input a task was created with, from the recent task history (asked with `include_inputs`);
    empty when the task is not there or WaveSpeed's history gives no inputs (its documented items)."""
    with contextlib.suppress(LumaPlaygroundError):
        for item in await client.history(api_key=key):
            if item.get("id") == task_id and isinstance(item.get("input"), dict):
                return dict(item["input"])
    return {}


def _int_or_zero(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0
