"""Each failure a caller can provoke gets a sentence of its own, shown as text, never Gradio's generic one."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from luma_playground._config import RAY_2
from luma_playground.media import write_metadata

from .conftest import USER_KEY, AppProcess, call_private, client_for, key_calls

PROMPT = "Morning mist lifting off the lake"


@pytest.fixture(scope="module")
def client(app: AppProcess) -> Iterator[Client]:
    """One visitor sending their own key, so that every submit of this module is counted on it."""
    made = client_for(app, USER_KEY)
    yield made
    made.close()


def one_sentence(app: AppProcess, error: BaseException | str) -> str:
    """The message, checked to be a short sentence of the app's own, with no markup and no server path."""
    text = str(error)
    assert "upstream app raised" not in text.lower() and "verbose error" not in text.lower(), text
    assert "<" not in text and "Traceback" not in text, text
    assert str(app.home.parent) not in text and "/tmp" not in text, text
    assert 0 < len(text) < 300, text
    return text


def first_video(client: Client, image: Path) -> tuple[str, str]:
    """A finished video of this visitor: its task id and the MP4 the client downloaded."""
    video, record = client.predict(handle_file(str(image)), PROMPT, "1280*720", 5, api_name="/generate")
    return record["task_id"], video


def shot_row(app: AppProcess, name: str) -> dict[str, Any]:
    with sqlite3.connect(app.journal, timeout=10) as db:
        db.row_factory = sqlite3.Row
        row = db.execute(
            "SELECT * FROM shots WHERE shot_id = ?", (int(name.removeprefix("shot-")),)
        ).fetchone()
    return dict(row)


def saved_path(app: AppProcess, task_id: str) -> Path:
    [row] = app.rows("task_id = ?", (task_id,))
    return Path(row["video_path"])


def test_concurrent_extends_of_one_shot_start_one_segment(  # type: ignore[no-untyped-def]
    app: AppProcess, client: Client, sim, landscape_image: Path
) -> None:
    """Three `/extend` at once on one shot: one segment is submitted and made, the others get one sentence."""
    first, _ = first_video(client, landscape_image)
    _, record = client.predict(first, "push in", 5, api_name="/extend")
    name = record["shot"]["name"]
    before = key_calls(sim, USER_KEY, "submit")
    # Slow polls keep the winner's segment in the making while the other calls arrive.
    sim.control.add_fault("result", "stall", seconds=0.4, count=3)
    jobs = [client.submit(name, f"pull back {n}", 5, api_name="/extend") for n in range(3)]
    results, errors = [], []
    for job in jobs:
        try:
            results.append(job.result(timeout=120))
        except AppError as error:
            errors.append(one_sentence(app, error))
    assert len(results) == 1 and len(errors) == 2, (results, errors)
    assert all("already being extended" in text for text in errors), errors
    assert key_calls(sim, USER_KEY, "submit") == before + 1
    _, made = results[0]
    assert made["shot"]["name"] == name and len(made["shot"]["segments"]) == 3
    assert made["shot"]["state"] == "ready"
    row = shot_row(app, name)
    assert row["state"] == "ready" and row["planned"] == 3 and row["error"] is None


def test_a_damaged_saved_video_gets_one_sentence(  # type: ignore[no-untyped-def]
    app: AppProcess, client: Client, sim, landscape_image: Path
) -> None:
    """A saved MP4 damaged on disk: export and extend each answer one sentence, and nothing is submitted."""
    task_id, _ = first_video(client, landscape_image)
    saved_path(app, task_id).write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x13\x37" * 4000)
    before = key_calls(sim, USER_KEY, "submit")
    with pytest.raises(AppError) as exported:
        client.predict(task_id, "gif", "pingpong", "", 320, 8, api_name="/export")
    assert "cannot be read" in one_sentence(app, exported.value)
    with pytest.raises(AppError) as extended:
        client.predict(task_id, "push in", 5, api_name="/extend")
    assert "cannot be read" in one_sentence(app, extended.value)
    assert key_calls(sim, USER_KEY, "submit") == before


def test_reusing_a_file_with_no_readable_frame_says_so(  # type: ignore[no-untyped-def]
    app: AppProcess, client: Client, landscape_image: Path, tmp_path: Path
) -> None:
    """Reusing the settings of an MP4 whose settings read but whose frames are cut off is one sentence."""
    _, video = first_video(client, landscape_image)
    data = Path(video).read_bytes()
    moov = data.index(b"moov") - 4  # faststart: the index (and its tags) come before the frames
    size = int.from_bytes(data[moov : moov + 4], "big")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: moov + size + 16])
    with pytest.raises(AppError) as reused:
        call_private(client, "page_use_settings", handle_file(str(cut)))
    assert "cannot be read" in one_sentence(app, reused.value)


def test_settings_read_from_a_file_are_checked_like_any_input(  # type: ignore[no-untyped-def]
    app: AppProcess, client: Client, landscape_image: Path, tmp_path: Path
) -> None:
    """A file whose tags carry an HTML size and a 100 kB prompt is refused in one sentence, shown as text."""
    _, video = first_video(client, landscape_image)
    forged = tmp_path / "forged.mp4"
    shutil.copyfile(video, forged)
    tag = '<img src=x onerror="alert(1)">'
    write_metadata(forged, {"prompt": "a" * 100_000, "size": tag, "duration": "5"})
    found = call_private(client, "page_read_settings", handle_file(str(forged)))
    assert "<img" not in found and len(found) < 1000 and "cannot be used" in found, found[:300]
    with pytest.raises(AppError) as reused:
        call_private(client, "page_use_settings", handle_file(str(forged)))
    assert "2,000" in one_sentence(app, reused.value)
    write_metadata(forged, {"prompt": "A short prompt", "size": tag})
    with pytest.raises(AppError) as sized:
        call_private(client, "page_use_settings", handle_file(str(forged)))
    assert "size" in one_sentence(app, sized.value).lower()


def test_batch_preview_errors_show_markup_as_text(app: AppProcess, client: Client, tmp_path: Path) -> None:
    """A CSV cell with markup comes back in the Batch tab's error escaped once, so it shows as text."""
    rows = tmp_path / "rows.csv"
    rows.write_text("image,prompt,size,duration\nhttps://pictures.test/a.png,A calm sea,<b>big</b>,5\n")
    with pytest.raises(AppError) as refused:
        call_private(client, "preview", [], handle_file(str(rows)), "", "1280*720", 5, RAY_2.id)
    assert "&lt;b&gt;big&lt;/b&gt;" in one_sentence(app, refused.value)
