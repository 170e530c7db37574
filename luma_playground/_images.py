"""Checking an input image before anything is paid for, and preparing it for upload."""

from __future__ import annotations

import asyncio
import io
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

from PIL import Image, ImageOps, UnidentifiedImageError

from ._errors import InvalidRequest
from ._models import Size

__all__ = [
    "ALLOWED_FORMATS",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "ImageInfo",
    "PreparedImage",
    "check_image",
    "in_image_worker",
    "prepare_image",
    "suggested_size",
]

T = TypeVar("T")

#: Decoding images holds the GIL in short bursts: more than two threads at it only fight over
#: it, and starve the event loop (200 checks at once: 10x the loop's lag on two cores).
_IMAGE_WORKERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="luma-image")


async def in_image_worker(function: Callable[..., T], *args: object) -> T:
    """Run an image check or re-encode off the event loop, at most two at a time."""
    return await asyncio.get_running_loop().run_in_executor(_IMAGE_WORKERS, function, *args)


#: The upload limit WaveSpeed documents for images.
MAX_IMAGE_BYTES = 20 * 1024 * 1024
#: Beyond this an image is refused as a likely decompression bomb (a 50-megapixel photo passes).
MAX_IMAGE_PIXELS = 60_000_000
MIN_IMAGE_SIDE = 64
#: Longer sides are scaled down before upload: the video is at most 1280 px wide.
UPLOAD_MAX_SIDE = 2560
ALLOWED_FORMATS = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}
_EXTENSIONS = {
    "JPEG": "jpg",
    "MPO": "jpg",
    "PNG": "png",
    "WEBP": "webp",
    "GIF": "gif",
    "BMP": "bmp",
    "TIFF": "tiff",
}


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What a valid image is: its format, its displayed size and its EXIF orientation."""

    format: str
    width: int
    height: int
    size_bytes: int
    orientation: int = 1

    @property
    def content_type(self) -> str:
        return ALLOWED_FORMATS[self.format]


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def check_image(path: Path) -> ImageInfo:
    """Check that `path` is a whole image the API takes; `InvalidRequest` says what is wrong."""
    try:
        size_bytes = path.stat().st_size
    except OSError:
        raise InvalidRequest("The image file could not be read.", field="image") from None
    if not path.is_file():
        raise InvalidRequest("The image must be a file.", field="image")
    if size_bytes > MAX_IMAGE_BYTES:
        raise InvalidRequest(
            f"The image is {_mb(size_bytes)}; the limit is {_mb(MAX_IMAGE_BYTES)}.", field="image"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                return _check_open_image(image, size_bytes)
        except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            if isinstance(exc, UnidentifiedImageError):
                raise InvalidRequest(
                    "The file is not an image (JPG, PNG, WebP, GIF, BMP or TIFF).", field="image"
                ) from None
            raise _bomb() from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise InvalidRequest(
                "The image file is damaged or incomplete; export it again and retry.",
                field="image",
            ) from exc


def _bomb() -> InvalidRequest:
    return InvalidRequest(
        f"The image has too many pixels (the limit is {MAX_IMAGE_PIXELS // 1_000_000} megapixels).",
        field="image",
    )


def _check_open_image(image: Image.Image, size_bytes: int) -> ImageInfo:
    if image.format not in ALLOWED_FORMATS:
        raise InvalidRequest(
            f"{image.format or 'This'} images are not accepted: use JPG, PNG, WebP, GIF, BMP or TIFF.",
            field="image",
        )
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        raise _bomb()
    if min(width, height) < MIN_IMAGE_SIDE:
        raise InvalidRequest(
            f"The image is {width}×{height}; it needs at least {MIN_IMAGE_SIDE} px on each side.",
            field="image",
        )
    orientation = int(image.getexif().get(0x0112, 1) or 1)
    image_format = image.format
    image.load()  # decodes every pixel: a truncated file fails here, not on the server
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return ImageInfo(image_format, width, height, size_bytes, orientation)


def suggested_size(path: Path) -> Size:
    """Portrait for an upright image, landscape otherwise (EXIF orientation included)."""
    info = check_image(path)
    return Size.PORTRAIT if info.height > info.width else Size.LANDSCAPE


@dataclass
class PreparedImage:
    """An image ready to upload: the original file streamed from disk, or a smaller re-encode."""

    filename: str
    content_type: str
    path: Path | None = None
    data: bytes | None = None
    _files: list[IO[bytes]] = field(default_factory=list)

    @property
    def size_bytes(self) -> int:
        return len(self.data) if self.data is not None else os.path.getsize(self.path or "")

    def multipart_part(self) -> tuple[str, IO[bytes], str]:
        """A fresh (filename, stream, content type) for one upload attempt."""
        stream: IO[bytes] = (
            io.BytesIO(self.data) if self.data is not None else open(self.path or "", "rb")  # noqa: SIM115
        )
        self._files.append(stream)
        return self.filename, stream, self.content_type

    def close(self) -> None:
        for stream in self._files:
            stream.close()
        self._files.clear()


def prepare_image(path: Path) -> PreparedImage:
    """Check the image; rotate it upright and scale it down only when that is needed."""
    info = check_image(path)
    extension = _EXTENSIONS[info.format]
    if info.orientation == 1 and max(info.width, info.height) <= UPLOAD_MAX_SIDE:
        return PreparedImage(f"image.{extension}", info.content_type, path=path)
    with Image.open(path) as image:
        upright = ImageOps.exif_transpose(image)
        upright.thumbnail((UPLOAD_MAX_SIDE, UPLOAD_MAX_SIDE), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        has_alpha = upright.mode in ("RGBA", "LA") or (upright.mode == "P" and "transparency" in upright.info)
        if has_alpha:
            upright.save(buffer, "PNG", optimize=False)
            return PreparedImage("image.png", "image/png", data=buffer.getvalue())
        upright.convert("RGB").save(buffer, "JPEG", quality=92, subsampling=0)
        return PreparedImage("image.jpg", "image/jpeg", data=buffer.getvalue())
