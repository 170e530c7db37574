"""The journal keeps every task, migrates itself, and knows what is left to do."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from luma_playground import Journal

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
    """A new journal has exactly the tasks, transitions and migrations tables, in WAL mode."""
    journal = Journal(tmp_path / "j.sqlite3")
    db = sqlite3.connect(tmp_path / "j.sqlite3")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"tasks", "transitions", "migrations"}
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal.applied_migrations() == ["m001_initial"]
    columns = [r[1] for r in db.execute("PRAGMA table_info(tasks)")]
    assert "task_id" in columns and "key_fingerprint" in columns
    assert not any(c == "key" or c == "api_key" for c in columns)


def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    """Opening an existing journal keeps its rows and runs no migration again."""
    path = tmp_path / "j.sqlite3"
    row = Journal(path).begin(**BASE)
    again = Journal(path)
    assert again.get(row) is not None and again.applied_migrations() == ["m001_initial"]


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
