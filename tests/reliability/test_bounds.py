"""Bounded work for every input, driven as a script would: zips and CSVs on Preview, exports, batch zips.

The heavy numbers (a 2 MB bomb, 300,000 rows, the largest exports, a 100-video zip) are in
`benchmarks/bounds.py`; these cases are small ones that cross each cap all the same.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any

import httpx
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from luma_playground._config import RAY_2

from .conftest import AppProcess, client_for, raw_event

#: A picture row's image: a URL is checked for its shape at Preview, never fetched there.
PICTURE_URL = "https://pictures.example/cat.png"


def _upload(app: AppProcess, name: str, data: bytes) -> dict[str, Any]:
    """Send a file as the page does (POST /gradio_api/upload); the FileData an event takes."""
    (path,) = httpx.post(f"{app.url}gradio_api/upload", files={"files": (name, data)}, timeout=60).json()
    return {"path": path, "orig_name": name, "meta": {"_type": "gradio.FileData"}}


def _preview(app: AppProcess, pictures: list[dict[str, Any]] | None, rows_csv: dict[str, Any] | None) -> str:
    """The Batch tab's private Preview by raw `queue/join`: the refusal's text ('' when accepted)."""
    answer = raw_event(app, "preview", [pictures, rows_csv, "a slow pan", "1280*720", 5, RAY_2.id])
    if answer.get("success"):
        return ""
    return str(answer.get("output", {}).get("error") or answer)


def _extractions(app: AppProcess) -> list[Path]:
    folder = app.home / "batches"
    return sorted(folder.glob("zip-*")) if folder.is_dir() else []


def _bomb(entries: dict[str, int]) -> bytes:
    """A zip whose entries are so many bytes of zeros, deflated (a few KB a megabyte)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, size in entries.items():
            with bundle.open(name, "w", force_zip64=False) as entry:
                for _ in range(size // (1 << 20)):
                    entry.write(bytes(1 << 20))
    return buffer.getvalue()


def test_a_zip_bomb_on_preview_is_refused_before_anything_is_kept(app: AppProcess) -> None:
    """A 30 MB-of-zeros picture (70 KB zipped) and a zip of 1,001 entries: refused, nothing on disk."""
    bomb = _bomb({"a.png": 30 << 20})
    crowd = io.BytesIO()
    with zipfile.ZipFile(crowd, "w") as bundle:
        for number in range(1001):
            bundle.writestr(f"{number:04d}.txt", b"")
    refused = _preview(app, [_upload(app, "bomb.zip", bomb)], None)
    too_many = _preview(app, [_upload(app, "crowd.zip", crowd.getvalue())], None)
    assert len(bomb) < 100_000
    assert "Picture 1 of the zip is 30.0 MB; the limit is 20.0 MB a picture." in refused, refused
    assert "A zip may hold at most 1,000 entries." in too_many, too_many
    assert _extractions(app) == []


def test_a_csv_is_read_no_further_than_one_row_past_the_cap(app: AppProcess) -> None:
    """501 good rows, then a broken one: refused for its rows at row 501, the broken row never read."""
    good = "".join(f"{PICTURE_URL},shot {n}\n" for n in range(501))
    broken = f'{PICTURE_URL},"{"x" * 200_000}"\n'
    answer = _preview(app, None, _upload(app, "rows.csv", f"image,prompt\n{good}{broken}".encode()))
    assert "A batch holds at most 500 rows; the CSV has more." in answer, answer


def test_an_over_long_csv_field_is_one_sentence(app: AppProcess) -> None:
    """A 200,000-character prompt, on one line or over several: a sentence naming the line, not a crash."""
    one_line = f'image,prompt\n{PICTURE_URL},"{"x" * 200_000}"\n'
    many_lines = f'image,prompt\n{PICTURE_URL},ok\n{PICTURE_URL},"{("y" * 1000 + chr(10)) * 200}"\n'
    long_line = _preview(app, None, _upload(app, "long.csv", one_line.encode()))
    long_field = _preview(app, None, _upload(app, "tall.csv", many_lines.encode()))
    assert "Line 2 of the CSV is longer than 65,536 characters." in long_line, long_line
    assert "has a field longer than 131,072 characters." in long_field, long_field


def _a_portrait_video(client: Client, picture: Path) -> str:
    """A finished 5 s portrait video's task id, made on the owner's key."""
    made = client.predict(handle_file(str(picture)), "a slow pan", "720*1280", 5, api_name="/generate")
    return str(made[1]["task_id"])


def test_exports_over_the_budget_and_huge_trims_are_one_sentence(
    app: AppProcess, landscape_image: Path
) -> None:
    """A 1920 px 30 fps WebP of a 5 s portrait clip (983 MP) and a trim to 1e400 s: each one sentence."""
    client = client_for(app)
    try:
        task_id = _a_portrait_video(client, landscape_image)
        gif = client.predict(task_id, "gif", "pingpong", "", 480, 12, api_name="/export")[1]
        too_long = _refusal(client, task_id, "trim", f"1:{'9' * 400}", 480, 12)
        assert "A trim ends within 3600 seconds of the start." in too_long, too_long
        too_large = _refusal(client, task_id, "webp", "", 1920, 30)
    finally:
        client.close()
    assert gif["kind"] == "gif" and gif["bytes"] > 0
    assert "A 1920 px WebP at 30 fps of this clip would encode 983 megapixels, over the 320" in too_large, (
        too_large
    )


def _refusal(client: Client, task_id: str, kind: str, trim: str, width: int, fps: int) -> str:
    """The error `/export` answers with ('' when it made the export)."""
    try:
        client.predict(task_id, kind, "pingpong", trim, width, fps, api_name="/export")
    except AppError as error:
        return str(error)
    return ""


def test_get_batch_builds_the_zip_once_and_gives_it_again(app: AppProcess, landscape_image: Path) -> None:
    """Two /get_batch calls of an ended batch give the same zip file, not a rebuilt one."""
    rows = [{"image": handle_file(str(landscape_image)), "prompt": f"shot {n}"} for n in range(2)]
    client = client_for(app)
    try:
        _, record = client.predict(rows, api_name="/batch")
        archives = list((app.home / "outputs" / "batches").glob(f"batch-{record['batch_id']}-*.zip"))
        first = os.stat(archives[0])
        client.predict(record["batch_id"], False, api_name="/get_batch")
        client.predict(record["batch_id"], False, api_name="/get_batch")
    finally:
        client.close()
    assert record["done"] == 2 and len(archives) == 1
    again = os.stat(archives[0])
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
