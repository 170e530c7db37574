"""The request and its fields, and the API's prediction."""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from ._config import RAY_2, RAY_2_FLASH, model_named
from ._errors import InvalidRequest
from ._pictures.sources import Picture, check_data_uri, is_data_uri
from ._pictures.urls import check_image_url

__all__ = [
    "DURATION",
    "FIELDS",
    "IMAGE",
    "MAX_PROMPT_CHARS",
    "MODEL",
    "OPTIONS",
    "PROMPT",
    "SETTINGS",
    "SIZE",
    "TASK_ID",
    "TERMINAL_STATUSES",
    "Choice",
    "GenerationRequest",
    "Prediction",
    "PredictionStatus",
    "RequestField",
    "Size",
]

#: The model page gives no limit; prompts beyond this are refused here, before anything is paid.
MAX_PROMPT_CHARS = 2000


# -- the request's fields -------------------------------------------------------------------


#: The type of a field's values (`str` for the size, `int` for the duration).
V = TypeVar("V", str, int)


@dataclass(frozen=True, slots=True)
class Choice(Generic[V]):
    """One value a field takes, with its words on the form, where room is short, and in help."""

    value: V
    label: str
    short: str
    #: What the value means, where help spells the choices out ("landscape").
    note: str = ""


@dataclass(frozen=True, slots=True)
class RequestField(Generic[V]):
    """One field of a request, defined once for every face: the page, the API, the CLI, a CSV, a file."""

    name: str
    label: str
    help: str
    choices: tuple[Choice[V], ...] = ()
    #: What a request that leaves the field out gets; None for a field every request must give.
    default: V | None = None
    #: The unit after the spelled values ("5 or 10 seconds").
    unit: str = ""

    @property
    def values(self) -> tuple[V, ...]:
        return tuple(choice.value for choice in self.choices)

    def radio(self, *, short: bool = False) -> list[tuple[str, V]]:
        """The choices as a radio lists them, (words, value), in the form's words or the short ones."""
        return [(choice.short if short else choice.label, choice.value) for choice in self.choices]

    def spelled(self, *, notes: bool = False) -> str:
        """The values in words ("5 or 10 seconds"); with `notes`, "1280*720 (landscape) or ..."."""
        words = [f"{c.value} ({c.note})" if notes and c.note else str(c.value) for c in self.choices]
        listed = ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else "".join(words)
        return f"{listed} {self.unit}" if self.unit else listed

    def value_of(self, text: str) -> V | None:
        """The choice whose value reads as `text` (a CSV cell, a file's tag), or None."""
        return next((choice.value for choice in self.choices if str(choice.value) == text), None)


IMAGE: RequestField[str] = RequestField(
    "image", "Image", "A local image file path, a public http(s) image URL, or a data:image/...;base64, URI."
)
PROMPT: RequestField[str] = RequestField("prompt", "Prompt", "The motion to create.")
SIZE: RequestField[str] = RequestField(
    "size",
    "Size",
    "The frame, as the API spells it (width*height).",
    choices=(
        Choice("1280*720", "Landscape · 1280×720", "Landscape", "landscape"),
        Choice("720*1280", "Portrait · 720×1280", "Portrait", "portrait"),
    ),
    default="1280*720",
)
DURATION: RequestField[int] = RequestField(
    "duration",
    "Duration",
    "The video's length in seconds, billed per 5 s.",
    choices=(Choice(5, "5 seconds", "5 s"), Choice(10, "10 seconds", "10 s")),
    default=5,
    unit="seconds",
)
MODEL: RequestField[str] = RequestField(
    "model",
    "Model",
    "Ray 2 Flash is the cheap, fast draft; Ray 2 renders the final from the same picture and prompt.",
    choices=(
        Choice(RAY_2.id, RAY_2.label, "Ray 2", "the final render"),
        Choice(RAY_2_FLASH.id, RAY_2_FLASH.label, "Flash", "the cheap, fast draft"),
    ),
    default=RAY_2.id,
)
#: Every field of a request, in the order the faces take them (the picture and prompt first).
FIELDS: tuple[RequestField[Any], ...] = (IMAGE, PROMPT, SIZE, DURATION, MODEL)
#: The fields a request may leave out: each has its choices and a default.
OPTIONS = tuple(field for field in FIELDS if field.default is not None)
#: What a saved video, a share link and "use again" carry: every field but the picture.
SETTINGS = tuple(field for field in FIELDS if field is not IMAGE)
DURATIONS = DURATION.values


class PredictionStatus(enum.StrEnum):
    """A task's status as the API reports it (a journal row's state is `TaskState`)."""

    #: In WaveSpeed's desktop app's types, not in the docs: a task not yet queued.
    PENDING = "pending"
    CREATED = "created"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    DELETED = "deleted"


ACTIVE_STATUSES = frozenset({PredictionStatus.CREATED, PredictionStatus.PROCESSING})
#: The end states WaveSpeed's docs and official clients name: only these end a wait. Any other
#: status (`pending`, or one added later) is taken as still running, as the official clients do.
TERMINAL_STATUSES = frozenset(
    {
        PredictionStatus.COMPLETED,
        PredictionStatus.FAILED,
        PredictionStatus.CANCELLED,
        PredictionStatus.TIMEOUT,
        PredictionStatus.DELETED,
    }
)


class Size(enum.StrEnum):
    """The two output sizes the model offers, as the API spells them (width*height)."""

    LANDSCAPE = "1280*720"
    PORTRAIT = "720*1280"

    @property
    def width(self) -> int:
        return int(self.value.split("*")[0])

    @property
    def height(self) -> int:
        return int(self.value.split("*")[1])

    @property
    def label(self) -> str:
        note = next(choice.note for choice in SIZE.choices if choice.value == self.value)
        return f"{self.width}×{self.height} {note}"

    @classmethod
    def parse(cls, value: object) -> Size:
        """A size from `1280*720`, `1280x720` or `1280×720`."""
        if isinstance(value, Size):
            return value
        text = re.sub(r"\s*[x×X]\s*", "*", str(value).strip())
        try:
            return cls(text)
        except ValueError:
            allowed = ", ".join(s.value for s in cls)
            raise InvalidRequest(
                f"Size must be one of {allowed}, not {str(value)[:40]!r}.", field="size"
            ) from None


def _parse_duration(value: object) -> int:
    if isinstance(value, bool):
        value = None
    try:
        number = float(str(value).strip().removesuffix("s")) if value is not None else None
    except ValueError:
        number = None
    if number is None or number not in DURATIONS:
        raise InvalidRequest(
            f"Duration must be {DURATION.spelled()}, not {str(value)[:40]!r}.", field="duration"
        )
    return int(number)


_FORBIDDEN_PROMPT_CATEGORIES = {"Cc", "Cs", "Co", "Cn"}


def check_prompt(prompt: object) -> str:
    """The prompt, unchanged, if it is one the API can take; `InvalidRequest` otherwise."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidRequest("Write a prompt that describes the motion you want.", field="prompt")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            f"The prompt is {len(prompt):,} characters long; the limit is {MAX_PROMPT_CHARS:,}.",
            field="prompt",
        )
    for position, char in enumerate(prompt):
        if char in "\n\t":
            continue
        if unicodedata.category(char) in _FORBIDDEN_PROMPT_CATEGORIES:
            raise InvalidRequest(
                f"The prompt contains an invisible control character (U+{ord(char):04X}) at "
                f"position {position + 1}; remove it and try again.",
                field="prompt",
            )
    return prompt


#: What a WaveSpeed task id looks like (letters, digits, dashes and underscores).
TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def check_task_id(value: object) -> str:
    """The task id, trimmed; one `InvalidRequest` when it is missing or not of that form."""
    wanted = value.strip() if isinstance(value, str) else ""
    if not TASK_ID.fullmatch(wanted):
        raise InvalidRequest(
            "Paste a task id: letters, digits, dashes and underscores."
            if wanted
            else "Paste a task id first.",
            field="task_id",
        )
    return wanted


class GenerationRequest(BaseModel):
    """One image-to-video request, valid by construction: build it with `create`.

    The start path reads a local file only through `picture`, a `Picture` that one of its
    checked constructors made; `image` alone (a path's text) is never read there.
    """

    model_config = ConfigDict(frozen=True)

    # Each is a field of `FIELDS`; the annotations stay literal for the type checker and the
    # schema, and a test holds them to the definitions.
    image: str = Field(description=IMAGE.help)
    prompt: str = Field(description=PROMPT.help)
    size: Size = Field(default=Size.LANDSCAPE, description=SIZE.help)
    duration: Literal[5, 10] = Field(default=5, description=DURATION.help)
    model: Literal["luma/ray-2-i2v", "luma/ray-2-flash-i2v"] = Field(
        default="luma/ray-2-i2v", description=MODEL.help
    )
    _picture: Picture | None = PrivateAttr(default=None)

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str) -> str:
        return check_prompt(value)

    @property
    def image_is_url(self) -> bool:
        return self.image.startswith(("http://", "https://"))

    @property
    def image_is_local(self) -> bool:
        """True for a file path (not a URL or an inline data URI)."""
        return not self.image_is_url and not is_data_uri(self.image)

    @property
    def image_path(self) -> Path:
        return Path(self.image)

    @property
    def picture(self) -> Picture | None:
        """The checked picture file this request carries, if a `Picture` made it."""
        return self._picture

    def with_picture(self, picture: Picture) -> GenerationRequest:
        """The same request, with `picture` as its checked local file."""
        request = self.model_copy(update={"image": str(picture.path)})
        request._picture = picture
        return request

    @classmethod
    def create(
        cls,
        image: str | Path | Picture | None,
        prompt: object,
        *,
        size: object = SIZE.default,
        duration: object = DURATION.default,
        model: object = MODEL.default,
    ) -> GenerationRequest:
        """Validate user input into a request, raising one `InvalidRequest` for the first fault.

        The options (`OPTIONS`) are keywords, so that a face may pass them by name from a mapping.
        """
        if isinstance(image, Picture):
            request = cls.create(str(image.path), prompt, size=size, duration=duration, model=model)
            return request.with_picture(image)
        if image is None or not str(image).strip():
            raise InvalidRequest("Add an image: upload a file or paste an image URL.", field="image")
        image_text = str(image).strip()
        if is_data_uri(image_text):
            image_text = check_data_uri(image_text)
        elif re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", image_text) and not re.match(
            r"^[a-zA-Z]:[\\/]", image_text
        ):
            image_text = check_image_url(image_text)
        check_prompt(prompt)
        try:
            return cls(
                image=image_text,
                prompt=prompt,  # type: ignore[arg-type]
                size=Size.parse(size),
                duration=_parse_duration(duration),  # type: ignore[arg-type]
                model=model_named(model).id,  # type: ignore[arg-type]
            )
        except ValidationError as exc:  # pragma: no cover - every field is checked above
            raise InvalidRequest(str(exc.errors()[0]["msg"])) from None

    def api_input(self, image_url: str) -> dict[str, Any]:
        """The JSON body of the submit, with the uploaded image's URL."""
        return {
            "image": image_url,
            "prompt": self.prompt,
            "size": self.size.value,
            "duration": self.duration,
        }


_ERROR_CODE = re.compile(r"^\s*(\d{4})\b")


class Prediction(BaseModel):
    """The `data` of the API's prediction envelope, read tolerantly."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str
    model: str = ""
    #: A `PredictionStatus` value, or a status the API may add later (taken as still running).
    status: str = PredictionStatus.CREATED
    outputs: list[Any] = Field(default_factory=list)
    urls: dict[str, Any] = Field(default_factory=dict)
    has_nsfw_contents: list[bool] = Field(default_factory=list)
    created_at: str | None = None
    error: str | None = ""
    timings: dict[str, Any] | None = None

    @field_validator("outputs", "has_nsfw_contents", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return [] if value is None else value

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: object) -> str:
        return str(value or PredictionStatus.CREATED).strip().lower()

    @property
    def is_terminal(self) -> bool:
        """Whether the status is a documented end state (an unknown one is not)."""
        return self.status in TERMINAL_STATUSES

    @property
    def is_known(self) -> bool:
        """Whether the status is one WaveSpeed's docs or official clients name."""
        return self.status in set(PredictionStatus)

    @property
    def inference_ms(self) -> int | None:
        value = (self.timings or {}).get("inference")
        return int(value) if isinstance(value, int | float) and value > 0 else None

    @property
    def nsfw(self) -> bool:
        return any(self.has_nsfw_contents)

    @property
    def output_url(self) -> str | None:
        for output in self.outputs:
            if isinstance(output, str) and output.startswith(("http://", "https://")):
                return output
        return None

    @property
    def error_code(self) -> int | None:
        """The task's error code (1200 moderation, 1402 image fetch, ...) where the API gives one."""
        extra = self.model_extra or {}
        for key in ("error_code", "code"):
            if isinstance(extra.get(key), int) and extra[key] >= 1000:
                return int(extra[key])
        match = _ERROR_CODE.match(self.error or "")
        return int(match.group(1)) if match else None
