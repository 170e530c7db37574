"""Pictures cross one boundary: no way in reads a server file a caller names, each refused alike.

Driven as a script would: raw `queue/join` on the Batch tab's private preview and confirm,
`gradio_client`, and an `mcp` client. A private picture outside every app folder, and a path that
does not exist, get the same one sentence, and the simulator sees no upload and no submit.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from luma_playground import Picture
from luma_playground._pictures.sources import NOT_YOURS

from ..conftest import make_image
from .conftest import SERVER_KEY, AppProcess, client_for, key_calls, mcp_tool, raw_event

FILE_DATA = {"_type": "gradio.FileData"}


@pytest.fixture(scope="module")
def private_picture(work_folder: Path) -> Path:
    """A picture on the server's disk, outside every folder of the app (its home, uploads, temp)."""
    folder = work_folder / "private"
    folder.mkdir(exist_ok=True)
    return make_image(folder / "secret.png")


def spent(sim: Any) -> tuple[int, int]:
    """What the owner's key did on the simulator: uploads and submits."""
    return key_calls(sim, SERVER_KEY, "upload"), key_calls(sim, SERVER_KEY, "submit")


def upload(app: AppProcess, name: str, data: bytes) -> dict[str, Any]:
    """A file sent by this visitor through Gradio's upload route, as the page sends it."""
    answer = httpx.post(f"{app.url}gradio_api/upload", files={"files": (name, data)}, timeout=30)
    answer.raise_for_status()
    return {"path": answer.json()[0], "orig_name": name, "meta": FILE_DATA}


def preview_csv(
    app: AppProcess, csv_text: str, pictures: list[dict[str, Any]], session: str
) -> dict[str, Any]:
    """The Batch tab's private Preview with a CSV (and the files sent with it), by raw queue/join."""
    csv_file = upload(app, "rows.csv", csv_text.encode())
    return raw_event(app, "preview", [pictures, csv_file, "", "1280*720", 5], session_hash=session)


def error_of(message: dict[str, Any]) -> str | None:
    output = message.get("output") or {}
    return None if message.get("success") else str(output.get("error"))


def test_a_picture_is_made_only_by_its_checked_constructors(tmp_path: Path) -> None:
    """`Picture` refuses a plain path; `within` refuses a file outside the folders, present or not."""
    inside, outside = tmp_path / "mine", tmp_path / "elsewhere"
    inside.mkdir()
    outside.mkdir()
    mine, theirs = make_image(inside / "a.png"), make_image(outside / "b.png")
    with pytest.raises(TypeError):
        Picture(theirs, "upload")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Picture(theirs, "upload", object())
    answers = []
    for path in (theirs, outside / "missing.png", inside / ".." / "elsewhere" / "b.png", inside / "gone.png"):
        with pytest.raises(Exception) as refused:
            Picture.within(path, [inside])
        answers.append(str(refused.value))
    assert set(answers) == {NOT_YOURS}
    assert Picture.within(mine, [inside]).path == mine.resolve()


def test_a_csv_naming_a_server_file_is_refused_alike_and_nothing_is_spent(
    app: AppProcess, sim: Any, private_picture: Path
) -> None:
    """Absolute, `../` and missing paths in a CSV: one sentence, naming no path; Confirm starts nothing."""
    climbing = "../" * 12 + str(private_picture).lstrip("/")
    cells = [str(private_picture), climbing, "/etc/hostname", "/no/such.png"]
    answers = []
    for number, cell in enumerate(cells):
        session = f"boundary-csv-{number}"
        answers.append(error_of(preview_csv(app, f"image,prompt\n{cell},a slow pan\n", [], session)))
        confirmed = raw_event(app, "confirm", [], session_hash=session)
        assert "Press Preview first" in str(error_of(confirmed))
    assert len(set(answers)) == 1 and answers[0] is not None, answers
    assert "Line 2: the image must be" in answers[0] and "/" not in answers[0].split("URL")[0]
    assert spent(sim) == (0, 0)


def test_a_csv_names_the_pictures_sent_with_it(app: AppProcess, sim: Any, landscape_image: Path) -> None:
    """A CSV naming an uploaded picture and a zip's picture previews two rows, and Confirm makes them."""
    bundle = io.BytesIO()
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.write(landscape_image, "shots/zipped.png")
    sent = [upload(app, "mine.png", landscape_image.read_bytes()), upload(app, "pics.zip", bundle.getvalue())]
    session = "boundary-own"
    csv_text = "image,prompt\nmine.png,a slow pan\nshots/zipped.png,a push in\n"
    previewed = preview_csv(app, csv_text, sent, session)
    assert error_of(previewed) is None, previewed
    assert len(previewed["output"]["data"][0]["data"]) == 2
    last: dict[str, Any] = raw_event(app, "confirm", [], session_hash=session)
    assert error_of(last) is None, last
    assert spent(sim)[1] == 2


def test_the_api_refuses_a_server_path_in_one_sentence(
    app: AppProcess, sim: Any, private_picture: Path
) -> None:
    """`/generate` with a server path (a bare string, a file object without an upload) is refused alike."""
    client = client_for(app)
    try:
        answers = []
        for image in (str(private_picture), {"path": str(private_picture)}, {"path": "/no/such.png"}):
            with pytest.raises(AppError) as refused:
                client.predict(image, "a slow pan", "1280*720", 5, api_name="/generate")
            answers.append(str(refused.value))
        # The visitor's own upload still makes a video.
        _, record = client.predict(handle_file(str(private_picture)), "mine", api_name="/generate")
    finally:
        client.close()
    assert len(set(answers)) == 1 and NOT_YOURS in answers[0] and str(private_picture) not in answers[0]
    assert record["state"] == "completed" and spent(sim)[1] == 1
    # Its address names no server folder, and the app serves the video there.
    assert record["video_url"] == f"{app.url}videos/{record['task_id']}.mp4"
    assert httpx.get(record["video_url"], timeout=30).content[4:8] == b"ftyp"


def test_mcp_does_not_copy_a_server_file_named_as_the_picture(
    app: AppProcess, sim: Any, private_picture: Path
) -> None:
    """MCP `generate` with `{"path": <server file>}`: refused alike, nothing copied, uploaded or submitted."""
    before = {path.name for path in app.temp_dir.rglob("*") if path.is_file()}
    answers = []
    for path in (str(private_picture), "/no/such.png"):
        image = {"path": path, "meta": FILE_DATA}
        result = mcp_tool(app.url, {}, "generate", {"image": image, "prompt": "a slow pan"})
        assert result.isError
        answers.append(" ".join(getattr(content, "text", "") for content in result.content))
    after = {path.name for path in app.temp_dir.rglob("*") if path.is_file()}
    assert len(set(answers)) == 1 and NOT_YOURS in answers[0] and str(private_picture) not in answers[0]
    assert private_picture.name not in after - before
    assert spent(sim) == (0, 0)
