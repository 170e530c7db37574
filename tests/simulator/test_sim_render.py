"""Rendered videos: real H.264 MP4s of the exact size and length, playable from the first bytes."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from PIL import Image

from luma_playground.simulator import SimulatorConfig
from luma_playground.simulator._config import RENDERS_ENV
from luma_playground.simulator._render import Motion, RenderSpec, render_clip
from luma_playground.simulator._render_cache import RenderCache

Submit = Callable[..., dict[str, Any]]
WaitUntilEnded = Callable[..., dict[str, Any]]


def _download(
    api: httpx.Client, image_url: str, submit: Submit, wait: WaitUntilEnded, **fields: Any
) -> bytes:
    data = wait(api, submit(api, image_url, **fields)["id"], timeout=60)
    assert data["status"] == "completed", data
    response = httpx.get(data["outputs"][0], trust_env=False)
    assert response.headers["content-type"] == "video/mp4"
    assert int(response.headers["content-length"]) == len(response.content)
    return response.content


def _probe(video: bytes) -> dict[str, Any]:
    with av.open(io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return {
            "codec": stream.codec_context.name,
            "pix_fmt": stream.codec_context.pix_fmt,
            "size": (stream.codec_context.width, stream.codec_context.height),
            "rate": stream.average_rate,
            "duration": container.duration / av.time_base,
            "frames": frames,
        }


@pytest.mark.slow
@pytest.mark.slow
@pytest.mark.parametrize(
    ("size", "duration"),
    [("1280*720", 5), ("720*1280", 5), ("1280*720", 10)],
)
def test_rendered_video_matches_the_request(
    api: httpx.Client,
    image_url: str,
    submit: Submit,
    wait_until_ended: WaitUntilEnded,
    size: str,
    duration: int,
) -> None:
    """The MP4 is H.264 yuv420p at exactly the requested size, 24 fps and duration, moov before mdat."""
    video = _download(api, image_url, submit, wait_until_ended, size=size, duration=duration)
    probe = _probe(video)
    width, height = (int(side) for side in size.split("*"))
    assert probe["codec"] == "h264" and probe["pix_fmt"] == "yuv420p"
    assert probe["size"] == (width, height) and probe["rate"] == 24
    assert probe["frames"] == 24 * duration
    assert abs(probe["duration"] - duration) <= 1 / 24
    assert 0 < video.find(b"moov") < video.find(b"mdat")


def test_output_supports_byte_ranges(
    api: httpx.Client, image_url: str, submit: Submit, wait_until_ended: WaitUntilEnded
) -> None:
    """A Range request gets 206 and exactly those bytes, so browsers can seek."""
    url = wait_until_ended(api, submit(api, image_url)["id"])["outputs"][0]
    whole = httpx.get(url, trust_env=False).content
    part = httpx.get(url, headers={"Range": "bytes=100-199"}, trust_env=False)
    assert part.status_code == 206 and part.content == whole[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole)}"


def test_identical_inputs_render_once(
    api: httpx.Client, image_url: str, submit: Submit, wait_until_ended: WaitUntilEnded, control: Any
) -> None:
    """Tasks with the same image, size, duration and camera move share one render."""
    before = control.stats()["renders"]["rendered"]
    tasks = [submit(api, image_url) for _ in range(3)]
    outputs = [wait_until_ended(api, task["id"])["outputs"][0] for task in tasks]
    assert len(set(outputs)) == 3
    assert control.stats()["renders"]["rendered"] - before <= 1
    contents = {httpx.get(url, trust_env=False).content for url in outputs}
    assert len(contents) == 1


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


@pytest.mark.parametrize("motion", list(Motion))
def test_every_camera_move_renders_a_moving_clip(tmp_path: Path, motion: Motion) -> None:
    """Each camera move makes a valid clip whose first and last frames differ."""
    source = tmp_path / "photo.jpg"
    pixels = np.random.default_rng(1).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    Image.fromarray(pixels).resize((640, 480), Image.Resampling.BILINEAR).save(source)
    out = tmp_path / "clip.mp4"
    render_clip(source, RenderSpec(160, 96, 1, 12, motion), out)
    frames = _frames(out)
    assert len(frames) == 12 and frames[0].shape == (96, 160, 3)
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 5


def test_exif_orientation_is_respected(tmp_path: Path) -> None:
    """A photo stored sideways with an EXIF rotation is rendered upright."""
    upright = Image.new("RGB", (400, 200), (0, 0, 255))
    upright.paste((255, 0, 0), (0, 0, 400, 100))  # red on top, blue below
    sideways = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    source = tmp_path / "sideways.jpg"
    sideways.save(source, exif=exif)
    out = tmp_path / "clip.mp4"
    render_clip(source, RenderSpec(160, 96, 1, 4, Motion.ZOOM_IN), out)
    first = _frames(out)[0]
    top, bottom = first[10, 80], first[85, 80]
    assert top[0] > 150 and top[2] < 100 and bottom[2] > 150 and bottom[0] < 100


@pytest.mark.parametrize("motion", list(Motion))
def test_every_camera_move_starts_on_the_picture(tmp_path: Path, motion: Motion) -> None:
    """The first frame is the picture itself, uncropped, so a clip made from a last frame continues it."""
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 255, (6, 10, 3), dtype=np.uint8)
    picture = Image.fromarray(pixels).resize((160, 96), Image.Resampling.BICUBIC)
    source = tmp_path / "frame.png"
    picture.save(source)
    out = tmp_path / "clip.mp4"
    render_clip(source, RenderSpec(160, 96, 1, 12, motion), out)
    frames = _frames(out)
    expected = np.asarray(picture).astype(int)
    # The label sits in the bottom right corner; everywhere else the frame is the picture.
    start, end = (frame[:60, :100].astype(int) for frame in (frames[0], frames[-1]))
    assert np.abs(start - expected[:60, :100]).mean() < 6
    assert np.abs(end - expected[:60, :100]).mean() > 3 * np.abs(start - expected[:60, :100]).mean()


def test_simulators_sharing_a_folder_render_a_clip_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, image_factory: Callable[..., Path]
) -> None:
    """Render folders named by LUMA_PLAYGROUND_SIMULATOR_RENDERS are shared: the second finds the clip."""
    monkeypatch.setenv(RENDERS_ENV, str(tmp_path / "clips"))
    folder = SimulatorConfig().render_dir
    assert folder == tmp_path / "clips" and SimulatorConfig(render_dir=None).render_dir is None
    picture = image_factory("shared.png", (160, 96))
    digest = hashlib.sha256(picture.read_bytes()).hexdigest()
    spec = RenderSpec(160, 96, 1, 12, Motion.PAN_LEFT)
    first, second = RenderCache(folder), RenderCache(folder)
    try:
        made = first.render(picture, digest, spec).result(timeout=60)
        found = second.render(picture, digest, spec).result(timeout=60)
    finally:
        first.close()
        second.close()
    assert found == made and (first.rendered, second.rendered) == (1, 0)
    assert [path.name for path in folder.iterdir()] == [made.name]  # no partial file left behind
    assert len(_frames(found)) == 12
