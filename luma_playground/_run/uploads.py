"""Uploads remembered per backend, key and picture, so that one image is sent to WaveSpeed once.

Enhance (which needs the image's URL) and several videos of the same image all reuse the first
upload. Uploads are free and kept by WaveSpeed for 7 days; a URL is reused for a few hours only.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from .._config import ApiKey
from .._pictures.checks import in_image_worker
from .._wavespeed.client import WaveSpeedClient

__all__ = ["UploadCache"]

#: How long an uploaded image's URL is reused (WaveSpeed keeps uploads for 7 days).
UPLOAD_REUSE_SECONDS = 6 * 60 * 60.0
#: Pictures remembered at most, all sessions together.
UPLOAD_CACHE_SIZE = 512


def _digest(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


class UploadCache:
    """The URL of each picture uploaded by this process, by backend, key and content."""

    def __init__(
        self,
        *,
        reuse_seconds: float = UPLOAD_REUSE_SECONDS,
        size: int = UPLOAD_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reuse_seconds = reuse_seconds
        self.size = size
        self._clock = clock
        self._urls: OrderedDict[tuple[str, str, str], tuple[str, float]] = OrderedDict()
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}

    async def url_for(self, client: WaveSpeedClient, api_key: ApiKey | None, image: str) -> str:
        """The image's URL for `client`: an http(s) URL as is, a file uploaded once (prepared).

        The upload goes through `WaveSpeedClient.upload_image`, which turns the picture upright
        and scales a very large one down before sending it.
        """
        if image.startswith(("http://", "https://")):
            return image
        turn = api_key.fingerprint if api_key else ""
        # Read in the image workers in the key's turn: not behind another key's batch of pictures.
        digest = await in_image_worker(_digest, Path(image), turn=turn)
        slot = (client.base_url, turn, digest)
        # Two clicks at once (Enhance, then Generate) wait for one upload instead of making two.
        lock = self._locks.setdefault(slot, asyncio.Lock())
        try:
            async with lock:
                if (url := self._fresh(slot)) is not None:
                    return url
                url = await client.upload_image(image, api_key=api_key)
                self._remember(slot, url)
                return url
        finally:
            if not lock.locked():
                self._locks.pop(slot, None)

    def _fresh(self, slot: tuple[str, str, str]) -> str | None:
        entry = self._urls.get(slot)
        if entry is None:
            return None
        url, at = entry
        if self._clock() - at > self.reuse_seconds:
            del self._urls[slot]
            return None
        self._urls.move_to_end(slot)
        return url

    def _remember(self, slot: tuple[str, str, str], url: str) -> None:
        self._urls[slot] = (url, self._clock())
        self._urls.move_to_end(slot)
        while len(self._urls) > self.size:
            self._urls.popitem(last=False)
