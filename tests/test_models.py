"""The request model refuses bad input with one clear message, before anything is sent."""

from __future__ import annotations

import pytest

from luma_playground import GenerationRequest, InvalidRequest, Prediction, Size
from luma_playground._request import MAX_PROMPT_CHARS


def test_defaults_follow_the_api() -> None:
    """Size and duration default to the API's own defaults."""
    request = GenerationRequest.create("https://example.com/cat.png", "a cat")
    assert request.size is Size.LANDSCAPE and request.duration == 5
    assert request.api_input("u") == {"image": "u", "prompt": "a cat", "size": "1280*720", "duration": 5}


@pytest.mark.parametrize("size", ["720*1280", "720x1280", " 720 × 1280 ", Size.PORTRAIT])
def test_size_spellings(size: object) -> None:
    """The portrait size is understood however it is spelled."""
    assert GenerationRequest.create("a.png", "p", size=size).size is Size.PORTRAIT


@pytest.mark.parametrize("duration", [10, "10", 10.0, "10s"])
def test_duration_spellings(duration: object) -> None:
    """Ten seconds is understood as a number or a string."""
    assert GenerationRequest.create("a.png", "p", duration=duration).duration == 10


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"image": None}, "image", "Add an image"),
        ({"image": "  "}, "image", "Add an image"),
        ({"prompt": ""}, "prompt", "Write a prompt"),
        ({"prompt": " \n\t "}, "prompt", "Write a prompt"),
        ({"prompt": "x" * 20_000}, "prompt", f"limit is {MAX_PROMPT_CHARS:,}"),
        ({"prompt": "bell\x07"}, "prompt", "U+0007"),
        ({"size": "1920*1080"}, "size", "1280*720, 720*1280"),
        ({"duration": 7}, "duration", "5 or 10"),
        ({"duration": True}, "duration", "5 or 10"),
        ({"image": "file:///etc/passwd"}, "image", "http:// or https://"),
        ({"image": "ftp://example.com/a.png"}, "image", "http:// or https://"),
        ({"image": "javascript:alert(1)"}, "image", "http:// or https://"),
        ({"image": "http://127.0.0.1/a.png"}, "image", "private, loopback"),
        ({"image": "http://10.1.2.3/a.png"}, "image", "private, loopback"),
        ({"image": "http://169.254.169.254/latest"}, "image", "private, loopback"),
        ({"image": "http://[::1]/a.png"}, "image", "private, loopback"),
        ({"image": "http://localhost:8000/a.png"}, "image", "public host"),
    ],
)
def test_bad_input_is_refused_with_a_message(kwargs: dict, field: str, words: str) -> None:
    """Each kind of bad input gets its own clear message naming the field."""
    values = {"image": "https://example.com/a.png", "prompt": "a cat", **kwargs}
    with pytest.raises(InvalidRequest) as caught:
        GenerationRequest.create(**values)
    assert caught.value.field == field
    assert words in str(caught.value)


def test_unicode_and_emoji_pass_intact() -> None:
    """Non-ASCII text, emoji and line breaks reach the API unchanged."""
    prompt = "Caméra qui s'éloigne 🌊🎥\n夕焼けの海, zoom out"
    assert GenerationRequest.create("a.png", prompt).prompt == prompt


def test_windows_paths_are_files_not_urls() -> None:
    """A drive-letter path is a file, not a URL scheme."""
    assert GenerationRequest.create(r"C:\pictures\cat.png", "p").image_is_url is False


def test_prediction_reads_tolerantly() -> None:
    """Missing and null fields get safe defaults; the error code is found in the text."""
    prediction = Prediction.model_validate(
        {
            "id": "t1",
            "status": "FAILED",
            "outputs": None,
            "error": "1402: Failed to download",
            "timings": {"inference": 0},
        }
    )
    assert prediction.is_terminal and prediction.error_code == 1402
    assert prediction.outputs == [] and prediction.inference_ms is None


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled", "timeout", "deleted"])
def test_only_documented_end_states_are_terminal(status: str) -> None:
    """The end states the docs and official clients name end a wait; they are known statuses."""
    assert Prediction(id="t", status=status).is_terminal and Prediction(id="t", status=status).is_known


@pytest.mark.parametrize("status", ["created", "processing", "pending", "something-new", "QUEUED"])
def test_other_statuses_keep_the_wait_going(status: str) -> None:
    """`pending` (WaveSpeed's desktop app) and statuses nobody documents keep a poll going."""
    prediction = Prediction(id="t", status=status)
    assert not prediction.is_terminal
    assert prediction.is_known == (status in ("created", "processing", "pending"))
