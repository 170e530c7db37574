"""Request bodies checked the way the WaveSpeed API checks them, with messages that name the field."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

VIDEO_MODEL = "luma/ray-2-i2v"
#: Ray 2 Flash: the same inputs, validation, envelope and result route as Ray 2.
FLASH_MODEL = "luma/ray-2-flash-i2v"
VIDEO_MODELS = (VIDEO_MODEL, FLASH_MODEL)
OPTIMIZER_MODEL = "wavespeed-ai/prompt-optimizer"

#: Written apart from the client's `_request.FIELDS` (this stands for WaveSpeed, not for the
#: playground); tests/test_fields.py holds the two to the same choices.
SIZES = ("1280*720", "720*1280")
DEFAULT_SIZE = "1280*720"
DURATIONS = (5, 10)
DEFAULT_DURATION = 5
OPTIMIZER_MODES = ("image", "video")
OPTIMIZER_STYLES = ("default", "artistic", "photographic", "technical", "anime", "realistic")
MAX_PAGE_SIZE = 100

#: A base64 picture inline, as WaveSpeed takes it: `data:image/<type>[;param=value]*;base64,<data>`.
_DATA_URI = re.compile(r"data:image/[\w.+-]+(?:;[\w.+-]+=[^;,]*)*;base64,", re.IGNORECASE)


class InvalidInput(ValueError):
    """A request that the API answers with HTTP 400."""


@dataclass(frozen=True, slots=True)
class VideoInput:
    """A validated Ray 2 image-to-video submission."""

    image: str
    prompt: str
    size: str
    duration: int
    enable_prompt_optimizer: bool | None
    enable_sync_mode: bool
    enable_base64_output: bool
    webhook_url: str | None
    #: The decoded picture when `image` is a data URI; None for a URL.
    image_bytes: bytes | None = field(default=None, repr=False)

    @property
    def width(self) -> int:
        """Frame width in pixels."""
        return int(self.size.split("*")[0])

    @property
    def height(self) -> int:
        """Frame height in pixels."""
        return int(self.size.split("*")[1])

    def as_input(self) -> dict[str, Any]:
        """The input as the API echoes it back (history, webhooks)."""
        echoed: dict[str, Any] = {
            "image": self.image,
            "prompt": self.prompt,
            "size": self.size,
            "duration": self.duration,
        }
        if self.enable_prompt_optimizer is not None:
            echoed["enable_prompt_optimizer"] = self.enable_prompt_optimizer
        return echoed


@dataclass(frozen=True, slots=True)
class OptimizerInput:
    """A validated prompt optimizer request."""

    text: str
    image: str | None
    mode: str
    style: str
    enable_sync_mode: bool

    def as_input(self) -> dict[str, Any]:
        """The input as the API echoes it back."""
        echoed: dict[str, Any] = {"text": self.text, "mode": self.mode, "style": self.style}
        if self.image is not None:
            echoed["image"] = self.image
        return echoed


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """A validated task history query."""

    page: int
    page_size: int
    created_after: float | None
    created_before: float | None
    model: str | None
    status: str | None
    #: Asked with `include_inputs: true` (WaveSpeed's desktop app does).
    include_inputs: bool = False


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is an empty object."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput("Request body must be valid JSON") from exc
    if not isinstance(body, dict):
        raise InvalidInput("Request body must be a JSON object")
    return body


def parse_video_input(body: dict[str, Any], webhook_query: str | None) -> VideoInput:
    """Check a submission field by field, in the documented order."""
    webhook_url = webhook_query if webhook_query is not None else body.get("webhook_url")
    image, image_bytes = _required_image(body, "image")
    video = VideoInput(
        image=image,
        prompt=_required_text(body, "prompt"),
        size=_size(body.get("size", DEFAULT_SIZE)),
        duration=_duration(body.get("duration", DEFAULT_DURATION)),
        enable_prompt_optimizer=_optional_bool(body, "enable_prompt_optimizer"),
        enable_sync_mode=_optional_bool(body, "enable_sync_mode") or False,
        enable_base64_output=_optional_bool(body, "enable_base64_output") or False,
        webhook_url=_webhook(webhook_url),
        image_bytes=image_bytes,
    )
    if video.webhook_url and video.enable_base64_output:
        raise InvalidInput("webhook cannot be combined with enable_base64_output")
    return video


def parse_optimizer_input(body: dict[str, Any]) -> OptimizerInput:
    """Check a prompt optimizer request."""
    image = body.get("image")
    if image is not None and not isinstance(image, str):
        raise InvalidInput("image must be a URL string")
    return OptimizerInput(
        text=_required_text(body, "text"),
        image=image or None,
        mode=_choice(body, "mode", OPTIMIZER_MODES, "image"),
        style=_choice(body, "style", OPTIMIZER_STYLES, "default"),
        enable_sync_mode=_optional_bool(body, "enable_sync_mode") or False,
    )


def parse_history_query(body: dict[str, Any]) -> HistoryQuery:
    """Check a task history query."""
    page = _positive_int(body, "page", 1)
    page_size = _positive_int(body, "page_size", 20)
    if page_size > MAX_PAGE_SIZE:
        raise InvalidInput(f"page_size must be at most {MAX_PAGE_SIZE}")
    return HistoryQuery(
        page=page,
        page_size=page_size,
        created_after=_instant(body, "created_after"),
        created_before=_instant(body, "created_before"),
        model=_optional_text(body, "model"),
        status=_optional_text(body, "status"),
        include_inputs=_optional_bool(body, "include_inputs") or False,
    )


def parse_duration(value: Any) -> int:
    """A clip duration: 5 or 10, as an integer or a string."""
    return _duration(value)


def submit_signature(raw: bytes, model: str = VIDEO_MODEL) -> tuple[Any, ...] | None:
    """What makes two submits "the same request": model, prompt, image, size and duration, normalised."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    duration = body.get("duration", DEFAULT_DURATION)
    if isinstance(duration, str) and duration.strip().isdigit():
        duration = int(duration)
    return (
        model,
        body.get("prompt"),
        body.get("image"),
        body.get("size", DEFAULT_SIZE),
        duration if isinstance(duration, int | float | str) else repr(duration),
    )


def _required_image(body: dict[str, Any], name: str) -> tuple[str, bytes | None]:
    """An image given as an http(s) URL, or inline as a base64 data URI (with its decoded bytes)."""
    value = body.get(name)
    if value is None or value == "":
        raise InvalidInput(f"{name} is required")
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return value, None
    if isinstance(value, str) and value[:5].lower() == "data:":
        return value, _data_uri_bytes(value, name)
    raise InvalidInput(
        f"{name} must be an http(s) URL or a data:image/...;base64, URI; "
        "upload the file first with /api/v3/media/upload/binary"
    )


def _data_uri_bytes(uri: str, name: str) -> bytes:
    match = _DATA_URI.match(uri)
    if match is None:
        raise InvalidInput(f"{name} data URI must have the form data:image/<type>;base64,<data>")
    try:
        data = base64.b64decode(uri[match.end() :], validate=True)
    except binascii.Error as exc:
        raise InvalidInput(f"{name} data URI is not valid base64") from exc
    if not data:
        raise InvalidInput(f"{name} data URI is empty")
    return data


def _required_text(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if value is None:
        raise InvalidInput(f"{field} is required")
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} must be a non-empty string")
    return value


def _optional_text(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string")
    return value


def _size(value: Any) -> str:
    if value not in SIZES:
        raise InvalidInput(f"size must be one of {', '.join(SIZES)}")
    return str(value)


def _duration(value: Any) -> int:
    # bool is an int in Python, and "true" is not a duration.
    if isinstance(value, int) and not isinstance(value, bool) and value in DURATIONS:
        return value
    if isinstance(value, str) and value.strip() in {str(d) for d in DURATIONS}:
        return int(value)
    raise InvalidInput("duration must be 5 or 10 (seconds)")


def _optional_bool(body: dict[str, Any], field: str) -> bool | None:
    value = body.get(field)
    if value is None or isinstance(value, bool):
        return value
    raise InvalidInput(f"{field} must be a boolean")


def _choice(body: dict[str, Any], field: str, allowed: tuple[str, ...], default: str) -> str:
    value = body.get(field, default)
    if value not in allowed:
        raise InvalidInput(f"{field} must be one of {', '.join(allowed)}")
    return str(value)


def _webhook(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise InvalidInput("webhook must be an http(s) URL")
    return value


def _positive_int(body: dict[str, Any], field: str, default: int) -> int:
    value = body.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{field} must be a positive integer")
    return value


def _instant(body: dict[str, Any], field: str) -> float | None:
    """An instant given as Unix seconds or as an ISO 8601 string."""
    value = body.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            # An instant without a zone is read as UTC, like the API's own timestamps.
            return parsed.replace(tzinfo=parsed.tzinfo or UTC).timestamp()
    raise InvalidInput(f"{field} must be an ISO 8601 timestamp or Unix seconds")
