"""Every picture becomes a local file before anything is paid: a URL is fetched, a data URI decoded.

The playground never hands WaveSpeed a URL it has not checked itself: a public http(s) picture is
fetched by `fetch_image` (the address resolved and pinned, each redirect checked, 20 MB at most)
and then checked and uploaded like a file. Agents may send a `data:image/...;base64,` URI.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re
from pathlib import Path

from ._errors import InvalidRequest
from ._urls import FETCH_MAX_BYTES, fetch_image

__all__ = ["check_data_uri", "is_data_uri", "local_picture"]

_DATA_URI = re.compile(r"data:image/([a-z0-9.+-]+)(?:;[a-z0-9.+-]+=[^;,]*)*;base64,", re.IGNORECASE)
_SUFFIX = {"jpeg": ".jpg", "jpg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif", "bmp": ".bmp"}


def is_data_uri(text: str) -> bool:
    return text[:5].lower() == "data:"


def check_data_uri(text: str) -> str:
    """The URI if it is a base64 picture of at most 20 MB; one `InvalidRequest` otherwise."""
    match = _DATA_URI.match(text)
    if match is None:
        raise InvalidRequest(
            "An inline picture must be a data URI of the form data:image/png;base64,…", field="image"
        )
    if (len(text) - match.end()) * 3 // 4 > FETCH_MAX_BYTES:
        raise InvalidRequest("The inline picture is larger than the 20 MB limit.", field="image")
    return text


def _decode(text: str, folder: Path) -> Path:
    match = _DATA_URI.match(text)
    assert match is not None  # checked by `check_data_uri` when the request was made
    try:
        data = base64.b64decode(text[match.end() :], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("The inline picture is not valid base64.", field="image") from None
    if not data:
        raise InvalidRequest("The inline picture is empty.", field="image")
    suffix = _SUFFIX.get(match.group(1).lower(), ".img")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"inline-{hashlib.sha256(data).hexdigest()[:24]}{suffix}"
    if not path.exists():
        path.write_bytes(data)
    return path


async def local_picture(image: str, folder: Path) -> Path:
    """The picture as a local file: fetched from a URL, decoded from a data URI, or as given."""
    if image.startswith(("http://", "https://")):
        return await fetch_image(image, folder)
    if is_data_uri(image):
        return await asyncio.to_thread(_decode, check_data_uri(image), folder)
    return Path(image)
