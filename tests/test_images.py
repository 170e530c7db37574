"""Input images are checked before anything is sent, and prepared for a fast upload."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from luma_playground import InvalidRequest, Size
from luma_playground._pictures.checks import (
    MAX_IMAGE_BYTES,
    UPLOAD_MAX_SIDE,
    check_image,
    prepare_image,
    suggested_size,
)


def test_a_good_image_passes(landscape_image: Path) -> None:
    """A normal PNG passes with its format and size."""
    info = check_image(landscape_image)
    assert (info.format, info.width, info.height) == ("PNG", 640, 360)


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "GIF", "BMP", "TIFF"])
def test_documented_formats_pass(image_factory, fmt: str) -> None:
    """Every documented image format is accepted."""
    assert check_image(image_factory(f"a.{fmt.lower()}", fmt=fmt)).format == fmt


def test_not_an_image(tmp_path: Path) -> None:
    """A text file renamed .png is refused as not an image."""
    path = tmp_path / "notes.png"
    path.write_text("hello")
    with pytest.raises(InvalidRequest, match="not an image"):
        check_image(path)


def test_truncated_image(tmp_path: Path, landscape_image: Path) -> None:
    """A cut-off file is refused as damaged or incomplete."""
    buffer = io.BytesIO()
    Image.open(landscape_image).convert("RGB").save(buffer, "JPEG", quality=95)
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(InvalidRequest, match="damaged or incomplete"):
        check_image(path)


def test_too_large_file(tmp_path: Path) -> None:
    """A file over 20 MB is refused with both sizes in the message."""
    path = tmp_path / "big.png"
    path.write_bytes(b"\x89PNG" + b"\0" * (MAX_IMAGE_BYTES + 1))
    with pytest.raises(InvalidRequest, match=r"limit is 20\.0 MB"):
        check_image(path)


def test_decompression_bomb(tmp_path: Path) -> None:
    """A small file that claims an enormous canvas is refused before decoding."""
    path = tmp_path / "bomb.png"
    Image.new("1", (12_000, 12_000)).save(path, optimize=True)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(InvalidRequest, match="too many pixels"):
        check_image(path)


def test_tiny_image(image_factory) -> None:
    """An image too small to animate is refused."""
    with pytest.raises(InvalidRequest, match="at least 64 px"):
        check_image(image_factory("t.png", (40, 40)))


def test_orientation_picks_the_size(landscape_image: Path, portrait_image: Path, tmp_path: Path) -> None:
    """Upright images suggest portrait, wide ones landscape, EXIF rotation included."""
    assert suggested_size(landscape_image) is Size.LANDSCAPE
    assert suggested_size(portrait_image) is Size.PORTRAIT
    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored wide, displayed upright
    Image.open(landscape_image).convert("RGB").save(rotated, "JPEG", exif=exif)
    assert suggested_size(rotated) is Size.PORTRAIT


def test_small_images_are_streamed_from_disk(landscape_image: Path) -> None:
    """An image that needs no change is uploaded from its file, not re-encoded."""
    prepared = prepare_image(landscape_image)
    assert prepared.path == landscape_image and prepared.data is None


@pytest.mark.slow
def test_big_or_rotated_images_are_prepared(image_factory, tmp_path: Path) -> None:
    """A huge image is scaled down to the upload size; EXIF rotation is applied."""
    big = image_factory("big.jpg", (4000, 3000), fmt="JPEG")
    prepared = prepare_image(big)
    with Image.open(io.BytesIO(prepared.data)) as image:
        assert max(image.size) == UPLOAD_MAX_SIDE and image.size[0] > image.size[1]
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = tmp_path / "r.jpg"
    Image.open(big).save(rotated, "JPEG", exif=exif)
    with Image.open(io.BytesIO(prepare_image(rotated).data)) as image:
        assert image.size[1] > image.size[0]


ANALYSIS_PROBE = """
import io
import sys
from pathlib import Path
from PIL import Image
from luma_playground._pictures.checks import check_image, prepare_image, suggested_size
from luma_playground.ui._crop import crop_preview

path = Path(sys.argv[1])
picture = Image.new("RGB", (7700, 7700), (220, 20, 20))
picture.paste((20, 20, 220), (3850, 0, 7700, 7700))
picture.save(path, "PNG", compress_level=1)
del picture

def status(field):
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(field))
    return int(line.split()[1]) // 1024

before = status("VmRSS:")
Path("/proc/self/clear_refs").write_text("5")  # the peak starts again from here
size = suggested_size(path)
preview, note = crop_preview(path, "720*1280")
info = check_image(path)
shape = f"{preview.width}x{preview.height}"
analysed = status("VmHWM:") - before
prepared = prepare_image(path)
upload = Image.open(io.BytesIO(prepared.data))
left, right = upload.getpixel((600, 1280)), upload.getpixel((1960, 1280))
halves = left[0] > 200 and left[2] < 40 and right[2] > 200 and right[0] < 40
print(size.value, info.width, shape, "too large to preview" in note, analysed)
print(prepared.content_type, f"{upload.width}x{upload.height}", halves, status("VmHWM:") - before)
"""


@pytest.mark.slow
def test_a_59_megapixel_png_is_analysed_without_decoding_it_and_scaled_down_in_strips(
    tmp_path: Path,
) -> None:
    """A 7700x7700 PNG: analysed holding none of its 237 MB of pixels, uploaded scaled down in strips."""
    script = tmp_path / "probe.py"
    script.write_text(ANALYSIS_PROBE)
    env = os.environ | {"PYTHONPATH": str(Path(__file__).parents[1])}
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "huge.png")],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=True,
    )
    analysis, upload = (line.split() for line in result.stdout.splitlines())
    size, width, shape, plain, analysed_mb = analysis
    assert (size, width, shape, plain) == ("1280*720", "7700", "480x480", "True")
    # Decoding it would hold 7700 * 7700 * 4 bytes, 226 MB (Pillow keeps RGB in 4 bytes a pixel).
    whole_mb = 7700 * 7700 * 4 // 2**20
    assert int(analysed_mb) < whole_mb // 4, result.stdout
    content_type, upload_size, halves, prepared_mb = upload
    assert (content_type, upload_size, halves) == ("image/jpeg", "2560x2560", "True")
    # In strips: a strip and the 2560 px result (26 MB), where the whole decode took 330 MB.
    assert int(prepared_mb) < whole_mb // 2, result.stdout


def test_an_upright_picture_carries_no_orientation_tag(tmp_path: Path) -> None:
    """A picture turned upright drops its EXIF, so that no viewer turns it a second time."""
    from luma_playground._pictures.checks import upright

    exif = Image.Exif()
    exif[0x0112] = 6
    photo = tmp_path / "camera.jpg"
    Image.new("RGB", (40, 30)).save(photo, "JPEG", exif=exif)
    with Image.open(photo) as image:
        turned = upright(image, 6)
    assert turned.size == (30, 40) and "exif" not in turned.info
