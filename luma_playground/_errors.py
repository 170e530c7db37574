"""Every error the playground raises, with one sentence a user can act on.

The hierarchy:

    LumaPlaygroundError
    ├── InvalidRequest                 bad input, caught here or refused by the API (400); nothing spent
    │   ├── ShotBusy                   the shot is being extended by another call
    │   └── UnreadableVideo            a saved or uploaded video that cannot be decoded
    ├── ApiError                       the API answered with an error
    │   ├── AuthenticationError        401/403: missing, wrong or not yet activated key
    │   ├── InsufficientBalance        the account cannot pay for the task
    │   ├── RateLimited                429, with the server's Retry-After when it gives one
    │   ├── TaskNotFound               404: unknown task id (or another key's task)
    │   └── ServerError                5xx, or an answer that is not the API's JSON
    ├── NetworkError                   no usable answer: connection refused, dropped, timed out
    │   └── SubmitOutcomeUnknown       the submit was sent but its answer was lost: a task may exist
    ├── TaskFailed                     the task ended without a video (its own code and text)
    │   └── ContentModerated           ... because the content moderation refused it
    ├── DeadlineExceeded               the wait ended first (time ran out, or the API kept failing);
    │                                  the task id is kept to fetch it later
    └── OutputError                    the video could not be downloaded or is not a valid MP4
        └── OutputExpired              ... because the API no longer has it (kept 7 days)

Messages never contain the API key: they are built from our own words, the server's `message`
field and task ids, never from request headers. Nor does what a visitor reads name a server path:
the faces pass every message through `without_server_paths` (a library error, or one from a
file the app reads, may quote the file's path).
"""

from __future__ import annotations

import re

__all__ = [
    "ApiError",
    "AuthenticationError",
    "ContentModerated",
    "DeadlineExceeded",
    "InsufficientBalance",
    "InvalidRequest",
    "LumaPlaygroundError",
    "NetworkError",
    "OutputError",
    "OutputExpired",
    "RateLimited",
    "ServerError",
    "ShotBusy",
    "SubmitOutcomeUnknown",
    "TaskFailed",
    "TaskNotFound",
    "UnreadableVideo",
    "without_server_paths",
]

#: A path as a message may quote it: in quotes (spaces and all), a bare absolute path of two
#: parts or more (`/srv/app/x.mp4`, `~/x/y`; never the path of a URL, which follows its host),
#: or a Windows one.
_PATH = re.compile(
    r"""(?P<quote>['"])(?P<quoted>(?:~|[A-Za-z]:)?[/\\][^'"\n]*)(?P=quote)"""
    r"""|(?<![\w:/.~-])(?P<bare>~?(?:/[^\s/'"<>()\[\],;]+){2,}/?)"""
    r"""|(?<![\w])(?P<drive>[A-Za-z]:\\[^\s'"<>]*)"""
)
#: What a folder (a path whose last part has no file suffix) is called instead.
A_FOLDER = "a server folder"


def without_server_paths(text: str) -> str:
    """`text` with every server path in it cut to the file's name ("a server folder" for a folder)."""
    return _PATH.sub(_cut, text)


def _cut(found: re.Match[str]) -> str:
    if found["quoted"] is not None:
        return f"{found['quote']}{_file_name(found['quoted'])}{found['quote']}"
    path = found["bare"] or found["drive"]
    # A sentence's own full stop or colon is not part of the path.
    trimmed = path.rstrip(".:")
    return _file_name(trimmed) + path[len(trimmed) :]


def _file_name(path: str) -> str:
    name = re.split(r"[/\\]", path.rstrip("/\\"))[-1]
    stem, dot, suffix = name.rpartition(".")
    return name if dot and stem and suffix.isalnum() else A_FOLDER


class LumaPlaygroundError(Exception):
    """Base class: `str(error)` is one clear sentence, `task_id` is set when a task exists."""

    #: What kind of failure this is, for exit codes and UIs ("input", "api", "task").
    kind = "api"

    def __init__(self, message: str, *, task_id: str | None = None) -> None:
        if task_id and task_id not in message:
            message = f"{message} (task {task_id})"
        super().__init__(message)
        self.message = message
        self.task_id = task_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class InvalidRequest(LumaPlaygroundError):
    """The input is not valid; no paid call was made for it."""

    kind = "input"

    def __init__(self, message: str, *, field: str | None = None, task_id: str | None = None):
        super().__init__(message, task_id=task_id)
        self.field = field


class ShotBusy(InvalidRequest):
    """Another call is extending this shot (or has just extended it); this one started nothing."""

    def __init__(
        self,
        message: str = "This shot is already being extended: wait for it to finish, or cancel it first.",
        *,
        task_id: str | None = None,
    ) -> None:
        super().__init__(message, task_id=task_id)


class UnreadableVideo(InvalidRequest):
    """A saved or uploaded video that cannot be decoded: damaged, cut short, or not an MP4."""

    def __init__(
        self,
        message: str = "This video cannot be read: its file is damaged or is not an MP4.",
        *,
        task_id: str | None = None,
    ) -> None:
        super().__init__(message, field="video", task_id=task_id)


class ApiError(LumaPlaygroundError):
    """The API answered, with an error."""

    def __init__(self, message: str, *, status_code: int | None = None, task_id: str | None = None) -> None:
        super().__init__(message, task_id=task_id)
        self.status_code = status_code


class AuthenticationError(ApiError):
    """The API key is missing, wrong, or not yet activated by a first top-up."""


class InsufficientBalance(ApiError):
    """The account's balance does not cover the task."""


class RateLimited(ApiError):
    """Too many requests; `retry_after` is the server's advice in seconds, when given."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status_code: int | None = 429,
        task_id: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, task_id=task_id)
        self.retry_after = retry_after


class TaskNotFound(ApiError):
    """The API does not know this task id for this key."""


class ServerError(ApiError):
    """The API failed on its side, or answered with something that is not its JSON."""


class NetworkError(LumaPlaygroundError):
    """No usable answer came back: the connection failed, dropped or timed out.

    `sent` is False only when the request provably never left (the connection could not be
    opened): then even a submit may be sent again.
    """

    def __init__(self, message: str, *, task_id: str | None = None, sent: bool = True) -> None:
        super().__init__(message, task_id=task_id)
        self.sent = sent


class SubmitOutcomeUnknown(NetworkError):
    """The submit reached the network but its answer was lost: a task may have been created."""


class TaskFailed(LumaPlaygroundError):
    """The task ended without a video; `code` and `error` are the API's own."""

    kind = "task"

    def __init__(
        self,
        message: str,
        *,
        task_id: str | None = None,
        code: int | None = None,
        error: str = "",
        status: str = "failed",
    ) -> None:
        super().__init__(message, task_id=task_id)
        self.code = code
        self.error = error
        self.status = status


class ContentModerated(TaskFailed):
    """The content moderation refused the image or the prompt."""


class DeadlineExceeded(LumaPlaygroundError):
    """The wait ended before the task (out of time, or the API kept failing); fetch it by its id."""


class OutputError(LumaPlaygroundError):
    """The finished video could not be downloaded, or is not a valid MP4."""


class OutputExpired(OutputError):
    """The API no longer serves this output (outputs are kept for 7 days)."""
