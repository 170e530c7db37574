"""The journal shared by processes that start at the same time (two commands, an app and a CLI)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from luma_playground import Journal

ROUNDS, PROCESSES = 15, 3


def _open_and_write(
    path: Path, barrier: multiprocessing.synchronize.Barrier, results: multiprocessing.Queue
) -> None:
    barrier.wait()
    try:
        journal = Journal(path)
        journal.begin(
            model="m",
            backend="b",
            base_url="u",
            owner="o",
            key_fingerprint="",
            prompt="p",
            size="1280*720",
            duration=5,
            image="",
            image_url=None,
        )
        journal.close()
        results.put("ok")
    except Exception as error:
        results.put(repr(error))


def test_processes_opening_a_new_journal_at_once_all_succeed(tmp_path, monkeypatch) -> None:
    """Several processes creating the same new journal at the same instant all open it and write."""
    # Forked from a process of one thread that has imported the playground: a fork of the test's
    # own process (which has threads) could start holding a lock that no thread will release.
    # The fork server finds this module (`tests.cli...`) from the checkout's root.
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["luma_playground"])
    for round_number in range(ROUNDS):
        path = tmp_path / f"journal-{round_number}.sqlite3"
        barrier, results = context.Barrier(PROCESSES), context.Queue()
        processes = [
            context.Process(target=_open_and_write, args=(path, barrier, results)) for _ in range(PROCESSES)
        ]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=30) for _ in processes]
        for process in processes:
            process.join(10)
        assert outcomes == ["ok"] * PROCESSES
        journal = Journal(path)
        assert len(journal.history()) == PROCESSES
        journal.close()
