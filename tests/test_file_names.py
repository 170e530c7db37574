"""Files made of several tasks carry a name part that only their home folder can compute."""

from __future__ import annotations

import re
import stat
import threading
from pathlib import Path

from luma_playground._journal.file_names import KEY_FILE, unguessable


def test_a_name_is_stable_in_one_home_and_differs_in_another(tmp_path: Path) -> None:
    """The same home gives the same name each time; another home gives another."""
    first = unguessable(tmp_path / "a", "shot-1")
    assert re.fullmatch(r"shot-1-[0-9a-f]{20}", first)
    assert unguessable(tmp_path / "a", "shot-1") == first
    assert unguessable(tmp_path / "a", "shot-2") != first
    assert unguessable(tmp_path / "b", "shot-1") != first


def test_the_home_key_is_private_and_the_first_one_written_wins(tmp_path: Path) -> None:
    """Threads naming at once agree on one key, readable by its owner only, with no draft left."""
    names: list[str] = []

    def name() -> None:
        names.append(unguessable(tmp_path, "batch-4"))

    threads = [threading.Thread(target=name) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(names)) == 1
    key = tmp_path / KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32
    assert [path.name for path in tmp_path.iterdir()] == [KEY_FILE]
