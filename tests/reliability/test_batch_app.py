"""Batches through the launched app, as a client drives them: 3 at once on Bronze, a kill, a restart.

The simulator runs in the test's process, so it outlives the app's and counts every submit and the
most tasks active at once on the owner's key across both runs.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from luma_playground.simulator import key_fingerprint

from ..conftest import wait_for
from .conftest import SERVER_KEY, AppProcess, Evidence, client_for, start_app

#: Bronze: three tasks at once per key (the submits per minute are left unpaced by the fixture);
#: no stall is injected here, so answers may take their time on a busy machine.
BRONZE = {"LUMA_PLAYGROUND_TIER": "bronze", "LUMA_PLAYGROUND_READ_TIMEOUT": "10"}


def rows(image: Path, count: int = 12, duration: int = 5) -> list[dict[str, Any]]:
    """`count` rows of one picture, each with a prompt of its own."""
    return [
        {"image": handle_file(str(image)), "prompt": f"shot {n}: a slow push-in", "duration": duration}
        for n in range(1, count + 1)
    ]


@contextlib.contextmanager
def session(app: AppProcess) -> Iterator[Client]:
    """A gradio_client session on the server's key, closed at the end."""
    client = client_for(app)
    try:
        yield client
    finally:
        client.close()


def usage(sim) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """What the simulator saw of the owner's key: submits, and the most tasks active at once."""
    found: dict[str, int] = sim.control.limits()["keys"].get(key_fingerprint(SERVER_KEY), {})
    return found


def assert_zip_of_videos(path: str, count: int) -> None:
    """The zip holds `count` MP4s named NNN-<task id>.mp4, each a video whose first frame decodes
    (a download cut short of its length is refused before it is kept)."""
    folder = Path(path).with_suffix("")
    with zipfile.ZipFile(path) as bundle:
        names = sorted(bundle.namelist())
        bundle.extractall(folder)
    assert [name[:4] for name in names] == [f"{n:03d}-" for n in range(1, count + 1)], names
    for name in names:
        with av.open(str(folder / name)) as container:
            assert container.streams.video[0].frames > 0 and next(container.decode(video=0)), name


def test_a_batch_of_12_runs_3_at_once_and_zips_up(app: AppProcess, sim, landscape_image: Path) -> None:  # type: ignore[no-untyped-def]
    """`/batch` with 12 rows on Bronze: the simulator never sees more than 3 active, the zip holds 12."""
    twelve = rows(landscape_image)
    with session(app) as client, session(app) as stranger:
        price = client.predict(twelve, api_name="/batch_price")
        archive, record = client.predict(twelve, api_name="/batch")
        _, again = client.predict(record["batch_id"], False, api_name="/get_batch")
        # A shared deployment: another visitor cannot see the batch.
        with pytest.raises(AppError, match=r"There is no batch \d+ among your batches"):
            stranger.predict(record["batch_id"], False, api_name="/get_batch")
    assert again == record
    assert price["usd_total"] == 6.0 and price["videos"] == 12 and price["estimated"] is False
    assert record["state"] == "done" and record["done"] == 12 and record["videos"] == 12
    assert all(row["state"] == "done" and row["task_id"] and row["video_url"] for row in record["rows"])
    assert_zip_of_videos(archive, 12)
    seen = usage(sim)
    assert seen["peak_active"] == 3 and seen["submits"] == 12


def test_the_batch_price_falls_back_to_the_contract_when_pricing_fails(
    app: AppProcess, sim, landscape_image: Path
) -> None:  # type: ignore[no-untyped-def]
    """With the pricing route failing, `/batch_price` gives the contract's price, marked as an estimate."""
    for route in ("price", "pricing"):  # both pricing routes fail
        sim.control.add_fault(route, "status", status=500, count=-1)
    with session(app) as client:
        price = client.predict(rows(landscape_image, 4, duration=10), api_name="/batch_price")
    assert price["estimated"] is True and price["problem"]
    assert price["usd_total"] == 4 * 2 * 0.5 and price["usd_per_5s"] == 0.5 and price["blocks"] == 8
    assert sim.control.faults()[0]["applied"] > 0


def _batch_state(app: AppProcess, batch_id: int) -> str | None:
    with contextlib.closing(sqlite3.connect(app.journal, timeout=10)) as db:
        found = db.execute("SELECT state FROM batches WHERE batch_id = ?", (batch_id,)).fetchone()
    return found[0] if found else None


def _between_submits(app: AppProcess, batch_id: int | None) -> bool:
    """A row is done and three answered tasks run, none being submitted: a kill cuts off no submit.

    A submit cut off mid-flight is, rightly, never sent again (tests/test_pipeline.py), and its
    row would end as not known, not done.
    """
    if batch_id is None:
        return False
    with contextlib.closing(sqlite3.connect(app.journal, timeout=10)) as db:
        rows = db.execute(
            "SELECT r.state, t.task_id FROM batch_rows r LEFT JOIN tasks t ON t.row_id = r.task_row_id"
            " WHERE r.batch_id = ?",
            (batch_id,),
        ).fetchall()
    states = [state for state, _ in rows]
    answered = sum(1 for state, task_id in rows if state == "running" and task_id)
    return "done" in states and answered == 3 and states.count("running") == 3 and "starting" not in states


def _batch_id(job: Any) -> int | None:
    """The batch's id, from the call's progress line ("Batch 1: 4 of 12 done, ...")."""
    for unit in job.status().progress_data or []:
        if found := re.match(r"Batch (\d+):", unit.desc or ""):
            return int(found.group(1))
    return None


def test_a_killed_app_resumes_its_batch_at_start_with_12_submits(  # type: ignore[no-untyped-def]
    sim, work_folder: Path, evidence: Evidence, landscape_image: Path
) -> None:
    """Killed mid-batch, the restarted app finishes it by itself: 12 submits in all, never 4 at once."""
    folder = work_folder / "batch-kill"
    first = start_app(folder, sim.base_url, **BRONZE)
    evidence.apps.append(first)
    client = client_for(first)
    job = client.submit(rows(landscape_image, duration=10), api_name="/batch")
    batch_id = wait_for(
        lambda: _between_submits(first, _batch_id(job)) and _batch_id(job), 90, "a second round"
    )
    assert first.process is not None
    first.process.kill()  # SIGKILL: no shutdown, no cleanup
    first.process.wait(10)
    with contextlib.suppress(Exception):
        client.close()
    assert 4 <= usage(sim)["submits"] < 12

    second = start_app(folder, sim.base_url, **BRONZE)
    evidence.apps.append(second)
    try:
        # Nobody calls: the server goes on with the batch as it starts.
        wait_for(lambda: _batch_state(second, batch_id) == "done", 60, "the batch's end")
        with session(second) as again:
            archive, record = again.predict(batch_id, True, api_name="/get_batch")
    finally:
        second.stop()
    assert record["state"] == "done" and record["done"] == 12, record["rows"]
    assert_zip_of_videos(archive, 12)
    seen = usage(sim)
    assert seen["submits"] == 12 and seen["peak_active"] <= 3
    assert len({row["task_id"] for row in record["rows"]}) == 12
