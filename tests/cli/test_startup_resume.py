"""A process that starts (the web app) finishes what a killed one left: `Playground` level."""

from __future__ import annotations

import asyncio
import signal

import pytest

from luma_playground import ApiKey, Playground, Settings
from luma_playground._playground import SIMULATOR_KEY

from .conftest import wait_for

pytestmark = pytest.mark.anyio


def _settings(cli, key: str | None = None) -> Settings:
    """The settings of a server started on the same home, with `key` (else the test's key)."""
    return Settings.from_env().with_changes(base_url=cli.base_url, api_key=ApiKey(key or cli.key))


def _kill_mid_task(cli, image) -> dict:
    running = cli.start("generate", image, "-p", "restart me", "--duration", "10")
    row = wait_for(
        lambda: cli.rows() and cli.rows()[0]["state"] == "processing" and cli.row(), what="a processing row"
    )
    running.stop(signal.SIGKILL)
    return row


async def test_startup_resume_finishes_a_killed_process_task(cli, server, landscape_image) -> None:
    """A new Playground on the same home finishes a killed process's task at start-up, unwatched."""
    row = _kill_mid_task(cli, landscape_image)
    playground = Playground.open(_settings(cli), start_simulator=False)
    try:
        [job] = await playground.resume_at_startup()
        done = await asyncio.wait_for(job.wait(), 30)
        record = playground.journal.by_task_id(row["task_id"])
        assert record.state == "completed" and record.video_path == str(done.video_path)
        assert done.video_path.is_file()
        assert await playground.resume_at_startup() == []
    finally:
        await playground.aclose()
    assert server.control.task(row["task_id"])["submits"] == 1


async def test_lifespan_resumes_and_skips_rows_already_followed(cli, server, landscape_image) -> None:
    """`Playground.lifespan` resumes pending tasks at start, and a second resume skips followed rows."""
    row = _kill_mid_task(cli, landscape_image)
    playground = Playground.open(_settings(cli), start_simulator=False)
    try:
        async with playground.lifespan(None):
            [job] = list(playground.remote.runner.jobs.values())
            assert job.row_id == row["row_id"]
            assert playground.resume_pending() == []
            await asyncio.wait_for(job.wait(), 30)
        assert playground.journal.get(row["row_id"]).state == "completed"
    finally:
        await playground.aclose()


async def test_startup_leaves_other_keys_tasks_for_their_sessions(cli, server, landscape_image) -> None:
    """Without the key that created a task, start-up does not touch it; with it, it resumes."""
    row = _kill_mid_task(cli, landscape_image)
    playground = Playground.open(_settings(cli, "sk-server-owner"), start_simulator=False)
    try:
        assert await playground.resume_at_startup() == []
        [job] = playground.resume_pending(ApiKey(cli.key))  # the user's own session
        await asyncio.wait_for(job.wait(), 30)
        assert playground.journal.get(row["row_id"]).state == "completed"
    finally:
        await playground.aclose()


async def test_startup_marks_tasks_of_a_stopped_simulator_lost(isolated_home) -> None:
    """With no key, start-up marks tasks of a previous process's simulator lost, with why."""
    settings = Settings.from_env().with_changes(api_key=None)
    playground = Playground.open(settings, start_simulator=True)
    try:
        row_id = playground.journal.begin(
            model="luma/ray-2-i2v",
            backend="simulator",
            base_url="http://127.0.0.1:9",
            owner="local",
            key_fingerprint=ApiKey(SIMULATOR_KEY).fingerprint,
            prompt="p",
            size="1280*720",
            duration=5,
            image="",
            image_url=None,
        )
        playground.journal.update(row_id, "processing", task_id="gone-with-its-process")
        assert await playground.resume_at_startup() == []
        record = playground.journal.get(row_id)
        assert record.state == "lost" and "simulator" in record.error
    finally:
        await playground.aclose()
