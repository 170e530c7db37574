"""The journal keeps every task, migrates itself, and knows what is left to do.

Its writes from async code run off the event loop, in order, and always land.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from luma_playground import Journal, TaskState

BASE = dict(
    model="luma/ray-2-i2v",
    backend="wavespeed",
    base_url="http://x",
    owner="me",
    key_fingerprint="abc",
    prompt="p",
    size="1280*720",
    duration=5,
    image="a.png",
    image_url="http://x/u.png",
)


def test_fresh_schema(tmp_path: Path) -> None:
    """A new journal has exactly its tables (tasks, transitions, spend, batches, shots), in WAL mode."""
    journal = Journal(tmp_path / "j.sqlite3")
    db = sqlite3.connect(tmp_path / "j.sqlite3")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {
        "tasks",
        "transitions",
        "spend",
        "migrations",
        "batches",
        "batch_rows",
        "shots",
        "segments",
    }
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal.applied_migrations() == [
        "m001_initial",
        "m002_spend",
        "m003_batches",
        "m004_shots",
        "m005_models",
        "m006_drafts",
    ]
    columns = [r[1] for r in db.execute("PRAGMA table_info(tasks)")]
    assert "task_id" in columns and "key_fingerprint" in columns
    assert not any(c == "key" or c == "api_key" for c in columns)


def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    """Opening an existing journal keeps its rows and runs no migration again."""
    path = tmp_path / "j.sqlite3"
    row = Journal(path).begin(**BASE)
    again = Journal(path)
    assert again.get(row) is not None and again.applied_migrations() == [
        "m001_initial",
        "m002_spend",
        "m003_batches",
        "m004_shots",
        "m005_models",
        "m006_drafts",
    ]


def test_lifecycle_and_transitions(tmp_path: Path) -> None:
    """Each state change is recorded once with its time; a completed row without file is pending."""
    journal = Journal(tmp_path / "j.sqlite3")
    row = journal.begin(**BASE)
    assert journal.get(row).state == "submitting" and journal.get(row).pending
    journal.update(row, "created", task_id="t1")
    journal.update(row, "processing")
    journal.update(row, "processing")
    journal.update(row, "completed", output_url="http://x/o.mp4", inference_ms=1500)
    record = journal.by_task_id("t1")
    assert record.pending and record.submitted_at and record.completed_at
    journal.update(row, video_path="/v/t1.mp4")
    assert not journal.get(row).pending
    assert [s for s, _, _ in journal.transitions(row)] == ["submitting", "created", "processing", "completed"]


def test_history_by_owner_or_key(tmp_path: Path) -> None:
    """History filters by owner or key fingerprint, newest first."""
    journal = Journal(tmp_path / "j.sqlite3")
    first = journal.begin(**BASE)
    second = journal.begin(**{**BASE, "owner": "other", "key_fingerprint": "zzz"})
    assert [r.row_id for r in journal.history()] == [second, first]
    assert [r.row_id for r in journal.history("me")] == [first]
    assert [r.row_id for r in journal.history(key_fingerprint="zzz")] == [second]
    assert [r.row_id for r in journal.pending("abc")] == [first]


def test_json_has_no_secret_fields(tmp_path: Path) -> None:
    """A row as JSON carries its id, state, parameters and file, and nothing secret."""
    journal = Journal(tmp_path / "j.sqlite3")
    data = journal.get(journal.begin(**BASE)).to_json()
    assert data["parameters"] == {"prompt": "p", "size": "1280*720", "duration": 5}
    assert {"task_id", "state", "video_path"} <= data.keys()


#: Holds the journal's write lock from another process until a line arrives on its stdin.
HOLD_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
print("released", flush=True)
"""
#: Loop iterations the ticker runs while a write waits (a blocked loop runs none).
TICKS = 500


class LockHolder:
    """Another process holding the journal file's write lock until `release`."""

    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "locked"

    def release(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "released"
        self.process.wait(10)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    journal = Journal(tmp_path / "j.sqlite3")
    yield journal
    journal.close()


async def _tick(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


@pytest.mark.anyio
async def test_write_waits_for_another_process_without_blocking_the_loop(journal: Journal) -> None:
    """While another process holds the write lock, the loop keeps running and reads see the old row."""
    row = await journal.abegin(**BASE)
    holder = LockHolder(journal.path)
    try:
        write = asyncio.ensure_future(journal.aupdate(row, "created", task_id="t1"))
        await _tick(TICKS)  # each tick is one loop iteration: none would run on a blocked loop
        assert not write.done()  # the lock is still held, so the write cannot have landed
        assert journal.get(row).state == TaskState.SUBMITTING  # reads do not queue behind it
    finally:
        holder.release()
    await write
    assert journal.by_task_id("t1").state == TaskState.CREATED
    with sqlite3.connect(journal.path) as other:  # committed, as another process sees it
        assert other.execute("SELECT state FROM tasks WHERE row_id = ?", (row,)).fetchone() == ("created",)


@pytest.mark.anyio
async def test_writes_land_in_the_order_asked(journal: Journal) -> None:
    """Writes started together are applied in the order they were started."""
    row = await journal.abegin(**BASE)
    states = ["created", "processing", "completed", "failed", "completed"]
    await asyncio.gather(*(journal.aupdate(row, state) for state in states))
    assert [state for state, _, _ in journal.transitions(row)] == ["submitting", *states]


@pytest.mark.anyio
async def test_a_row_is_read_back_as_soon_as_it_is_written(journal: Journal) -> None:
    """A read right after an awaited write sees it, on the loop and from another thread."""
    row = await journal.abegin(**BASE)
    assert journal.get(row).state == TaskState.SUBMITTING
    await journal.aupdate(row, "created", task_id="t1")
    assert journal.get(row).task_id == "t1"
    assert (await asyncio.to_thread(journal.by_task_id, "t1")).row_id == row


async def _cancelled(*writes: asyncio.Future[object]) -> None:
    for write in writes:
        write.cancel()
        with pytest.raises(asyncio.CancelledError):
            await write


@pytest.mark.anyio
async def test_cancelled_callers_do_not_lose_their_writes(journal: Journal) -> None:
    """Writes whose callers are cancelled (one being written, one queued behind it) still land, in order."""
    row = await journal.abegin(**BASE)
    holder = LockHolder(journal.path)
    try:
        running = asyncio.ensure_future(journal.aupdate(row, "created", task_id="t1"))
        queued = asyncio.ensure_future(journal.aupdate(row, "processing"))
        await _tick(TICKS)
        await _cancelled(queued, running)
    finally:
        holder.release()
    await journal.aupdate(row, "completed")  # queued after the cancelled ones
    assert journal.get(row).task_id == "t1"
    assert [s for s, _, _ in journal.transitions(row)] == ["submitting", "created", "processing", "completed"]


@pytest.mark.anyio
async def test_cancelled_begin_leaves_no_row_waiting_for_a_submit(journal: Journal) -> None:
    """A begin cancelled while it waits writes no row, or one marked cancelled: none is pending."""
    row = await journal.abegin(**{**BASE, "owner": "first"})
    holder = LockHolder(journal.path)
    try:
        begun = asyncio.ensure_future(journal.abegin(**{**BASE, "owner": "begun"}))
        await _tick(TICKS)  # now being written (the writer thread waits for the lock)
        ahead = asyncio.ensure_future(journal.aupdate(row, "created"))  # keeps the writer busy
        queued = asyncio.ensure_future(journal.abegin(**{**BASE, "owner": "queued"}))
        await _tick(TICKS)
        await _cancelled(queued, begun)
    finally:
        holder.release()
    await ahead
    await journal.abegin(**{**BASE, "owner": "later"})  # queued after whatever the cancels left
    assert journal.history("queued") == []  # cancelled before its turn: never written
    begun_rows = [(r.state, r.pending) for r in journal.history("begun")]
    assert begun_rows in ([], [(TaskState.CANCELLED, False)])


def test_threads_write_and_read_at_once(journal: Journal) -> None:
    """Sync calls from many threads at once each get their own row and read it back."""
    found: list[int] = []

    def work() -> None:
        row = journal.begin(**BASE)
        journal.update(row, "created", task_id=f"t{row}")
        record = journal.by_task_id(f"t{row}")
        assert record is not None
        found.append(record.row_id)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(found) == sorted(row.row_id for row in journal.history()) and len(set(found)) == 16


def test_closing_waits_for_the_writes_asked(tmp_path: Path) -> None:
    """`close` returns once every write asked before it is in the file; later calls fail."""
    journal = Journal(tmp_path / "j.sqlite3")
    row = journal.begin(**BASE)
    holder = LockHolder(journal.path)

    async def ask_and_leave() -> asyncio.Future[None]:
        write = asyncio.ensure_future(journal.aupdate(row, "created", task_id="t1"))
        await _tick(2)  # the write is asked; the loop ends (cancelling it) without waiting for it
        return write

    try:
        asyncio.run(ask_and_leave())
        closer = threading.Thread(target=journal.close)
        closer.start()
    finally:
        holder.release()
    closer.join()
    assert Journal(journal.path).by_task_id("t1") is not None
    with pytest.raises(sqlite3.ProgrammingError):
        journal.get(row)
