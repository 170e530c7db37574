"""Bad input through the launched app is refused before any paid call: no upload, no submit."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import gradio as gr
import httpx
import pytest
from gradio_client import handle_file
from PIL import Image

from luma_playground import ApiKey, GenerationRequest, InvalidRequest, Playground, Settings
from luma_playground._pictures.checks import MAX_IMAGE_BYTES, check_image
from luma_playground._request import MAX_PROMPT_CHARS
from luma_playground.ui._generate import Handlers
from luma_playground.ui._session import SessionStore

from .conftest import SERVER_KEY, AppProcess, Caller

PROMPT = "Morning mist lifting off the lake"


class ImageHost(ThreadingHTTPServer):
    """A loopback web server with a valid picture at every path; it counts who asked."""

    hits = 0


@pytest.fixture(scope="module")
def image_host(landscape_image: Path) -> Iterator[ImageHost]:
    picture = landscape_image.read_bytes()

    class Serve(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.server.hits += 1  # type: ignore[attr-defined]
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(picture)))
            self.end_headers()
            self.wfile.write(picture)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ImageHost(("127.0.0.1", 0), Serve)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def caller(callers: dict[str, Caller]) -> Caller:
    return callers["server"]


@pytest.fixture(autouse=True)
def nothing_paid(sim) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """After each test: the simulator saw no upload and no submit at all."""
    yield
    routes = sim.control.stats()["routes"]
    assert routes.get("upload", 0) == 0 and routes.get("submit", 0) == 0, routes
    assert sim.control.tasks() == []


def refused(outcome: Any, words: str) -> None:
    assert outcome.video is None and outcome.error is not None, outcome
    assert words in outcome.error, outcome.error


def raw_call(app: AppProcess, data: list[Any]) -> str:
    """Call /generate over Gradio's plain HTTP API (JSON with ASCII escapes); the event stream."""
    started = httpx.post(
        f"{app.url}gradio_api/call/generate",
        timeout=30,
        content=json.dumps({"data": data}),
        headers={"Content-Type": "application/json"},
    )
    event_id = started.json()["event_id"]
    return httpx.get(f"{app.url}gradio_api/call/generate/{event_id}", timeout=60).text


def bomb(path: Path) -> Path:
    Image.new("1", (12_000, 12_000)).save(path, optimize=True)
    return path


def truncated(path: Path, source: Path) -> Path:
    path.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    return path


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda folder, good: None, "Add an image"),
        (lambda folder, good: folder / "notes.png", "The file is not an image"),
        (lambda folder, good: truncated(folder / "cut.png", good), "damaged or incomplete"),
        (lambda folder, good: folder / "huge.png", "the limit is 20.0 MB"),
        (lambda folder, good: bomb(folder / "bomb.png"), "too many pixels (the limit is 60 megapixels)"),
    ],
    ids=["no image", "not an image", "truncated", "over 20 MB", "decompression bomb"],
)
def test_bad_images_are_refused(
    caller: Caller, tmp_path: Path, landscape_image: Path, make: Any, words: str
) -> None:
    """No image, a non-image, a truncated image, one over 20 MB and a bomb: each gets its reason."""
    (tmp_path / "notes.png").write_text("not a picture at all")
    (tmp_path / "huge.png").write_bytes(landscape_image.read_bytes().ljust(MAX_IMAGE_BYTES + 1, b"\0"))
    image = make(tmp_path, landscape_image)
    refused(caller.generate(image, PROMPT), words)


@pytest.mark.parametrize(
    ("prompt", "words"),
    [
        ("", "Write a prompt"),
        (" \n\t  ", "Write a prompt"),
        ("x" * 20_000, f"20,000 characters long; the limit is {MAX_PROMPT_CHARS:,}"),
        ("y" * (MAX_PROMPT_CHARS + 1), "2,001 characters long; the limit is 2,000"),
        ("Fade in\x00 slowly", "control character (U+0000) at position 8"),
        ("\x1b[31mred text\x1b[0m", "control character (U+001B) at position 1"),
        ("bell\x07", "control character (U+0007)"),
        ("windows\r\nline", "control character (U+000D)"),
        ("private \ue000 use", "control character (U+E000)"),
    ],
    ids=["empty", "whitespace", "20000 chars", "2001 chars", "NUL", "escape", "bell", "CR", "private use"],
)
def test_bad_prompts_are_refused(caller: Caller, landscape_image: Path, prompt: str, words: str) -> None:
    """Empty, too long, or with invisible control characters: refused with the reason and limit."""
    refused(caller.generate(landscape_image, prompt), words)


def test_a_lone_surrogate_is_refused(app: AppProcess, landscape_image: Path) -> None:
    """Half a UTF-16 pair (JSON can carry it; gradio_client cannot) is refused by name."""
    with landscape_image.open("rb") as picture:
        (uploaded,) = httpx.post(
            f"{app.url}gradio_api/upload", files={"files": ("cat.png", picture, "image/png")}
        ).json()
    image = {"path": uploaded, "meta": {"_type": "gradio.FileData"}}
    answer = raw_call(app, [image, "lone \ud800 surrogate", "1280*720", 5, "luma/ray-2-i2v"])
    assert "U+D800" in answer.partition("event: error")[2], answer


@pytest.mark.parametrize(
    ("size", "duration", "words"),
    [
        ("1920*1080", 5, "Size must be one of 1280*720, 720*1280, not '1920*1080'"),
        ("", 5, "Size must be one of"),
        (None, 5, "Size must be one of"),
        ("1280*720; rm -rf /", 5, "Size must be one of"),
        ("1280*720", 7, "Duration must be 5 or 10 seconds, not '7'"),
        ("1280*720", 0, "Duration must be 5 or 10 seconds"),
        ("1280*720", -5, "Duration must be 5 or 10 seconds"),
        ("1280*720", 5.5, "Duration must be 5 or 10 seconds"),
        ("1280*720", None, "Duration must be 5 or 10 seconds"),
        ("1280*720", "ten", "Duration must be 5 or 10 seconds"),
        ("1280*720", True, "Duration must be 5 or 10 seconds"),
    ],
)
def test_values_outside_the_choices_are_refused(
    caller: Caller, landscape_image: Path, size: Any, duration: Any, words: str
) -> None:
    """A size or duration the UI would never send, sent through the API, gets the allowed values."""
    refused(caller.generate(landscape_image, PROMPT, size, duration), words)


UNICODE_PROMPT = (
    "Cherry blossoms 🌸 drift; 桜が舞う; الكاميرا تتحرك ببطء; café crème; "
    "family 👨‍👩‍👧 waves 👋🏽;\n\tZalgo: z̷a̴l̵g̶o; ZWJ\u200d; RTL\u202emark"
)


def test_unicode_prompts_reach_the_api_intact(
    sim,
    caller: Caller,
    app: AppProcess,  # type: ignore[no-untyped-def]
    landscape_image: Path,
) -> None:
    """Emoji, CJK, Arabic, combining marks, newlines and format characters pass through unchanged."""
    outcome = caller.generate(landscape_image, UNICODE_PROMPT)
    assert outcome.error is None, outcome.error
    (task,) = sim.control.tasks()
    assert task["input"]["prompt"] == UNICODE_PROMPT and task["submits"] == 1
    (row,) = app.rows("task_id = ?", (task["id"],))
    assert row["prompt"] == UNICODE_PROMPT
    sim.control.reset()  # paid on purpose: cleared before the no-payment check


@pytest.fixture
def loopback_urls(image_host: ImageHost) -> list[str]:
    port = image_host.server_address[1]
    return [
        f"http://127.0.0.1:{port}/cat.png",
        f"http://localhost:{port}/cat.png",
        f"http://[::1]:{port}/cat.png",
        f"http://2130706433:{port}/cat.png",
        f"http://127.1:{port}/cat.png",
        "http://10.0.0.7/cat.png",
        "http://192.168.1.20/cat.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/cat.png",
        "http://0.0.0.0/cat.png",
    ]


def test_image_urls_to_the_local_network_are_not_fetched(
    caller: Caller, image_host: ImageHost, loopback_urls: list[str]
) -> None:
    """An image URL sent to /generate that points inside the network is refused, never fetched."""
    for url in loopback_urls:
        outcome = caller.generate(handle_file(url), PROMPT)
        assert outcome.video is None and outcome.error is not None, url
    assert image_host.hits == 0


@pytest.mark.parametrize(
    "path",
    [
        "file:///etc/passwd",
        "ftp://example.com/cat.png",
        "javascript:alert(1)",
        "/etc/passwd",
        "../../../../etc/hostname",
    ],
)
def test_file_references_that_were_not_uploaded_are_refused(app: AppProcess, path: str) -> None:
    """A raw API call naming a local file, or a file:, ftp: or javascript: URL, is refused."""
    payload = {"path": path, "url": path if ":" in path else None, "meta": {"_type": "gradio.FileData"}}
    answer = raw_call(app, [payload, PROMPT, "1280*720", 5, "luma/ray-2-i2v"])
    assert "event: error" in answer and "event: complete" not in answer, answer
    assert "passwd" not in answer and "root:" not in answer


@pytest.mark.anyio
async def test_the_url_tab_refuses_local_and_odd_urls(
    sim,
    tmp_path: Path,
    image_host: ImageHost,  # type: ignore[no-untyped-def]
    loopback_urls: list[str],
) -> None:
    """The URL tab's handler and the core refuse every non-public or non-http URL unfetched."""
    playground = Playground.open(
        Settings(base_url=sim.base_url, api_key=ApiKey(SERVER_KEY), data_dir=tmp_path), start_simulator=False
    )
    handlers = Handlers(playground, SessionStore(playground))
    odd = [
        "file:///etc/passwd",
        "ftp://example.com/cat.png",
        "javascript:alert(1)",
        "data:image/png;base64,iVBORw0KGgo=",
        "gopher://127.0.0.1:70/",
        "//127.0.0.1/cat.png",
        f"http://%31%32%37.0.0.1:{image_host.server_address[1]}/cat.png",
        f"http://0x7f000001:{image_host.server_address[1]}/cat.png",
    ]
    try:
        for url in [*loopback_urls, *odd]:
            with pytest.raises(gr.Error, match=r"http:// or https://|public|private, loopback"):
                await handlers.use_url(url)
            with pytest.raises(InvalidRequest):
                # Without a scheme it is a file path, and no such file exists.
                check_image(Path(GenerationRequest.create(url, PROMPT).image))
    finally:
        await playground.aclose()
    assert image_host.hits == 0
