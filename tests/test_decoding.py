"""Large pictures decode in bounded memory: PNGs in strips, every decode within a pixel budget."""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw

from luma_playground._pictures.checks import ANALYSIS_MAX_PIXELS, UPLOAD_MAX_SIDE, prepare_image
from luma_playground._pictures.decoding import (
    DECODES,
    PixelBudget,
    fitted_size,
    in_strips,
    png_in_strips,
    strips_cost,
)


def busy_picture(size: tuple[int, int]) -> Image.Image:
    """Red left, half-transparent blue right, a yellow ellipse and thin slanted lines over both."""
    width, height = size
    picture = Image.new("RGBA", size, (200, 30, 30, 255))
    draw = ImageDraw.Draw(picture)
    draw.rectangle([width // 2, 0, width, height], fill=(20, 40, 220, 128))
    draw.ellipse([width // 10, height // 10, width * 8 // 10, height * 8 // 10], fill=(240, 200, 40, 60))
    for x in range(0, width, 37):
        draw.line([x, 0, x + height // 3, height], fill=(x % 256, 255 - x % 256, 90, 255), width=3)
    return picture


def as_saved(mode: str, picture: Image.Image) -> tuple[Image.Image, dict[str, object]]:
    """The picture in one of the PNG kinds the strips decode, with the options that save it so."""
    if mode == "P":
        return picture.convert("RGB").quantize(64), {}
    if mode == "P4":
        return picture.convert("RGB").quantize(16), {"bits": 4}
    if mode == "P+transparency":
        return picture.convert("RGB").quantize(16), {"transparency": 3}
    return picture.convert(mode), {}


def whole_resize(path: Path, size: tuple[int, int]) -> Image.Image:
    """The reference: the whole picture decoded, in the mode the strips give, then resized."""
    with Image.open(path) as image:
        image.load()
        if image.mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        elif image.mode == "1":
            image = image.convert("L")
        return image.resize(size, Image.Resampling.LANCZOS)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "1", "P", "P4", "P+transparency"])
def test_strips_give_the_pixels_of_a_whole_resize(tmp_path: Path, mode: str) -> None:
    """Every 8-bit (or fewer) PNG kind scales down in strips to what resizing it whole gives."""
    picture, options = as_saved(mode, busy_picture((1501, 887)))
    path = tmp_path / "busy.png"
    picture.save(path, **options)
    with Image.open(path) as image:
        assert in_strips(image)
        size = fitted_size(image.width, image.height, 400)
        strips = png_in_strips(image, size)
    expected = whole_resize(path, size)
    assert (strips.mode, strips.size) == (expected.mode, (400, 236))
    # Compared premultiplied: a colour under alpha near 0 is only as exact as its alpha.
    premultiplied = {"RGBA": "RGBa", "LA": "La"}.get(expected.mode, expected.mode)
    difference = ImageChops.difference(strips.convert(premultiplied), expected.convert(premultiplied))
    bands = difference.split()
    assert max(band.getextrema()[1] for band in bands) <= 1  # type: ignore[operator]
    differing = sum(band.width * band.height - band.histogram()[0] for band in bands)
    assert differing < strips.width * strips.height // 1000  # float rounding at a strip's edge, rarely


def test_a_last_strip_with_no_rows_left_to_read(tmp_path: Path) -> None:
    """When the rows around the last strip are all read already, it is scaled from what is held."""
    path = tmp_path / "square.png"
    busy_picture((1200, 1200)).convert("RGB").save(path)
    with Image.open(path) as image:
        strips = png_in_strips(image, (385, 385))  # 12 strips of 32 rows, then one of a single row
    difference = ImageChops.difference(strips, whole_resize(path, (385, 385)))
    assert max(band.getextrema()[1] for band in difference.split()) <= 1  # type: ignore[operator]


def interlaced(path: Path) -> None:
    """Mark the PNG as interlaced (Pillow writes none), its header's checksum mended."""
    data = bytearray(path.read_bytes())
    data[28] = 1  # after the signature (8), IHDR's length and name (8), and 12 bytes of header
    data[29:33] = struct.pack(">I", zlib.crc32(data[12:29]))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", ["interlaced", "16-bit", "animated"])
def test_pngs_the_strips_do_not_decode_are_left_to_a_whole_decode(tmp_path: Path, kind: str) -> None:
    """Interlaced, 16-bit and animated PNGs are not decoded in strips (they decode whole)."""
    path = tmp_path / f"{kind}.png"
    if kind == "16-bit":
        Image.new("I;16", (96, 64), 1000).save(path)
    elif kind == "animated":
        Image.new("RGB", (96, 64), 50).save(path, save_all=True, append_images=[Image.new("RGB", (96, 64))])
    else:
        Image.new("RGB", (96, 64), 50).save(path)
        interlaced(path)
    with Image.open(path) as image:
        assert not in_strips(image)
        assert image.info.get("interlace") or kind != "interlaced"


def damaged(path: Path) -> None:
    """Flip bytes inside the PNG's image data and mend the chunk's checksum, as a bad encoder would."""
    data = bytearray(path.read_bytes())
    start = data.index(b"IDAT") - 4
    (length,) = struct.unpack(">I", data[start : start + 4])
    data[start + 8 + length // 2 : start + 8 + length // 2 + 16] = b"\xff" * 16
    crc = zlib.crc32(data[start + 4 : start + 8 + length])
    data[start + 8 + length : start + 12 + length] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))


def test_damaged_image_data_fails_as_a_damaged_file(tmp_path: Path) -> None:
    """Image data that does not inflate (checksums intact) raises OSError, like Pillow's decoder."""
    path = tmp_path / "damaged.png"
    busy_picture((900, 700)).convert("RGB").save(path, compress_level=9)
    damaged(path)
    with Image.open(path) as image, pytest.raises(OSError, match=r"damaged|ends"):
        png_in_strips(image, (300, 233))


def settle(condition: Callable[[], bool], what: str) -> None:
    """Wait until `condition()` holds (the threads get there on their own)."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def hold_all(budget: PixelBudget, asks: list[int], inside: list[int]) -> Callable[[], None]:
    """One thread per ask, started in turn, each holding its pixels until the returned call."""
    release, lock, threads = threading.Event(), threading.Lock(), []

    def hold(pixels: int) -> None:
        with budget.held(pixels):
            with lock:
                inside.append(pixels)
            release.wait(30)

    for started, pixels in enumerate(asks, start=1):
        thread = threading.Thread(target=hold, args=(pixels,))
        thread.start()
        threads.append(thread)
        settle(lambda started=started: len(inside) + budget.waits == started, "each thread is in or waiting")

    def finish() -> None:
        release.set()
        for thread in threads:
            thread.join(30)

    return finish


@pytest.mark.parametrize(("capacity", "at_once"), [(10, 8), (100, 2)], ids=["pixels", "number"])
def test_eight_decodes_at_once_hold_no_more_than_the_budget(capacity: int, at_once: int) -> None:
    """Eight decodes started at once: two run (in pixels or in number), the others wait their turn."""
    budget, inside = PixelBudget(capacity, at_once=at_once), []
    finish = hold_all(budget, [4] * 8, inside)
    assert (budget.in_use, budget.running, len(inside), budget.waits) == (8, 2, 2, 6)
    finish()
    assert (len(inside), budget.in_use, budget.running, budget.most_in_use) == (8, 0, 0, 8)


def test_a_decode_larger_than_the_budget_runs_alone_and_in_its_turn() -> None:
    """One too large for the budget waits until nothing is held; a small one after it does not jump it."""
    budget, inside = PixelBudget(10, at_once=8), []
    finish = hold_all(budget, [3, 20, 1], inside)
    assert (inside, budget.waits) == ([3], 2)  # the 1 would fit beside the 3, but it is not its turn
    finish()
    assert inside == [3, 20, 1] and budget.most_in_use == 20  # the 20 alone


LARGE_SIDE = 4001  # just above the analysis ceiling: decoded in strips


@pytest.fixture(scope="module")
def large_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16-megapixel PNG, red on the left and blue on the right."""
    path = tmp_path_factory.mktemp("large") / "halves.png"
    picture = Image.new("RGB", (LARGE_SIDE, 4000), (220, 20, 20))
    picture.paste((20, 20, 220), (LARGE_SIDE // 2, 0, LARGE_SIDE, 4000))
    picture.save(path, compress_level=1)
    assert LARGE_SIDE * 4000 > ANALYSIS_MAX_PIXELS
    return path


@pytest.mark.slow
def test_eight_large_pngs_prepared_at_once_stay_within_the_budget(large_png: Path) -> None:
    """Eight uploads of a large PNG prepared at once queue for the pixel budget; each keeps its halves."""
    cost = strips_cost(LARGE_SIDE, 4000, fitted_size(LARGE_SIDE, 4000, UPLOAD_MAX_SIDE))
    assert 8 * cost > DECODES.capacity  # all eight at once would not fit
    waits, most_before = DECODES.waits, DECODES.most_in_use
    start = threading.Barrier(8)

    def prepare(_: int) -> Image.Image:
        start.wait()
        prepared = prepare_image(large_png)
        assert prepared.data is not None and prepared.content_type == "image/jpeg"
        return Image.open(io.BytesIO(prepared.data))

    with ThreadPoolExecutor(8) as pool:
        uploads = list(pool.map(prepare, range(8)))
    assert DECODES.waits > waits  # some waited their turn
    assert DECODES.most_in_use <= max(most_before, DECODES.capacity)
    for upload in uploads:
        assert upload.size == (UPLOAD_MAX_SIDE, 2559)
        (red, _, blue), right = upload.getpixel((600, 1280)), upload.getpixel((1960, 1280))
        assert red > 200 and blue < 40 and right[2] > 200 and right[0] < 40, (red, blue, right)
