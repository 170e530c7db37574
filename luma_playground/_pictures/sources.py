"""Every picture crosses one boundary as a `Picture`: a local file that a checked way in made.

A `Picture` is made only by its constructors, each one way in: a file inside the visitor's own
material (`within`: their uploads, the zip they sent), a picture fetched from a public http(s) URL
by the playground's own checked fetch (the address resolved and pinned, each redirect checked,
20 MB at most), a decoded `data:image/...;base64,` URI, a frame the playground made itself, a row
it recorded when the picture was checked, or a file the operator names on their own machine
(`from_operator_file`, the command line's way in). A path a web caller names is never read: it
resolves inside that caller's material or is refused with `NOT_YOURS`, which names no path and
says nothing of whether a file is there.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path

from .._errors import InvalidRequest
from .urls import FETCH_MAX_BYTES, fetch_image

__all__ = ["NOT_YOURS", "Picture", "check_data_uri", "is_data_uri", "is_url", "picture_from_text"]

#: The one answer to a picture named by a path outside the caller's own material.
NOT_YOURS = (
    "The picture must be a file you sent with this request (an upload of yours), "
    "an http(s) URL or a data:image/...;base64, URI."
)

_DATA_URI = re.compile(r"data:image/([a-z0-9.+-]+)(?:;[a-z0-9.+-]+=[^;,]*)*;base64,", re.IGNORECASE)
_SUFFIX = {"jpeg": ".jpg", "jpg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif", "bmp": ".bmp"}
#: Held only by this module's constructors: a `Picture` made any other way raises `TypeError`.
_SEAL = object()


class Picture:
    """A picture file the playground may read and upload; only its constructors make one.

    `source` says which way it came in: upload, url, inline, frame, recorded or operator.
    """

    __slots__ = ("path", "source")

    path: Path
    source: str

    def __init__(self, path: Path, source: str, seal: object = None) -> None:
        if seal is not _SEAL:
            raise TypeError("A Picture is made by its constructors (Picture.within, Picture.from_url, ...).")
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "source", source)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("A Picture cannot be changed.")

    def __repr__(self) -> str:
        return f"Picture({self.path.name!r}, source={self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Picture) and (self.path, self.source) == (other.path, other.source)

    def __hash__(self) -> int:
        return hash((self.path, self.source))

    def __fspath__(self) -> str:
        return str(self.path)

    @classmethod
    def within(cls, path: str | Path, folders: Iterable[Path], *, source: str = "upload") -> Picture:
        """The file at `path` if it lies inside one of `folders` (links followed); `NOT_YOURS` otherwise.

        Whether the file is missing, elsewhere or not a file, the answer is the same sentence.
        """
        try:
            resolved = Path(os.path.realpath(path))
            roots = [Path(os.path.realpath(folder)) for folder in folders]
        except (OSError, ValueError):
            raise InvalidRequest(NOT_YOURS, field="image") from None
        if not any(resolved.is_relative_to(root) for root in roots) or not resolved.is_file():
            raise InvalidRequest(NOT_YOURS, field="image")
        return cls(resolved, source, _SEAL)

    @classmethod
    def from_operator_file(cls, path: str | Path) -> Picture:
        """A file the operator names on their own machine (the command line's way in, and only its).

        The message names the path: it is the operator's own, on their own machine.
        """
        file = Path(path).expanduser()
        if not file.is_file():
            raise InvalidRequest(f"No image file at {file}.", field="image")
        return cls(file.resolve(), "operator", _SEAL)

    @classmethod
    def made_here(cls, path: Path, folder: Path) -> Picture:
        """A picture the playground wrote itself into `folder` (a shot's last frame)."""
        return cls.within(path, [folder], source="frame")

    @classmethod
    def recorded(cls, path: str | Path) -> Picture:
        """A picture the playground checked when a batch was made, read back from its own store.

        Only rows the playground wrote itself come this way: their pictures passed a checked
        way in before the row was kept.
        """
        return cls(Path(path), "recorded", _SEAL)

    @classmethod
    async def from_url(cls, url: str, folder: Path) -> Picture:
        """A public http(s) picture, fetched by the playground's checked fetch into `folder`."""
        return cls(await fetch_image(url, folder), "url", _SEAL)

    @classmethod
    async def from_data_uri(cls, text: str, folder: Path) -> Picture:
        """An inline `data:image/...;base64,` picture, decoded into `folder`."""
        path = await asyncio.to_thread(_decode, check_data_uri(text), folder)
        return cls(path, "inline", _SEAL)


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def is_data_uri(text: str) -> bool:
    return text[:5].lower() == "data:"


async def picture_from_text(image: str | Picture, folder: Path) -> Picture:
    """A picture from what a caller sent as text: a URL fetched, a data URI decoded; a path refused."""
    if isinstance(image, Picture):
        return image
    if is_url(image):
        return await Picture.from_url(image, folder)
    if is_data_uri(image):
        return await Picture.from_data_uri(image, folder)
    raise InvalidRequest(NOT_YOURS, field="image")


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
        # Written aside, then renamed: the same picture sent twice at once is never read half-written.
        partial = path.with_name(f"{path.name}.{secrets.token_hex(6)}.part")
        partial.write_bytes(data)
        os.replace(partial, path)
    return path
