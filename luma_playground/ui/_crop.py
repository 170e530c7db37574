"""Image preparation, shown: the part of the picture the model sees at the chosen size.

Ray 2 fills a 16:9 or 9:16 frame from the picture, cutting off what does not fit, centred (the
offline simulator renders the same way). The preview dims the parts that are cut off, after
turning the picture upright from its EXIF orientation, as the upload does; it also says when a
very large picture will be scaled down before upload (`prepare_image`).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image, ImageDraw

from .._errors import InvalidRequest
from .._pictures.checks import (
    ANALYSIS_MAX_PIXELS,
    UPLOAD_MAX_SIDE,
    ImageInfo,
    check_image,
    decoded_pixels,
    in_image_worker,
    shrunk,
    upright,
)
from .._request import Size
from ._components import RAW, with_image_path
from ._parts import QUIET

__all__ = ["CropParts", "crop_box", "crop_preview", "place", "update_preview", "wire"]

#: The preview's longer side, in pixels.
PREVIEW_SIDE = 480
#: How dark the cut-off parts are drawn (0 keeps them, 255 blacks them out).
DIM = 150
#: The colour of a picture too large to preview, drawn as its shape only.
PLAIN = (96, 104, 120)
TOO_LARGE = "The picture is too large to preview here; the frame shows its shape."


@dataclass(frozen=True)
class CropParts:
    """The preview of what the model sees, and the line that explains it."""

    group: gr.Column
    image: gr.Image
    note: gr.HTML


def place() -> CropParts:
    """The preview, placed under the image input (hidden until there is a picture)."""
    with gr.Column(visible=False, variant="panel", elem_id="lp-crop") as group, gr.Row(equal_height=True):
        image = gr.Image(
            label="What the model sees",
            type="pil",
            format="jpeg",
            interactive=False,
            height=150,
            buttons=[],
            scale=1,
            min_width=120,
            elem_id="lp-crop-image",
        )
        note = gr.HTML("", elem_id="lp-crop-note", scale=2, min_width=160)
    return CropParts(group, image, note)


def crop_box(width: int, height: int, size: Size) -> tuple[int, int, int, int]:
    """The centred part (left, top, right, bottom) of a width×height picture that fills `size`."""
    target = size.width / size.height
    if width / height > target:  # wider than the frame: the sides are cut
        kept = round(height * target)
        left = (width - kept) // 2
        return left, 0, left + kept, height
    kept = round(width / target)
    top = (height - kept) // 2
    return 0, top, width, top + kept


def _upright_thumbnail(path: Path, info: ImageInfo) -> Image.Image | None:
    """The picture turned upright (EXIF orientation) and shrunk for the preview.

    None for a picture too large to decode for a preview (a huge PNG: no reduced decode exists).
    """
    if decoded_pixels(path, PREVIEW_SIDE * 2) > ANALYSIS_MAX_PIXELS:
        return None
    picture = upright(shrunk(path, PREVIEW_SIDE * 2), info.orientation)
    picture.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.LANCZOS)
    return picture.convert("RGB")


def _plain(info: ImageInfo) -> Image.Image:
    """The picture's shape alone, so that the crop is shown when the picture cannot be."""
    scale = PREVIEW_SIDE / max(info.width, info.height)
    return Image.new("RGB", (max(1, round(info.width * scale)), max(1, round(info.height * scale))), PLAIN)


def _dimmed(picture: Image.Image, size: Size) -> tuple[Image.Image, float]:
    """The picture with the cut-off parts darkened and the kept frame outlined; the share cut."""
    left, top, right, bottom = crop_box(picture.width, picture.height, size)
    shade = Image.new("L", picture.size, DIM)
    ImageDraw.Draw(shade).rectangle([left, top, right - 1, bottom - 1], fill=0)
    preview = Image.composite(Image.new("RGB", picture.size, (8, 8, 16)), picture, shade)
    ImageDraw.Draw(preview).rectangle([left, top, right - 1, bottom - 1], outline=(255, 255, 255), width=2)
    cut = 1 - ((right - left) * (bottom - top)) / (picture.width * picture.height)
    return preview, cut


def _note(size: Size, cut: float, full: tuple[int, int], orientation_fixed: bool) -> str:
    width, height = full
    orientation = "landscape" if size is Size.LANDSCAPE else "portrait"
    shape = "16:9" if size is Size.LANDSCAPE else "9:16"
    if cut < 0.01:
        lines = [f"The whole picture fits the {shape} {orientation} frame."]
    else:
        sides = "left and right" if width / height > size.width / size.height else "top and bottom"
        lines = [
            f"The {shape} {orientation} frame keeps the bright part: "
            f"{cut:.0%} of the picture is cut off at the {sides}."
        ]
    if max(width, height) > UPLOAD_MAX_SIDE:
        scale = UPLOAD_MAX_SIDE / max(width, height)
        lines.append(
            f"Sent at {round(width * scale)}×{round(height * scale)} "
            f"(scaled down from {width}×{height}, high quality) so the upload is quick."
        )
    if orientation_fixed:
        lines.append("Turned upright from its camera orientation (EXIF).")
    body = "".join(f"<p>{escape(line)}</p>" for line in lines)
    return f'<div class="lp-crop-note" data-cut="{cut:.3f}">{body}</div>'


def crop_preview(image: str | Path, size: str | Size) -> tuple[Image.Image, str]:
    """The dimmed preview of `image` at `size`, and the note under it; InvalidRequest if unusable."""
    path, frame = Path(image), Size.parse(size)
    info = check_image(path)  # its width and height are the upright ones
    picture = _upright_thumbnail(path, info)
    preview, cut = _dimmed(picture or _plain(info), frame)
    note = _note(frame, cut, (info.width, info.height), info.orientation != 1)
    if picture is None:
        note = note.replace("</div>", f"<p>{escape(TOO_LARGE)}</p></div>")
    return preview, note


async def update_preview(image: str | None, size: str | None) -> tuple[Any, Any, Any]:
    """The preview for the current picture and size (hidden when there is no usable picture)."""
    if not image or not size:
        return gr.update(visible=False), None, ""
    try:
        preview, note = await in_image_worker(crop_preview, image, size)
    except InvalidRequest:
        return gr.update(visible=False), None, ""  # the image field's own warning says why
    return gr.update(visible=True), preview, note


def wire(parts: CropParts, image: gr.Image, size: gr.Radio) -> None:
    """Redraw the preview when the picture or the size changes (the last change wins)."""
    for trigger in (image.change, size.change):
        trigger(
            with_image_path(update_preview, image),
            [image, size],
            [parts.group, parts.image, parts.note],
            trigger_mode="always_last",
            **QUIET,
            **RAW,
        )
