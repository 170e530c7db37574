"""Pictures decoded in bounded memory: a budget of pixels held at once, large PNGs in strips.

`DECODES` bounds the decodes that run at once across the process, in pixels held and in number: a
decode waits, first come first served, until its pixels fit and a place is free; one larger than the
whole budget waits to run alone. Eight large pictures given at once queue instead of all decoding
together, whichever threads ask.

`png_in_strips` scales a large PNG down a strip of rows at a time, so that it never holds the whole
picture: 45 MB for a 7700 x 7700 PNG scaled to 2560 px, where decoding it whole takes 330 MB. The
rows are inflated here; Pillow's own PNG decoder undoes their filters, a strip at a time (each strip
a small stream of its own that starts with the row before it, stored as is); the strips are then
resampled with the Lanczos filter of `Image.resize`, first across, then down with enough rows on
either side. The pixels are those of resizing the whole picture.
"""

from __future__ import annotations

import math
import struct
import threading
import zlib
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TypeGuard

from PIL import Image, PngImagePlugin

__all__ = [
    "DECODES",
    "STRIP_ROWS",
    "PixelBudget",
    "fitted_size",
    "in_strips",
    "png_in_strips",
    "strips_cost",
]


class PixelBudget:
    """At most `capacity` pixels held by at most `at_once` decodes; a larger decode runs alone.

    `most_in_use` is the most pixels ever held at once, `waits` how many decodes waited their turn.
    """

    def __init__(self, capacity: int, *, at_once: int) -> None:
        self.capacity = capacity
        self.at_once = at_once
        self.in_use = 0
        self.running = 0
        self.most_in_use = 0
        self.waits = 0
        self._queue: deque[object] = deque()
        self._changed = threading.Condition()

    @contextmanager
    def held(self, pixels: int) -> Iterator[None]:
        """Hold `pixels` of the budget for the block, once it is this decode's turn and they fit."""
        self._acquire(pixels)
        try:
            yield
        finally:
            with self._changed:
                self.in_use -= pixels
                self.running -= 1
                self._changed.notify_all()

    def _acquire(self, pixels: int) -> None:
        turn = object()
        with self._changed:
            self._queue.append(turn)
            if not self._may_start(turn, pixels):
                self.waits += 1
                try:
                    self._changed.wait_for(lambda: self._may_start(turn, pixels))
                except BaseException:
                    self._queue.remove(turn)
                    self._changed.notify_all()
                    raise
            self._queue.popleft()
            self.in_use += pixels
            self.running += 1
            self.most_in_use = max(self.most_in_use, self.in_use)
            self._changed.notify_all()  # the next in line may fit as well

    def _may_start(self, turn: object, pixels: int) -> bool:
        fits = self.running == 0 or (self.running < self.at_once and self.in_use + pixels <= self.capacity)
        return self._queue[0] is turn and fits


#: Two decodes at once, of the analysis ceiling (16 megapixels, 4 bytes a pixel) at most: 130 MB.
#: More threads at it only fight over the GIL (decoding holds it in short bursts).
DECODES = PixelBudget(32_000_000, at_once=2)

#: Source rows decoded per strip, about: 3 MB of a 7700 px wide RGB picture.
STRIP_ROWS = 128
#: Copies of a strip held while it is decoded: inflated, stored again, unfiltered, converted.
_STRIP_COPIES = 4
#: Bits a pixel of each PNG raw mode that decodes in strips (8 bits a sample or fewer).
_BITS = {
    "1": 1,
    "L;2": 2,
    "L;4": 4,
    "L": 8,
    "P;1": 1,
    "P;2": 2,
    "P;4": 4,
    "P": 8,
    "LA": 16,
    "RGB": 24,
    "RGBA": 32,
}
#: Pillow modes that keep rows of 1 to 4 bytes a pixel exactly, by bytes a pixel.
_CARRIERS = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
#: Alpha is resampled premultiplied, as `Image.resize` does.
_PREMULTIPLIED = {"RGBA": "RGBa", "LA": "La"}
_STRAIGHT = {value: key for key, value in _PREMULTIPLIED.items()}
#: The Lanczos filter reaches this many source pixels either side, per pixel of the result.
_LANCZOS_SUPPORT = 3.0


def fitted_size(width: int, height: int, side: int) -> tuple[int, int]:
    """The size of a width x height picture scaled to fit `side` x `side` (itself if it fits)."""
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def in_strips(image: Image.Image) -> TypeGuard[PngImagePlugin.PngImageFile]:
    """Whether `image` (opened, not loaded) is a PNG that `png_in_strips` can scale down."""
    if not isinstance(image, PngImagePlugin.PngImageFile) or len(image.tile) != 1:
        return False
    tile = image.tile[0]
    return (
        tile.extents == (0, 0, *image.size)
        and tile.args in _BITS
        and not image.info.get("interlace")
        and not image.is_animated
    )


def _plan(height: int, out_height: int) -> tuple[float, int, int]:
    """Source rows per row of the result, rows of the result per strip, rows kept either side."""
    step = height / out_height
    return step, max(1, STRIP_ROWS // math.ceil(step)), math.ceil(_LANCZOS_SUPPORT * step) + 2


def strips_cost(width: int, height: int, size: tuple[int, int]) -> int:
    """The pixels `png_in_strips` holds at most for a width x height PNG scaled to `size`."""
    step, rows_out, margin = _plan(height, size[1])
    rows = min(height, math.ceil(rows_out * step) + margin + 2)
    return size[0] * size[1] + _STRIP_COPIES * width * rows


class _Scanlines:
    """The PNG's filtered rows, each with its filter byte, inflated as they are asked for."""

    def __init__(self, file: IO[bytes], offset: int, row_bytes: int) -> None:
        self._chunks = _image_data(file, offset)
        self._inflater = zlib.decompressobj()
        self._compressed = b""
        self._row_bytes = row_bytes

    def take(self, rows: int) -> list[bytes]:
        """The next `rows` rows, in pieces."""
        wanted = rows * (self._row_bytes + 1)
        pieces = []
        while wanted:
            if not self._compressed:
                chunk = next(self._chunks, None)
                if chunk is None:
                    raise OSError("The PNG's image data ends before its last row.")
                self._compressed = chunk
            try:
                piece = self._inflater.decompress(self._compressed, wanted)
            except zlib.error as exc:
                raise OSError(f"The PNG's image data is damaged ({exc}).") from None
            self._compressed = self._inflater.unconsumed_tail
            pieces.append(piece)
            wanted -= len(piece)
        return pieces


def _image_data(file: IO[bytes], offset: int) -> Iterator[bytes]:
    """The data of each IDAT chunk in turn, the first one's data starting at `offset`."""
    file.seek(offset - 8)
    while True:
        head = file.read(8)
        if len(head) < 8:
            raise OSError("The PNG ends inside its image data.")
        length, kind = struct.unpack(">I4s", head)
        if kind != b"IDAT":
            return
        yield file.read(length)
        file.seek(4, 1)  # the chunk's checksum, checked by `check_image`


class _StripDecoder:
    """Turns filtered rows into pixels, given the unfiltered row before them."""

    def __init__(self, image: PngImagePlugin.PngImageFile) -> None:
        self.image = image
        self.rawmode = str(image.tile[0].args)
        bits = _BITS[self.rawmode]
        self.row_bytes = (image.width * bits + 7) // 8
        self.pixel_bytes = (bits + 7) // 8
        self.carrier = _CARRIERS[self.pixel_bytes]
        if image.mode == "P":
            self.mode = "RGBa" if "transparency" in image.info else "RGB"
        else:
            self.mode = _PREMULTIPLIED.get(image.mode, "L" if image.mode == "1" else image.mode)

    def unfiltered(self, before: bytes, filtered: list[bytes], rows: int) -> Image.Image:
        """The rows exactly as stored, after the row `before` (kept as it is: filter type 0)."""
        stream = zlib.compress(b"".join([b"\0", before, *filtered]), 0)
        size = (self.row_bytes // self.pixel_bytes, rows + 1)
        try:
            return Image.frombytes(self.carrier, size, stream, "zip", self.carrier)
        except ValueError as exc:  # an unknown filter type
            raise OSError(f"The PNG's image data is damaged ({exc}).") from None

    def pixels(self, raw: Image.Image) -> Image.Image:
        """Stored rows as pixels to resample (RGB, L or premultiplied alpha)."""
        picture = raw
        if self.rawmode != self.carrier:
            size = (self.image.width, raw.height)
            picture = Image.frombytes(self.image.mode, size, raw.tobytes(), "raw", self.rawmode)
        if self.image.mode == "P":
            assert self.image.palette is not None
            picture.putpalette(self.image.palette)
            if "transparency" in self.image.info:
                picture.info["transparency"] = self.image.info["transparency"]
                picture = picture.convert("RGBA")
        return picture if picture.mode == self.mode else picture.convert(self.mode)


def png_in_strips(image: PngImagePlugin.PngImageFile, size: tuple[int, int]) -> Image.Image:
    """`image` (opened, not loaded; `in_strips`) resized to `size` with Lanczos, strip by strip."""
    assert image.fp is not None
    decoder = _StripDecoder(image)
    scanlines = _Scanlines(image.fp, image.tile[0].offset, decoder.row_bytes)
    height, (out_width, out_height) = image.height, size
    step, rows_out, margin = _plan(height, out_height)
    result = Image.new(decoder.mode, size)
    before = bytes(decoder.row_bytes)  # the first row's filter sees a row of zeros above it
    across: Image.Image | None = None  # the rows scaled across so far that are still needed
    top = bottom = 0  # the source rows that `across` holds
    for first in range(0, out_height, rows_out):
        last = min(out_height, first + rows_out)
        wanted_top = max(0, math.floor(first * step) - margin)
        wanted_bottom = min(height, math.ceil(last * step) + margin)
        rows = wanted_bottom - bottom
        raw = decoder.unfiltered(before, scanlines.take(rows), rows)
        before = raw.crop((0, rows, raw.width, rows + 1)).tobytes()
        fresh = decoder.pixels(raw).resize((out_width, rows + 1), Image.Resampling.LANCZOS)
        joined = Image.new(decoder.mode, (out_width, wanted_bottom - wanted_top))
        if across is not None:
            joined.paste(across.crop((0, wanted_top - top, out_width, bottom - top)), (0, 0))
        joined.paste(fresh.crop((0, 1, out_width, rows + 1)), (0, bottom - wanted_top))
        across, top, bottom = joined, wanted_top, wanted_bottom
        box = (0.0, first * step - top, float(out_width), min(last * step, height) - top)
        result.paste(across.resize((out_width, last - first), Image.Resampling.LANCZOS, box=box), (0, first))
    return result.convert(_STRAIGHT[result.mode]) if result.mode in _STRAIGHT else result
