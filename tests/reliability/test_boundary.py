"""Pictures cross one boundary: no way in reads a server file a caller names, each refused alike.

Driven as a script would: raw `queue/join` on the Batch tab's private preview and confirm,
`gradio_client`, and an `mcp` client. A private picture outside every app folder, and a path that
does not exist, get the same one sentence, and the simulator sees no upload and no submit. And no
answer, page or refusal names a server folder: the app's files are served at addresses of their own.
"""

from __future__ import annotations

import base64
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from luma_playground import Picture
from luma_playground._config import RAY_2
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
    return raw_event(app, "preview", [pictures, csv_file, "", "1280*720", 5, RAY_2.id], session_hash=session)


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


# -- no server path in any answer, page or refusal ---------------------------------------------------

#: The addresses a page's HTML gives: a card's video, poster and download link, a segment's link.
PAGE_LINK = re.compile(r'(?:src|href|data-video)="([^"]+)"')
#: Where each route's files lie under the app's outputs folder.
SERVED_FOLDERS = {"videos": "", "posters": "posters", "exports": "exports", "batches": "batches"}


def served_file(app: AppProcess, url: str) -> Path:
    """The file on the app's disk that a served address stands for (page-relative or absolute)."""
    route, name = url.removeprefix(app.url).split("/")
    return app.home / "outputs" / SERVED_FOLDERS[route] / name


def assert_served(app: AppProcess, url: str) -> bytes:
    """The address gives the very bytes of the app's file, and names no server folder."""
    assert str(app.home) not in url and "gradio_api/file=" not in url, url
    answer = httpx.get(url if url.startswith("http") else app.url + url, timeout=30)
    assert answer.status_code == 200, url
    assert answer.content == served_file(app, url).read_bytes(), url
    return answer.content


def gradio_file_urls(value: Any) -> list[str]:
    """The addresses of the files Gradio's own components were given, anywhere in an event's outputs."""
    if isinstance(value, dict):
        url = value.get("url")
        found = [url] if isinstance(url, str) and "gradio_api/file=" in url else []
        return found + [inner for item in value.values() for inner in gradio_file_urls(item)]
    if isinstance(value, list | tuple):
        return [inner for item in value for inner in gradio_file_urls(item)]
    return []


def outputs_of(message: dict[str, Any]) -> list[Any]:
    """A raw event's outputs (a public endpoint's answer is the first)."""
    assert message.get("success") is True, message
    return list(message["output"]["data"])


def test_no_answer_page_or_refusal_names_a_server_folder(
    app: AppProcess, sim: Any, landscape_image: Path
) -> None:
    """API answers, History, shot panel and refusals name no home folder; each address gives its file."""
    client = client_for(app)
    session = client.session_hash
    assert session is not None

    def call(api_name: str, *data: Any, index: str | None = None) -> dict[str, Any]:
        clicked = {"index": index, "value": None} if index is not None else None
        return raw_event(app, api_name, list(data), session_hash=session, event_data=clicked)

    try:
        picture = upload(app, "mine.png", landscape_image.read_bytes())
        made, record = outputs_of(call("generate", picture, "a lighthouse at dusk", "1280*720", 5, None))[0]
        task_id = record["task_id"]
        extended, segment = outputs_of(call("extend", task_id, "and further out to sea", 5, None))[0]
        shot = segment["shot"]["name"]
        gif, _ = outputs_of(call("export", task_id, "gif", "pingpong", "", 160, 4, None))[0]
        data_uri = "data:image/png;base64," + base64.b64encode(landscape_image.read_bytes()).decode()
        zipped, batch = outputs_of(call("batch", [{"image": data_uri, "prompt": "a slow pan"}], None))[0]
        answers = [
            (made, record),
            (extended, segment),
            gif,
            (zipped, batch),
            outputs_of(call("get_batch", batch["batch_id"], False, None))[0],
            outputs_of(call("history", None))[0],
            outputs_of(call("get_task", task_id, None))[0],
        ]
        # gradio_client fetches an endpoint's file from its address.
        downloaded = client.predict(task_id, "gif", "pingpong", "", 160, 4, api_name="/export")[0]
        cards = outputs_of(call("refresh", None, None))[0]
        row_ref = str(app.rows("task_id = ?", (task_id,))[0]["row_id"])
        pages = [
            cards,
            outputs_of(call("select", index=shot)),
            outputs_of(call("select", index=row_ref)),
            outputs_of(call("page_shot_open", shot)),
        ]
        outputs_of(call("choices", None, None))
        # The Compare tab's players are Gradio's own: a copy in Gradio's cache, outside the home.
        pages.append(outputs_of(call("show", shot)))
        refusals = [
            call("get_task", "f" * 32, None),
            call("export", task_id, "trim", "pingpong", "60:90", 480, 12, None),
            call("extend", "shot-999", "further", 5, None),
        ]
    finally:
        client.close()

    text = json.dumps([answers, pages, [message.get("output") for message in refusals]])
    assert str(app.home) not in text, re.findall(rf".{{0,300}}{re.escape(str(app.home))}.{{0,80}}", text)
    assert all(message.get("success") is False for message in refusals), refusals
    # Each file the API and the page name is served at its address, whole.
    assert made["url"] == record["video_url"] == f"{app.url}videos/{task_id}.mp4"
    video = assert_served(app, record["video_url"])
    assert video[4:8] == b"ftyp"
    assert assert_served(app, extended["url"])[4:8] == b"ftyp"
    assert assert_served(app, gif["url"]).startswith(b"GIF8")
    assert Path(downloaded).read_bytes() == served_file(app, gif["url"]).read_bytes()
    assert zipfile.ZipFile(io.BytesIO(assert_served(app, zipped["url"]))).namelist() == [
        f"001-{batch['rows'][0]['task_id']}.mp4"
    ]
    assert [assert_served(app, row["video_url"])[4:8] for row in batch["rows"]] == [b"ftyp"]
    panel = " ".join(part for part in pages[-2] if isinstance(part, str))  # the shot panel's segments
    links = set(PAGE_LINK.findall(cards + panel))
    assert {link.split("/")[0] for link in links} == {"videos", "posters"}, links
    for link in links:
        assert_served(app, link)
    assert f"videos/{task_id}.mp4" in links
    # A route serves its own kind of file, directly in its folder, and nothing else.
    zip_name = zipped["url"].rsplit("/", 1)[-1]
    probes = ("videos/journal.sqlite3", "videos/..%2Fjournal.sqlite3", "posters/x.png", f"exports/{zip_name}")
    for probe in probes:
        refused = httpx.get(app.url + probe, timeout=30)
        assert refused.status_code == 404 and str(app.home) not in refused.text, probe
    # The players Gradio draws: through a link in its temp folder, the very bytes of the saved video.
    players = gradio_file_urls(pages)
    assert len(players) >= 4, pages
    for url in players:
        name = url.rsplit("/", 1)[-1]
        assert httpx.get(url, timeout=30).content == (app.home / "outputs" / name).read_bytes(), url


def test_a_damaged_videos_export_refusal_names_no_server_path(
    app: AppProcess, sim: Any, landscape_image: Path
) -> None:
    """A saved video damaged on disk: its export is refused in one sentence that names no server path."""
    client = client_for(app)
    try:
        _, record = client.predict(handle_file(str(landscape_image)), "a harbour", api_name="/generate")
        task_id = record["task_id"]
        (app.home / "outputs" / f"{task_id}.mp4").write_bytes(b"not a video" * 100)
        with pytest.raises(AppError) as refused:
            client.predict(task_id, "webp", api_name="/export")
    finally:
        client.close()
    message = str(refused.value)
    assert "cannot be read" in message and str(app.home) not in message and "/" not in message, message
