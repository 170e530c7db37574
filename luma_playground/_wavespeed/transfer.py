"""The video download: streamed to a temporary file, checked, then moved into place."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from .._errors import OutputError, OutputExpired

__all__ = ["MAX_VIDEO_BYTES", "ProgressCallback", "download_once"]

#: Largest video we accept: a 10 s 1280x720 H.264 clip is a few MB; this stops a runaway body.
MAX_VIDEO_BYTES = 512 * 1024 * 1024
_CHUNK_BYTES = 256 * 1024

ProgressCallback = Callable[[int, "int | None"], None]


async def download_once(
    http: httpx.AsyncClient,
    url: str,
    dest: Path,
    *,
    task_id: str | None,
    on_progress: ProgressCallback | None,
    max_bytes: int,
) -> Path:
    """One attempt at saving the video at `url` as `dest`: all of it, or nothing."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        # No Authorization header: output URLs are public and may be on another host.
        async with http.stream("GET", url) as response:
            _check_status(response, task_id)
            total = int(response.headers.get("Content-Length") or 0) or None
            received = await _write_body(response, partial, total, on_progress, max_bytes)
        if total is not None and received != total:
            raise OutputError("The video download was cut short.", task_id=task_id)
        _check_mp4(partial, task_id)
        os.replace(partial, dest)
        return dest
    except httpx.TransportError as exc:
        raise OutputError("The video download was interrupted.", task_id=task_id) from exc
    finally:
        partial.unlink(missing_ok=True)


def _check_status(response: httpx.Response, task_id: str | None) -> None:
    if response.status_code in (403, 404, 410):
        raise OutputExpired(
            "The video is no longer available on WaveSpeed (outputs are kept for 7 days).",
            task_id=task_id,
        )
    if response.status_code >= 400:
        raise OutputError(f"Downloading the video failed (HTTP {response.status_code}).", task_id=task_id)


async def _write_body(
    response: httpx.Response,
    partial: Path,
    total: int | None,
    on_progress: ProgressCallback | None,
    max_bytes: int,
) -> int:
    received = 0
    with partial.open("wb") as file:
        async for chunk in response.aiter_raw(_CHUNK_BYTES):
            received += len(chunk)
            if received > max_bytes:
                raise OutputError("The video is larger than any this model makes; refused.")
            file.write(chunk)
            if on_progress is not None:
                on_progress(received, total)
    return received


def _check_mp4(path: Path, task_id: str | None) -> None:
    with path.open("rb") as file:
        head = file.read(12)
    if len(head) < 12 or head[4:8] != b"ftyp":
        raise OutputError("The downloaded file is not an MP4 video.", task_id=task_id)
