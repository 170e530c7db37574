"""Image preparation: the crop the model sees, EXIF orientation, and the downscale before upload."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from luma_playground import Size
from luma_playground.ui._crop import crop_box, crop_preview, update_preview


def sideways_photo(path: Path, size: tuple[int, int] = (4000, 3000)) -> Path:
    """A white camera JPEG stored landscape with EXIF orientation 6: it is upright in portrait."""
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", size, (255, 255, 255)).save(path, "JPEG", exif=exif, quality=90)
    return path


def test_crop_box_cuts_what_does_not_fit() -> None:
    """A 4:3 picture loses top and bottom in 16:9, the sides in 9:16; 16:9 keeps everything."""
    assert crop_box(1600, 1200, Size.LANDSCAPE) == (0, 150, 1600, 1050)
    assert crop_box(1600, 1200, Size.PORTRAIT) == (462, 0, 1137, 1200)
    assert crop_box(1280, 720, Size.LANDSCAPE) == (0, 0, 1280, 720)


def test_preview_is_upright_and_dims_the_cut(tmp_path: Path) -> None:
    """An EXIF-rotated photo previews in portrait; the cut parts are dark, the kept part not."""
    photo = sideways_photo(tmp_path / "camera.jpg")
    preview, note = crop_preview(photo, "1280*720")
    assert preview.height > preview.width  # turned upright, as the upload will be
    assert preview.getpixel((preview.width // 2, 2))[0] < 140  # top: cut off, dimmed
    assert preview.getpixel((preview.width // 2, preview.height // 2))[0] > 240  # kept
    assert "cut off at the top and bottom" in note
    assert "Sent at 1920×2560 (scaled down from 3000×4000" in note
    assert "upright" in note
    _, portrait_note = crop_preview(photo, "720*1280")
    assert "left and right" in portrait_note


@pytest.mark.anyio
async def test_no_picture_hides_the_preview(tmp_path: Path) -> None:
    """Without a usable picture the preview is hidden rather than wrong."""
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    for image in (None, str(broken)):
        group, picture, note = await update_preview(image, "1280*720")
        assert group["visible"] is False and picture is None and note == ""


def test_generate_uploads_the_prepared_picture(client: Client, sim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Through the app: a 12-megapixel sideways photo reaches WaveSpeed upright and 2560 px tall."""
    photo = sideways_photo(tmp_path / "big.jpg")
    client.predict(handle_file(str(photo)), "A still white room", "720*1280", 5, api_name="/generate")
    image_url = sim.control.tasks()[0]["input"]["image"]
    uploaded = Image.open(io.BytesIO(httpx.get(image_url).content))
    assert uploaded.size == (1920, 2560)
    assert int(uploaded.getexif().get(0x0112, 1)) == 1
