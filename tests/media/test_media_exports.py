"""Exports and loops of a clip: trims, GIF and WebP, ping-pong and crossfade loops, settings inside."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from luma_playground._errors import InvalidRequest
from luma_playground._features.exports import ExportSpec, export_video
from luma_playground.media import make_loop, read_metadata, to_gif, to_webp, trim, write_metadata

from .conftest import FPS, HEIGHT, SECONDS, WIDTH, decoded, difference, probe, steps


@pytest.mark.parametrize(("export", "fmt"), [(to_gif, "GIF"), (to_webp, "WEBP")])
@pytest.mark.parametrize(("width", "fps"), [(160, 12), (240, 8)])
def test_animations_have_the_frames_and_size_asked(
    pan: Path, tmp_path: Path, export, fmt: str, width: int, fps: float
) -> None:
    """A GIF or WebP decodes with duration x fps frames (within one), the width asked and the clip's shape."""
    out = export(pan, tmp_path / f"clip.{fmt.lower()}", width=width, fps=fps)
    with Image.open(out) as image:
        assert image.format == fmt and image.size == (width, round(width * HEIGHT / WIDTH))
        assert abs(image.n_frames - SECONDS * fps) <= 1
        assert image.info["loop"] == 0
        total_ms = 0
        for index in range(image.n_frames):
            image.seek(index)
            image.load()  # WebP reads a frame's duration as it decodes it
            total_ms += image.info["duration"]
    assert abs(total_ms - SECONDS * 1000) <= 1000 / fps


def test_pingpong_plays_forward_then_back(pan: Path, tmp_path: Path) -> None:
    """A ping-pong loop has 2n - 2 frames, its second half the first played backwards."""
    source = decoded(pan)
    loop = decoded(make_loop(pan, tmp_path / "loop.mp4", mode="pingpong"))
    n = len(source)
    assert len(loop) == 2 * n - 2
    # Frame n + k mirrors frame n - 2 - k: compare one from each half with its twin and a neighbour.
    k = n // 2
    assert difference(loop[n + k], loop[n - 2 - k]) < difference(loop[n + k], loop[n - 2 - k + 4])


def test_crossfade_loop_wraps_without_a_jump(pan: Path, tmp_path: Path) -> None:
    """A crossfade loop is shorter by the fade, and its last-to-first step is no larger than any inside."""
    loop = decoded(make_loop(pan, tmp_path / "loop.mp4", mode="crossfade", crossfade_seconds=0.5))
    assert len(loop) == SECONDS * FPS - FPS // 2
    inside = max(steps(loop))
    assert difference(loop[-1], loop[0]) <= inside


def test_a_plain_cut_loop_would_jump(pan: Path) -> None:
    """Without a fade the pan's end and start are far apart, so the crossfade test above can fail."""
    frames = decoded(pan)
    inside = max(steps(frames))
    assert difference(frames[-1], frames[0]) > 3 * inside


def test_trim_keeps_the_frames_between_start_and_end(pan: Path, tmp_path: Path) -> None:
    """A trim lasts end - start within one frame and starts on the frame shown at `start`."""
    start, end = 0.75, 1.5
    out = trim(pan, tmp_path / "trim.mp4", start, end)
    size, rate, duration = probe(out)
    assert size == (WIDTH, HEIGHT) and rate == FPS
    assert abs(duration - (end - start)) <= 1 / FPS
    source, frames = decoded(pan), decoded(out)
    first = round(start * FPS)
    nearest = min(range(first - 3, first + 4), key=lambda index: difference(frames[0], source[index]))
    assert nearest == first


def test_trim_refuses_an_empty_range(pan: Path, tmp_path: Path) -> None:
    """A trim whose end is not after its start is refused before anything is written."""
    with pytest.raises(ValueError, match="start < end"):
        trim(pan, tmp_path / "trim.mp4", 1.0, 1.0)
    assert not list(tmp_path.iterdir())


def test_settings_survive_a_round_trip(pan: Path, tmp_path: Path) -> None:
    """Settings written with a loop or trim, non-ASCII prompt included, read back unchanged."""
    settings = {
        "prompt": 'Fuchs im Schnee — 雪の狐 🦊, "quoted"',
        "size": "1280*720",
        "duration": "10",
        "model": "luma/ray-2",
        "task_id": "t-123",
        "segments": '["t-1", "t-2"]',
    }
    looped = make_loop(pan, tmp_path / "loop.mp4", mode="pingpong", metadata=settings)
    trimmed = trim(pan, tmp_path / "trim.mp4", 0.0, 1.0, metadata=settings)
    assert read_metadata(looped) == settings and read_metadata(trimmed) == settings
    with av.open(str(looped)) as container:
        assert container.metadata["title"] == settings["prompt"]


def test_settings_added_to_a_download_by_stream_copy(pan: Path, tmp_path: Path) -> None:
    """write_metadata adds settings to an existing MP4 without touching a single coded frame."""
    video = tmp_path / "download.mp4"
    video.write_bytes(pan.read_bytes())
    write_metadata(video, {"prompt": "première", "task_id": "abc"})
    write_metadata(video, {"task_id": "def", "model": "luma/ray-2"})
    assert read_metadata(video) == {"prompt": "première", "task_id": "def", "model": "luma/ray-2"}
    assert _packets(video) == _packets(pan)
    assert [p.name for p in tmp_path.iterdir()] == ["download.mp4"]


def test_a_file_without_settings_reads_its_plain_tags(pan: Path) -> None:
    """A rendered clip carries no settings, so only its own tags (none here) are read."""
    assert read_metadata(pan) == {}


def _packets(video: Path) -> list[bytes]:
    with av.open(str(video)) as container:
        return [bytes(packet) for packet in container.demux(video=0) if packet.size]


def test_faststart_and_browser_codec(pan: Path, tmp_path: Path) -> None:
    """Written MP4s are H.264 yuv420p with the moov atom before the media data."""
    out = make_loop(pan, tmp_path / "loop.mp4", mode="crossfade")
    data = out.read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat")
    with av.open(str(out)) as container:
        context = container.streams.video[0].codec_context
        assert (context.name, context.pix_fmt) == ("h264", "yuv420p")
    assert np.asarray(decoded(out)[0]).shape == (HEIGHT, WIDTH, 3)


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_visitor_makes_one_export_at_a_time(pan: Path, tmp_path: Path) -> None:
    """A visitor's second export while the first is made is refused; another visitor's is not."""
    spec = ExportSpec.create("gif", width=160, fps=8)
    first = asyncio.ensure_future(export_video(pan, spec, tmp_path / "first.gif", owner="session:a"))
    await asyncio.sleep(0)  # the first has started and waits for its thread
    with pytest.raises(InvalidRequest, match="An export of yours is being made"):
        await export_video(pan, spec, tmp_path / "second.gif", owner="session:a")
    other = await export_video(pan, spec, tmp_path / "other.gif", owner="session:b")
    assert (await first).is_file() and other.is_file()
    assert (await export_video(pan, spec, tmp_path / "again.gif", owner="session:a")).is_file()


def test_an_animation_streams_its_frames(pan: Path, tmp_path: Path) -> None:
    """A GIF holds a frame at a time: four times the frames, the same peak of decoded images alive."""
    held: list[int] = []
    original = Image.Image.quantize

    def counting(self: Image.Image, *args: object, **kwargs: object) -> Image.Image:
        held.append(sum(1 for obj in gc.get_objects() if isinstance(obj, Image.Image)))
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    Image.Image.quantize = counting  # type: ignore[method-assign]
    try:
        to_gif(pan, tmp_path / "slow.gif", width=64, fps=6)
        few = max(held)
        held.clear()
        to_gif(pan, tmp_path / "fast.gif", width=64, fps=24)
    finally:
        Image.Image.quantize = original  # type: ignore[method-assign]
    assert max(held) <= few + 2
