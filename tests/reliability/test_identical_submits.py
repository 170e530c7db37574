"""Identical submits sent at once (as Variants sends them) whose answers go astray."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from luma_playground import ApiKey, Done, GenerationRequest, Journal, Timeouts, WaveSpeedClient
from luma_playground._run.pipeline import Pipeline
from luma_playground._wavespeed.retry import RetryPolicy

pytestmark = pytest.mark.anyio
KEY = ApiKey("sk-reliability-variants-5e2c")


async def test_a_lost_answer_never_takes_a_twin_task_away(
    sim,
    tmp_path: Path,  # type: ignore[no-untyped-def]
    landscape_image: Path,
) -> None:
    """One twin's answer is dropped, the other's is late: each row ends with its own task's video."""
    client = WaveSpeedClient(sim.base_url, KEY, timeouts=Timeouts(read=5), retry=RetryPolicy(scale=0))
    journal = Journal(tmp_path / "journal.sqlite3")
    pipeline = Pipeline.create(client, journal, tmp_path / "outputs")
    try:
        # Variants upload the image once, so the twins' inputs are the same to the byte.
        request = GenerationRequest(
            image=await client.upload_image(landscape_image), prompt="Twin variants of a slow dolly shot"
        )
        sim.control.add_fault("submit", "drop", after_processing=True)
        sim.control.add_fault("submit", "stall", seconds=0.5, skip=1)

        async def generate() -> Done:
            async for event in pipeline.generate(request, api_key=KEY):
                last = event
            assert isinstance(last, Done)
            return last

        first, second = await asyncio.gather(generate(), generate())
    finally:
        await client.aclose()
    tasks = sim.control.tasks()
    assert len(tasks) == 2 and {first.task_id, second.task_id} == {task["id"] for task in tasks}
    rows = journal.history()
    assert sorted(row.task_id or "" for row in rows) == sorted(task["id"] for task in tasks)
    assert all(row.state == "completed" and Path(row.video_path or "").is_file() for row in rows)
    journal.close()
