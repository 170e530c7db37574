"""Uploaded images: checked with Pillow, stored under a random name, found again by URL.

An image's type is read from its bytes: the two-step upload of an unnamed stream (the official
SDK sends a `BytesIO` as `upload`, with no content type) is taken like a named one.
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image

from ._validation import InvalidInput

#: Pillow format -> file extension, for the documented image types (MPO is a phone JPEG).
FORMAT_EXTENSIONS = {
    "JPEG": "jpg",
    "MPO": "jpg",
    "PNG": "png",
    "WEBP": "webp",
    "GIF": "gif",
    "BMP": "bmp",
    "TIFF": "tiff",
}
CONTENT_TYPES = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
}
_EXTENSION_ALIASES = {"jpeg": "jpg", "tif": "tiff"}
_UPLOAD_PATH = re.compile(r"/media/uploads/([0-9a-f]{32}(?:\.[a-z]{3,4})?)$")


@dataclass(frozen=True, slots=True)
class Upload:
    """A stored image."""

    name: str
    path: Path
    sha256: str
    size: int
    filename: str
    content_type: str


@dataclass(frozen=True, slots=True)
class PendingUpload:
    """A name handed out by the two-step upload, waiting for its bytes."""

    name: str
    token: str
    filename: str


class UploadStore:
    """Images by name, in one folder."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self._dir = directory
        self._dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._uploads: dict[str, Upload] = {}
        self._pending: dict[str, PendingUpload] = {}

    def save(self, data: bytes, filename: str) -> Upload:
        """Check and store an image sent in one request."""
        extension = self._check(data)
        return self._store(f"{uuid.uuid4().hex}.{extension}", data, filename, extension)

    def save_inline(self, data: bytes) -> Upload:
        """Check and store an image sent inside a submission (a data URI), once per distinct picture."""
        extension = self._check(data, "image data URI")
        # Named by content: the same picture sent again reuses its file instead of adding one.
        name = f"{hashlib.sha256(data).hexdigest()[:32]}.{extension}"
        return self._uploads.get(name) or self._store(name, data, name, extension)

    def reserve(self, filename: str, size: int, content_type: str | None) -> PendingUpload:
        """Hand out a name and a token for a later PUT of the bytes (named by type when it is told)."""
        if size > self.max_bytes:
            raise InvalidInput(f"size {size} exceeds the limit of {self.max_bytes} bytes")
        extension = _extension_of(filename, content_type)
        name = uuid.uuid4().hex + (f".{extension}" if extension else "")
        pending = PendingUpload(name, secrets.token_urlsafe(16), filename)
        self._pending[pending.name] = pending
        return pending

    def complete(self, name: str, token: str, data: bytes) -> Upload | None:
        """Store the bytes of a reserved upload; None when the name and token do not match."""
        pending = self._pending.get(name)
        if pending is None or not secrets.compare_digest(pending.token, token):
            return None
        extension = self._check(data)
        del self._pending[name]
        return self._store(name, data, pending.filename, extension)

    def get(self, name: str) -> Upload | None:
        """The upload with this name."""
        return self._uploads.get(name)

    def find_by_url(self, url: str) -> Upload | None:
        """The upload an image URL points at, whatever its host; None for anything else."""
        match = _UPLOAD_PATH.search(urlsplit(url).path)
        return self._uploads.get(match.group(1)) if match else None

    def _check(self, data: bytes, what: str = "file") -> str:
        if len(data) > self.max_bytes:
            raise InvalidInput(f"{what} exceeds the limit of {self.max_bytes} bytes")
        if not data:
            raise InvalidInput(f"{what} is empty")
        image_format = _image_format(data)
        if image_format not in FORMAT_EXTENSIONS:
            raise InvalidInput(f"{what} must be an image: JPG, JPEG, PNG, WebP, GIF, BMP or TIFF")
        return FORMAT_EXTENSIONS[image_format]

    def _store(self, name: str, data: bytes, filename: str, extension: str) -> Upload:
        path = self._dir / name
        path.write_bytes(data)
        upload = Upload(
            name=name,
            path=path,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            filename=filename or name,
            content_type=CONTENT_TYPES[extension],
        )
        self._uploads[name] = upload
        return upload


def _image_format(data: bytes) -> str | None:
    """The Pillow format of `data` if it is a readable image, else None."""
    with warnings.catch_warnings():
        # An absurd pixel count is refused like any unreadable image.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                image_format = image.format
                image.verify()
        except (
            OSError,
            SyntaxError,
            ValueError,
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,
        ):
            return None
    return image_format


def _extension_of(filename: str, content_type: str | None) -> str | None:
    """The image type a name or content type gives; None when neither says (the bytes will).

    A name or type that says it is something other than an image is refused at once.
    """
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    suffix = _EXTENSION_ALIASES.get(suffix, suffix)
    if suffix in CONTENT_TYPES:
        return suffix
    for extension, known_type in CONTENT_TYPES.items():
        if content_type == known_type:
            return extension
    if suffix or (content_type and content_type != "application/octet-stream"):
        raise InvalidInput("filename or content_type must name an image: JPG, PNG, WebP, GIF, BMP or TIFF")
    return None
