"""Inline (data URI) pictures: the same picture sent twice at once is never read half-written."""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import Any

import pytest

from luma_playground._pictures import sources


def test_a_picture_being_written_is_not_taken_by_a_second_sender(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one sender's copy is half-written, a second sender of the same picture gets it whole."""
    data = bytes(range(256)) * 64
    uri = "data:image/png;base64," + base64.b64encode(data).decode()
    half_written, go_on = threading.Event(), threading.Event()
    write_bytes = Path.write_bytes
    first = True

    def slow_first_write(path: Path, content: Any) -> int:
        nonlocal first
        if not first:
            return write_bytes(path, content)
        first = False
        with path.open("wb") as file:  # half of it on disk, then wait for the second sender
            file.write(content[: len(content) // 2])
            file.flush()
            half_written.set()
            go_on.wait(10)
            file.write(content[len(content) // 2 :])
        return len(content)

    monkeypatch.setattr(Path, "write_bytes", slow_first_write)
    found: list[Path] = []
    sender = threading.Thread(target=lambda: found.append(sources._decode(uri, tmp_path)))
    sender.start()
    assert half_written.wait(10)
    second = sources._decode(uri, tmp_path)
    assert second.read_bytes() == data
    go_on.set()
    sender.join(10)
    assert found == [second] and second.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == [second.name]  # no partial file left behind
