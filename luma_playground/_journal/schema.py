"""The journal's tables, and the migrations that build them: applied in order, each once."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

__all__ = ["MIGRATIONS", "migrate"]


def _m001_initial(db: sqlite3.Connection) -> None:
    db.execute(
        """
        CREATE TABLE tasks (
            row_id INTEGER PRIMARY KEY,
            task_id TEXT UNIQUE,
            model TEXT NOT NULL,
            backend TEXT NOT NULL,
            base_url TEXT NOT NULL,
            owner TEXT NOT NULL DEFAULT '',
            key_fingerprint TEXT NOT NULL DEFAULT '',
            prompt TEXT NOT NULL,
            size TEXT NOT NULL,
            duration INTEGER NOT NULL,
            image TEXT NOT NULL DEFAULT '',
            image_url TEXT,
            state TEXT NOT NULL,
            error TEXT,
            error_code INTEGER,
            output_url TEXT,
            video_path TEXT,
            nsfw INTEGER,
            inference_ms INTEGER,
            created_at REAL NOT NULL,
            submitted_at REAL,
            processing_at REAL,
            completed_at REAL,
            updated_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX tasks_state ON tasks (state)")
    db.execute("CREATE INDEX tasks_owner ON tasks (owner, created_at)")
    db.execute(
        """
        CREATE TABLE transitions (
            row_id INTEGER NOT NULL REFERENCES tasks (row_id),
            state TEXT NOT NULL,
            at REAL NOT NULL,
            detail TEXT
        )
        """
    )
    db.execute("CREATE INDEX transitions_row ON transitions (row_id)")


def _m002_spend(db: sqlite3.Connection) -> None:
    """What the server's key has reserved per UTC day; a row's failure releases its amount."""
    db.execute(
        """
        CREATE TABLE spend (
            id INTEGER PRIMARY KEY,
            day TEXT NOT NULL,
            amount REAL NOT NULL,
            row_id INTEGER,
            released INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX spend_day ON spend (day)")


def _m003_batches(db: sqlite3.Connection) -> None:
    db.execute(
        """
        CREATE TABLE batches (
            batch_id INTEGER PRIMARY KEY,
            source_hash TEXT NOT NULL DEFAULT '',
            owner TEXT NOT NULL DEFAULT '',
            key_fingerprint TEXT NOT NULL DEFAULT '',
            backend TEXT NOT NULL DEFAULT '',
            base_url TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX batches_source ON batches (source_hash, key_fingerprint)")
    db.execute(
        """
        CREATE TABLE batch_rows (
            batch_id INTEGER NOT NULL REFERENCES batches (batch_id),
            position INTEGER NOT NULL,
            image TEXT NOT NULL,
            prompt TEXT NOT NULL,
            size TEXT NOT NULL,
            duration INTEGER NOT NULL,
            state TEXT NOT NULL,
            task_row_id INTEGER REFERENCES tasks (row_id),
            error TEXT,
            started_at REAL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (batch_id, position)
        )
        """
    )


def _m004_shots(db: sqlite3.Connection) -> None:
    """Shots: clips continued from each other's last frame, each segment a row of `tasks`.

    A segment is written (with the picture it starts from) before its task's row exists, so that
    a process killed between the two can still find the row by that picture; `row_id` is NULL
    until then.
    """
    db.execute(
        """
        CREATE TABLE shots (
            shot_id INTEGER PRIMARY KEY,
            owner TEXT NOT NULL DEFAULT '',
            key_fingerprint TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL,
            video_path TEXT,
            planned INTEGER NOT NULL,
            prompt TEXT NOT NULL DEFAULT '',
            duration INTEGER NOT NULL DEFAULT 5,
            error TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE segments (
            shot_id INTEGER NOT NULL REFERENCES shots (shot_id),
            position INTEGER NOT NULL,
            row_id INTEGER REFERENCES tasks (row_id),
            frame TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (shot_id, position)
        )
        """
    )
    db.execute("CREATE UNIQUE INDEX segments_row ON segments (row_id)")
    db.execute("CREATE INDEX shots_state ON shots (state)")


def _m005_models(db: sqlite3.Connection) -> None:
    """Each task, batch row and shot names its model (Ray 2 or Ray 2 Flash); older ones are Ray 2.

    `tasks.model` has been there from the start, but a row adopted from a history item without
    a model could be blank; batch rows and shots gain the column so that a batch or shot
    resumed after a restart goes on in its own model. Timings are learnt per model.
    """
    ray_2 = "'luma/ray-2-i2v'"  # the only model before this migration; a literal: it is history
    db.execute(f"UPDATE tasks SET model = {ray_2} WHERE model = ''")
    db.execute(f"ALTER TABLE batch_rows ADD COLUMN model TEXT NOT NULL DEFAULT {ray_2}")
    db.execute(f"ALTER TABLE shots ADD COLUMN model TEXT NOT NULL DEFAULT {ray_2}")
    db.execute("CREATE INDEX tasks_timings ON tasks (backend, model, size, duration, completed_at)")


def _m006_drafts(db: sqlite3.Connection) -> None:
    """A final rendered in Ray 2 from a Ray 2 Flash draft names its draft, so that both show as a pair."""
    db.execute("ALTER TABLE tasks ADD COLUMN draft_task_id TEXT")


#: Applied in order, each once; the names of applied ones are kept in `migrations`.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _m001_initial,
    _m002_spend,
    _m003_batches,
    _m004_shots,
    _m005_models,
    _m006_drafts,
]


def migrate(db: sqlite3.Connection) -> None:
    """Apply the migrations `db` lacks (in the caller's transaction)."""
    db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    applied = {row[0] for row in db.execute("SELECT name FROM migrations")}
    for migration in MIGRATIONS:
        name = migration.__name__.lstrip("_")
        if name not in applied:
            migration(db)
            db.execute("INSERT INTO migrations VALUES (?, ?)", (name, time.time()))
