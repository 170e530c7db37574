"""Render a real H.264 MP4 from a still image: a cover-fitted Ken Burns move marked as simulated.

Every move starts on exactly the picture (cover-fitted to the frame), as a real image-to-video clip
does, so that the last frame of one clip rendered as the picture of the next continues it without a
seam. Moves that look beyond the picture (zoom out, pans, tilts) see a mirror image of its edges.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

LABEL = "SIMULATED · luma_playground"

#: The canvas the camera moves over is this multiple of the frame, so the tightest framing is 1:1.
MAX_ZOOM = 1.2

#: Part of the render cache key: a change to what a clip looks like must not serve old renders.
RENDER_VERSION = 2

#: veryfast with the quickest motion search: the camera moves are slow and smooth, so a clip
#: costs a fifth less CPU and its file stays within a third of veryfast's own search's size.
X264_OPTIONS = {"preset": "veryfast", "crf": "24", "x264-params": "me=dia:subme=1:ref=1"}

#: Frames are scaled on a thread of their own (Pillow releases the GIL) while the encoder runs,
#: at most FRAMES_AHEAD in flight, so memory stays a few frames whatever the clip length.
#: One is enough: scaling planes is cheaper than encoding, and a second only adds contention.
FRAME_WORKERS = 1
FRAMES_AHEAD = 8


class Motion(StrEnum):
    """The camera move of a clip."""

    ZOOM_IN = "zoom_in"
    ZOOM_OUT = "zoom_out"
    PAN_LEFT = "pan_left"
    PAN_RIGHT = "pan_right"
    TILT_UP = "tilt_up"
    TILT_DOWN = "tilt_down"


_MOTION_HINTS = (
    (Motion.ZOOM_IN, r"\b(?:zoom(?:s|ing)?|push(?:es|ing)?|dolly(?:ing)?)\s+in\b"),
    (Motion.ZOOM_OUT, r"\b(?:zoom(?:s|ing)?|pull(?:s|ing)?|dolly(?:ing)?)\s+(?:out|back)\b"),
    (Motion.PAN_LEFT, r"\bpan(?:s|ning)?\s+(?:to\s+the\s+)?left\b"),
    (Motion.PAN_RIGHT, r"\bpan(?:s|ning)?\s+(?:to\s+the\s+)?right\b"),
    (Motion.TILT_UP, r"\b(?:tilt(?:s|ing)?|pan(?:s|ning)?)\s+up(?:ward)?\b"),
    (Motion.TILT_DOWN, r"\b(?:tilt(?:s|ing)?|pan(?:s|ning)?)\s+down(?:ward)?\b"),
)


def motion_from_prompt(prompt: str) -> Motion:
    """The camera move the prompt asks for first, or a gentle zoom in when it names none."""
    found = []
    for motion, pattern in _MOTION_HINTS:
        match = re.search(pattern, prompt, flags=re.IGNORECASE)
        if match:
            found.append((match.start(), motion))
    return min(found)[1] if found else Motion.ZOOM_IN


@dataclass(frozen=True, slots=True)
class RenderSpec:
    """What to render: frame size, clip length, frame rate and camera move."""

    width: int
    height: int
    duration_s: int
    fps: int
    motion: Motion

    def __post_init__(self) -> None:
        if self.width % 2 or self.height % 2 or self.width <= 0 or self.height <= 0:
            raise ValueError(f"yuv420p needs an even, positive frame size, got {self.width}x{self.height}")

    @property
    def frame_count(self) -> int:
        """Frames in the clip: exactly duration times frame rate."""
        return self.duration_s * self.fps

    @property
    def size(self) -> tuple[int, int]:
        """Frame width and height."""
        return (self.width, self.height)


@dataclass(frozen=True, slots=True)
class Planes:
    """A picture as yuv420p planes (BT.601 limited range, as the encoder takes them): Y, then U and V
    at half size.

    Scaling the planes instead of RGB costs about half as much per frame, and the colour conversion
    is done once for the source instead of once per frame.
    """

    y: Image.Image
    u: Image.Image
    v: Image.Image

    @classmethod
    def from_rgb(cls, picture: Image.Image) -> Planes:
        """Convert an RGB picture (through swscale, like the encoder would)."""
        yuv = av.VideoFrame.from_image(picture).reformat(format="yuv444p").to_ndarray()
        luma, blue, red = (Image.fromarray(plane) for plane in yuv)
        half = ((picture.width + 1) // 2, (picture.height + 1) // 2)
        box = Image.Resampling.BOX
        return cls(luma, blue.resize(half, box), red.resize(half, box))


@dataclass(frozen=True, slots=True)
class Label:
    """The "SIMULATED" plate as planes, with its opacity at full and at half size."""

    planes: Planes
    alpha: Image.Image
    alpha_half: Image.Image
    position: tuple[int, int]


Box = tuple[float, float, float, float]


def render_clip(image_path: Path, spec: RenderSpec, out_path: Path) -> None:
    """Write an MP4 (H.264, yuv420p, moov first) of `spec` made from the image at `image_path`."""
    source = Planes.from_rgb(load_source(image_path, spec.width, spec.height, spec.motion))
    label = _label(label_overlay(spec.width, spec.height), spec)
    _encode(_frames(source, label, spec), spec, out_path)


def load_source(image_path: Path, width: int, height: int, motion: Motion = Motion.ZOOM_IN) -> Image.Image:
    """The canvas the camera moves over: MAX_ZOOM times the frame, with the upright picture cover-fitted
    exactly where the move starts, and a mirror image of its edges around it.
    """
    base_size = (round(width * MAX_ZOOM), round(height * MAX_ZOOM))
    x0, y0, x1, y1 = (round(edge) for edge in camera_box(motion, 0.0, base_size, (width, height)))
    with Image.open(image_path) as image:
        # A JPEG decoded at a reduced scale is several times faster and still larger than needed.
        longest = max(base_size)
        image.draft("RGB", (longest, longest))
        upright = ImageOps.exif_transpose(image)
        rgb = _flatten(upright)
    picture = ImageOps.fit(rgb, (x1 - x0, y1 - y0), Image.Resampling.LANCZOS)
    if picture.size == base_size:
        return picture
    pad = ((y0, base_size[1] - y1), (x0, base_size[0] - x1), (0, 0))
    return Image.fromarray(np.pad(np.asarray(picture), pad, mode="reflect"))


def _flatten(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (0, 0, 0))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def label_overlay(width: int, height: int) -> Image.Image:
    """The "SIMULATED" label on an opaque plate, drawn once and pasted on every frame.

    Opaque, so that a clip rendered from a frame of another shows the label just as it was, rather
    than a darker plate at each continuation.
    """
    font_size = max(12, min(width, height) // 36)
    font = ImageFont.load_default(size=font_size)
    left, top, right, bottom = (round(edge) for edge in font.getbbox(LABEL))
    pad = font_size // 2
    plate = Image.new("RGBA", (right - left + 2 * pad, bottom - top + 2 * pad), (0, 0, 0, 0))
    draw = ImageDraw.Draw(plate)
    draw.rounded_rectangle((0, 0, plate.width - 1, plate.height - 1), radius=pad, fill=(0, 0, 0, 255))
    draw.text((pad - left, pad - top), LABEL, font=font, fill=(255, 255, 255, 235))
    return plate


def ease_in_out(progress: float) -> float:
    """A cosine ease: starts and ends at rest."""
    return 0.5 - 0.5 * math.cos(math.pi * progress)


def camera_box(motion: Motion, progress: float, base: tuple[int, int], frame: tuple[int, int]) -> Box:
    """The region of the pre-scaled source shown at `progress` (0..1) of the move."""
    eased = ease_in_out(progress)
    (base_w, base_h), (frame_w, frame_h) = base, frame
    if motion in (Motion.ZOOM_IN, Motion.ZOOM_OUT):
        zoom_progress = eased if motion is Motion.ZOOM_IN else 1.0 - eased
        zoom = 1.0 + (MAX_ZOOM - 1.0) * zoom_progress
        box_w, box_h = base_w / zoom, base_h / zoom
        x0, y0 = (base_w - box_w) / 2, (base_h - box_h) / 2
        return (x0, y0, x0 + box_w, y0 + box_h)
    slack_x, slack_y = base_w - frame_w, base_h - frame_h
    x0, y0 = slack_x / 2, slack_y / 2
    # Panning left shows what lies to the left, so the window slides from the right edge to the left.
    if motion is Motion.PAN_LEFT:
        x0 = slack_x * (1.0 - eased)
    elif motion is Motion.PAN_RIGHT:
        x0 = slack_x * eased
    elif motion is Motion.TILT_UP:
        y0 = slack_y * (1.0 - eased)
    elif motion is Motion.TILT_DOWN:
        y0 = slack_y * eased
    return (x0, y0, x0 + frame_w, y0 + frame_h)


def _label(plate: Image.Image, spec: RenderSpec) -> Label:
    margin = max(8, plate.height // 2)
    # Even coordinates keep the label's chroma aligned with its luma.
    x = (spec.width - plate.width - margin) // 2 * 2
    y = (spec.height - plate.height - margin) // 2 * 2
    alpha = plate.getchannel("A")
    planes = Planes.from_rgb(plate.convert("RGB"))
    return Label(planes, alpha, alpha.resize(planes.u.size, Image.Resampling.BOX), (x, y))


def _frames(source: Planes, label: Label, spec: RenderSpec) -> Iterator[av.VideoFrame]:
    """The clip's frames in order, prepared ahead of the encoder."""
    make_frame = partial(_frame, source, label, spec)
    with ThreadPoolExecutor(FRAME_WORKERS, thread_name_prefix="luma-sim-frame") as pool:
        pending: deque[Future[av.VideoFrame]] = deque()
        for index in range(spec.frame_count):
            pending.append(pool.submit(make_frame, index))
            if len(pending) >= FRAMES_AHEAD:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _frame(source: Planes, label: Label, spec: RenderSpec, index: int) -> av.VideoFrame:
    progress = index / max(spec.frame_count - 1, 1)
    box = camera_box(spec.motion, progress, source.y.size, spec.size)
    chroma_size = (spec.width // 2, spec.height // 2)
    chroma_box = _scaled_box(box, source.u.width / source.y.width, source.u.height / source.y.height)
    # A sub-pixel box keeps the move smooth; bilinear from a source at most 1.2x is fast and clean.
    bilinear = Image.Resampling.BILINEAR
    luma = source.y.resize(spec.size, bilinear, box=box)
    blue = source.u.resize(chroma_size, bilinear, box=chroma_box)
    red = source.v.resize(chroma_size, bilinear, box=chroma_box)
    x, y = label.position
    luma.paste(label.planes.y, (x, y), label.alpha)
    blue.paste(label.planes.u, (x // 2, y // 2), label.alpha_half)
    red.paste(label.planes.v, (x // 2, y // 2), label.alpha_half)
    # yuv420p as PyAV takes it from an array: the three planes back to back, width bytes per row.
    data = np.concatenate([np.asarray(plane).ravel() for plane in (luma, blue, red)])
    return av.VideoFrame.from_ndarray(data.reshape(-1, spec.width), format="yuv420p")


def _scaled_box(box: Box, scale_x: float, scale_y: float) -> Box:
    return (box[0] * scale_x, box[1] * scale_y, box[2] * scale_x, box[3] * scale_y)


def _encode(frames: Iterator[av.VideoFrame], spec: RenderSpec, out_path: Path) -> None:
    # faststart moves the moov atom to the front, so that a browser can start playing at once.
    with av.open(str(out_path), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=spec.fps)
        stream.width, stream.height = spec.width, spec.height
        stream.pix_fmt = "yuv420p"
        stream.options = dict(X264_OPTIONS)
        for frame in frames:
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
