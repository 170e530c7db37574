"""Shots: a video extended from its last frame, segment by segment, joined into one seamless MP4."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path

import pytest

from luma_playground import ApiKey, GenerationRequest, InvalidRequest, Picture, Playground, Settings
from luma_playground._errors import ShotBusy
from luma_playground._features.shot_store import ShotState
from luma_playground._features.shots import MAX_SEGMENTS
from luma_playground._guard.limits import Caller
from luma_playground.media import read_metadata

from ..media.conftest import decoded, probe, steps

pytestmark = pytest.mark.anyio

CALLER = Caller("local")


async def _first_video(playground, image: Path, prompt: str = "a slow pan to the right") -> str:
    """A finished 5 s video; its task id."""
    [job] = await playground.start(
        GenerationRequest.create(Picture.from_operator_file(image), prompt, size="1280*720", duration=5),
        CALLER,
    )
    return (await job.wait()).task_id


def _frame_count(video: Path) -> int:
    return len(decoded(video))


async def test_a_three_segment_shot_is_seamless_and_has_one_submit_per_segment(
    playground, sim, landscape_image
) -> None:
    """Two extensions make one 1280x720 shot as long as its segments less the repeated frames."""
    first = await _first_video(playground, landscape_image)
    run = await playground.shots.extend(first, "the camera pushes in", 5, CALLER, times=2)
    shot = await run.wait()
    assert shot.state == ShotState.READY and len(shot.segments) == 3 and shot.error is None
    records = playground.shots.segments(shot)
    for record in records:
        assert sim.control.task(record.task_id)["submits"] == 1
    assert [r.prompt for r in records] == ["a slow pan to the right", *["the camera pushes in"] * 2]
    assert records[1].image == shot.segments[1].frame and Path(records[1].image).is_file()
    videos = [Path(r.video_path) for r in records]
    counts = [_frame_count(video) for video in videos]
    # The shot's file name has a part only this home can compute: no one guesses it from "shot-1".
    assert re.fullmatch(rf"{shot.name}-[0-9a-f]{{20}}\.mp4", Path(shot.video_path).name)
    size, rate, seconds = probe(Path(shot.video_path))
    expected = (sum(counts) - 2) / rate
    assert size == (1280, 720) and abs(seconds - expected) <= 1 / rate
    frames = decoded(Path(shot.video_path))
    assert len(frames) == sum(counts) - 2
    # At each seam the step between frames is no larger than the largest inside a segment.
    inner = max(max(steps(decoded(video))) for video in videos)
    seams = [counts[0], counts[0] + counts[1] - 1]  # the first frame after each join
    shot_steps = steps(frames)
    assert all(shot_steps[seam - 1] <= inner for seam in seams)
    meta = read_metadata(Path(shot.video_path))
    assert meta["segments"] == ",".join(r.task_id for r in records) and meta["shot"] == shot.name
    assert json.loads(meta["segment_prompts"])[2] == "the camera pushes in"


async def test_extending_a_segment_continues_its_shot(playground, landscape_image) -> None:
    """Extending by the shot's name or any segment's task id adds to the same shot, up to the limit."""
    first = await _first_video(playground, landscape_image)
    shot = await (await playground.shots.extend(first, "drift left", 5, CALLER)).wait()
    again = await (await playground.shots.extend(shot.name, "drift right", 10, CALLER)).wait()
    assert again.shot_id == shot.shot_id and len(again.segments) == 3
    assert playground.shots.segments(again)[2].duration == 10
    with pytest.raises(InvalidRequest, match=f"at most {MAX_SEGMENTS} segments"):
        await playground.shots.extend(first, "too many", 5, CALLER, times=MAX_SEGMENTS - 2)


async def test_cancel_stops_the_chain_and_keeps_what_was_made(playground, sim, landscape_image) -> None:
    """Cancelling mid-chain cancels the segment being made; the shot keeps its finished segments."""
    first = await _first_video(playground, landscape_image)
    run = await playground.shots.extend(first, "on and on", 5, CALLER, times=4)
    async for _ in run.segment_jobs():
        if len(run.jobs) == 2:
            break
    second = run.jobs[1]
    async for _ in second.events():
        if second.task_id:
            break
    note = await playground.shots.cancel(first, CALLER)
    shot = await run.wait()
    assert "ancel" in note and shot.state == ShotState.STOPPED
    assert len(shot.segments) == 2 and Path(shot.video_path).is_file()
    assert playground.journal.by_task_id(second.task_id).state == "cancelled"
    assert sim.control.task(second.task_id)["status"] == "cancelled"
    assert len(run.jobs) == 2


async def test_extends_of_one_video_at_once_make_one_shot(playground, sim, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """Three extends of one plain video at once: one shot and one submit; the others start nothing."""
    first = await _first_video(playground, landscape_image)
    calls = [playground.shots.extend(first, f"push in {n}", 5, CALLER) for n in range(3)]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    runs = [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert len(runs) == 1 and all(isinstance(error, ShotBusy) for error in refused), outcomes
    shot = await runs[0].wait()
    assert shot.state == ShotState.READY and len(shot.segments) == 2
    assert len(playground.shots.store.history()) == 1 and len(sim.control.tasks()) == 2


async def test_a_video_still_running_cannot_be_extended(playground, landscape_image) -> None:
    """Only a finished video is extended: a running task is refused before anything is spent."""
    [job] = await playground.start(
        GenerationRequest.create(
            Picture.from_operator_file(landscape_image), "slow", size="1280*720", duration=5
        ),
        CALLER,
    )
    async for _ in job.events():
        if job.task_id:
            break
    with pytest.raises(InvalidRequest, match="finished video"):
        await playground.shots.extend(job.task_id, "more", 5, CALLER)
    await job.wait()


async def test_a_server_key_shot_goes_on_at_the_next_start(sim, tmp_path, landscape_image) -> None:
    """A shot of the server's key cut by a restart is taken up by the next start, its segment sent once."""
    key = ApiKey(f"sk-start-{uuid.uuid4().hex}")
    settings = Settings(data_dir=tmp_path, base_url=sim.base_url, api_key=key)
    before = Playground.open(settings, start_simulator=False)
    try:
        run = await before.shots.extend(await _first_video(before, landscape_image), "and on", 5, CALLER)
        async for _ in run.jobs[0].events():
            if run.jobs[0].task_id:
                break
    finally:
        await before.aclose()
    after = Playground.open(settings, start_simulator=False)
    try:
        async with after.lifespan():
            [resumed] = after.shots.runs.values()
            shot = await resumed.wait()
        assert shot.state == ShotState.READY and len(shot.segments) == 2
        for record in after.shots.segments(shot):
            assert sim.control.task(record.task_id)["submits"] == 1
        assert sim.control.stats()["routes"]["submit"] == 2
    finally:
        await after.aclose()
