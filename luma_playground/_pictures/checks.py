"""Checking an input image before anything is paid for, and preparing it for upload."""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

from PIL import Image, UnidentifiedImageError

from .._errors import InvalidRequest
from .._request import Size
from .._wavespeed.connections import FairWorkers
from .decoding import DECODES, fitted_size, in_strips, png_in_strips, strips_cost

__all__ = [
    "ALLOWED_FORMATS",
    "ANALYSIS_MAX_PIXELS",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "ImageInfo",
    "PreparedImage",
    "check_image",
    "decoded_pixels",
    "in_image_worker",
    "prepare_image",
    "shrunk",
    "suggested_size",
    "upright",
]

T = TypeVar("T")

#: Decoding images holds the GIL in short bursts: more than two threads at it only fight over
#: it, and starve the event loop (200 checks at once: 10x the loop's lag on two cores).
#: Callers waiting for one are served one key at a time.
_IMAGE_WORKERS = FairWorkers(2, "luma-image")
#: Pixels decoded in full for analysis (checks, previews). Above it, an image is checked without
#: holding its pixels (PNG chunk checksums, JPEG at 1/8 scale) and gets no picture preview; its
#: upload's scale-down decodes a PNG in strips. Every decode holds its pixels of `DECODES` (two
#: decodes at the ceiling fill it), whichever thread asks: a larger one waits to run alone.
ANALYSIS_MAX_PIXELS = 16_000_000


async def in_image_worker(function: Callable[..., T], *args: object, turn: str = "") -> T:
    """Run an image check or re-encode off the event loop, at most two at a time.

    Callers waiting for a worker are served one `turn` (the paying key's fingerprint) at a time,
    so that another key's batch of hundreds never queues in front of a visitor's one picture.
    """
    return await _IMAGE_WORKERS.run(turn, function, *args)


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
    orientation = _orientation(image)
    image_format = str(image.format)
    _verify(image)  # a truncated or damaged file fails here, not on the server
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return ImageInfo(image_format, width, height, size_bytes, orientation)


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation, read from the header alone."""
    if image.format == "PNG" and "exif" not in image.info:
        # Pillow would decode every pixel to look for an eXIf chunk after them (none, nearly always).
        return 1
    return int(image.getexif().get(0x0112, 1) or 1)


def _verify(image: Image.Image) -> None:
    """Read the whole file, holding no more pixels than the analysis ceiling allows."""
    if image.format in ("JPEG", "MPO"):
        # Decodes every block, at 1/8 scale: a 60-megapixel photo takes about 3 MB.
        image.draft(image.mode, (image.width // 8, image.height // 8))
    pixels = image.width * image.height
    if pixels > ANALYSIS_MAX_PIXELS and image.format == "PNG":
        image.verify()  # every chunk's checksum, the end marker included; no pixels held
        return
    with DECODES.held(pixels):
        image.load()


#: EXIF orientation -> the transpose that turns the picture upright.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def upright(image: Image.Image, orientation: int) -> Image.Image:
    """The picture turned upright from its EXIF orientation (itself when already upright).

    The turned picture carries no EXIF: a viewer would otherwise turn it once more.
    """
    method = _UPRIGHT.get(orientation)
    if method is None:
        return image
    turned = image.transpose(method)
    turned.info.pop("exif", None)
    return turned


def decoded_pixels(path: Path, side: int) -> int:
    """How many pixels opening `path` for a `side` x `side` picture decodes (JPEG: reduced)."""
    with Image.open(path) as image:
        image.draft("RGB", (side, side))
        return image.width * image.height


def shrunk(path: Path, side: int) -> Image.Image:
    """The picture at `path` scaled to fit `side` x `side`, decoded as small as the format allows.

    JPEG decodes at a reduced scale; a PNG above the ceiling in strips; the rest in full.
    """
    with Image.open(path) as image:
        image.draft("RGB", (side, side))
        pixels = image.width * image.height
        if pixels > ANALYSIS_MAX_PIXELS and in_strips(image):
            size = fitted_size(image.width, image.height, side)
            with DECODES.held(strips_cost(image.width, image.height, size)):
                return png_in_strips(image, size)
        with DECODES.held(pixels):
            image.thumbnail((side, side), Image.Resampling.LANCZOS)
            return image.copy()  # the opened image's pixels go with its file


def suggested_size(path: Path) -> Size:
    """Portrait for an upright image, landscape otherwise (EXIF orientation included).

    The size comes from the header; the check reads the file within the analysis ceiling.
    """
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
    # Scaled down before it is turned: the turn then moves a 2560 px picture, not the original.
    picture = upright(shrunk(path, UPLOAD_MAX_SIDE), info.orientation)
    buffer = io.BytesIO()
    has_alpha = picture.mode in ("RGBA", "LA") or (picture.mode == "P" and "transparency" in picture.info)
    if has_alpha:
        picture.save(buffer, "PNG", optimize=False)
        return PreparedImage("image.png", "image/png", data=buffer.getvalue())
    picture.convert("RGB").save(buffer, "JPEG", quality=92, subsampling=0)
    return PreparedImage("image.jpg", "image/jpeg", data=buffer.getvalue())
