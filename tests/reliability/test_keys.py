"""A malformed key, sent by a script, is refused at once in one sentence: no call, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from luma_playground.ui import KEY_HEADER

from .conftest import AppProcess, Caller, Evidence, client_for

PROMPT = "Waves rolling onto the shore"
SENTENCE = "That API key is not valid"


def new_log(app: AppProcess, start: int) -> str:
    return app.log.read_bytes()[start:].decode(errors="replace")


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("sk-1", "only 4 characters long"),
        ("sk-abc def-1234567", "a space or a line break"),
        ("sk-abc\tdef-1234567", "a space or a line break"),
        ("x" * 400, "400 characters long"),
    ],
    ids=["too short", "inner space", "tab", "too long"],
)
def test_a_malformed_header_key_is_one_sentence(
    sim, app: AppProcess, evidence: Evidence, landscape_image: Path, key: str, words: str
) -> None:  # type: ignore[no-untyped-def]
    """gradio_client with a bad X-WaveSpeed-Key gets the sentence; the simulator hears nothing."""
    start = app.log.stat().st_size
    caller = Caller("bad", client_for(app, key), key, evidence)
    try:
        outcome = caller.generate(landscape_image, PROMPT)
    finally:
        caller.client.close()
    assert outcome.video is None and outcome.error is not None
    assert SENTENCE in outcome.error and words in outcome.error, outcome.error
    assert sim.control.stats()["routes"] == {}
    log = new_log(app, start)
    assert "Traceback" not in log and key not in log


def test_a_non_ascii_header_key_is_one_sentence(sim, app: AppProcess, landscape_image: Path) -> None:  # type: ignore[no-untyped-def]
    """A UTF-8 key in the header (raw HTTP; most clients refuse to send it) gets the sentence."""
    start = app.log.stat().st_size
    with landscape_image.open("rb") as picture:
        (uploaded,) = httpx.post(
            f"{app.url}gradio_api/upload", files={"files": ("cat.png", picture, "image/png")}
        ).json()
    image = {"path": uploaded, "meta": {"_type": "gradio.FileData"}}
    headers = [(b"content-type", b"application/json"), (KEY_HEADER.encode(), "sk-ключ-123456789".encode())]
    started = httpx.post(
        f"{app.url}gradio_api/call/generate",
        content=json.dumps({"data": [image, PROMPT, "1280*720", 5, "luma/ray-2-i2v"]}),
        headers=headers,
        timeout=30,
    )
    answer = httpx.get(f"{app.url}gradio_api/call/generate/{started.json()['event_id']}", timeout=60).text
    assert "event: error" in answer and SENTENCE in answer, answer
    assert "not plain letters" in answer
    assert sim.control.stats()["routes"] == {}
    assert "Traceback" not in new_log(app, start)
