"""The playground's words and small pieces of HTML: status, details, badges."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from html import escape

from .._config import MODEL_ID
from .._errors import (
    AuthenticationError,
    DeadlineExceeded,
    InsufficientBalance,
    InvalidRequest,
    LumaPlaygroundError,
    NetworkError,
    OutputError,
    RateLimited,
    TaskFailed,
    without_server_paths,
)
from .._request import GenerationRequest, Size
from .._run.events import (
    Done,
    Downloading,
    Event,
    Processing,
    Queued,
    Submitted,
    Submitting,
    Uploaded,
    Uploading,
    Validated,
    WaitingForSlot,
)

__all__ = [
    "IDLE_STATUS",
    "StatusTracker",
    "badge_html",
    "cancelled_html",
    "details_html",
    "error_html",
    "error_title",
    "status_card",
    "summary_html",
]

MODEL_NAME = "Luma Ray 2"


def _seconds(value: float) -> str:
    value = max(0, int(value))
    return f"{value // 60}:{value % 60:02d}" if value >= 60 else f"{value} s"


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 100_000 else f"{max(1, size // 1024)} KB"


def _status(
    tone: str,
    title: str,
    detail: str = "",
    *,
    elapsed: float | None = None,
    task_id: str | None = None,
    progress: float | None = None,
) -> str:
    """The status card: a title, a line of detail, the task id, and a progress bar."""
    meta = []
    if elapsed is not None:
        meta.append(f'<span class="lp-elapsed">{_seconds(elapsed)}</span>')
    if task_id:
        meta.append(f'<span class="lp-task">task <code>{escape(task_id)}</code></span>')
    if progress is None:
        bar = '<div class="lp-bar lp-bar-busy"><span></span></div>' if tone == "running" else ""
    else:
        width = f"{min(max(progress, 0.0), 1.0) * 100:.1f}%"
        bar = f'<div class="lp-bar"><span style="width:{width}"></span></div>'
    return (
        f'<div class="lp-status lp-{tone}" data-tone="{tone}">'
        f'<div class="lp-status-head"><span class="lp-dot"></span>'
        f'<span class="lp-phase">{escape(title)}</span>'
        f'<span class="lp-meta">{" · ".join(meta)}</span></div>'
        + (f'<div class="lp-detail">{escape(detail)}</div>' if detail else "")
        + bar
        + "</div>"
    )


IDLE_STATUS = _status("idle", "Ready", "Add an image, describe the motion, then press Generate.")


def error_title(error: LumaPlaygroundError) -> str:
    """A short heading for an error, by its kind."""
    if title := getattr(error, "title", None):
        return str(title)
    titles: list[tuple[type[LumaPlaygroundError], str]] = [
        (InvalidRequest, "Check the input"),
        (AuthenticationError, "API key refused"),
        (InsufficientBalance, "Not enough balance"),
        (RateLimited, "Too many requests"),
        (DeadlineExceeded, "Still running"),
        (TaskFailed, "The task failed"),
        (NetworkError, "WaveSpeed is out of reach"),
        (OutputError, "The video could not be saved"),
    ]
    for kind, title in titles:
        if isinstance(error, kind):
            return title
    return "Something went wrong"


def error_html(error: LumaPlaygroundError, *, elapsed: float | None = None) -> str:
    text = without_server_paths(str(error))
    return _status("error", error_title(error), text, elapsed=elapsed, task_id=error.task_id)


def cancelled_html(note: str, *, task_id: str | None = None, charged: bool = False) -> str:
    """The card of a cancel: what WaveSpeed said became of the task (`charged`: it finished anyway).

    A cancel is a request to WaveSpeed, not a refund: the note says how the task ended.
    """
    if charged:
        return _status("done", "Finished before the cancel", note, task_id=task_id)
    return _status("cancelled", "Cancelled", note, task_id=task_id)


@dataclass
class StatusTracker:
    """Turns the pipeline's events into the status card; time keeps moving between events."""

    backend_name: str = "WaveSpeed"
    started: float = field(default_factory=time.monotonic)
    task_id: str | None = None
    _event: Event | None = None
    _event_at: float = field(default_factory=time.monotonic)

    def update(self, event: Event | None) -> str:
        if event is not None:
            self._event, self._event_at = event, time.monotonic()
            if isinstance(event, Submitted | Queued | Processing | Downloading | Done):
                self.task_id = event.task_id
        return self.render()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def render(self) -> str:
        title, detail, progress = self._phase(self._event)
        tone = "done" if isinstance(self._event, Done) else "running"
        return _status(tone, title, detail, elapsed=self.elapsed, task_id=self.task_id, progress=progress)

    def _phase(self, event: Event | None) -> tuple[str, str, float | None]:
        where = self.backend_name
        match event:
            case None | Validated():
                return "Starting", "Checking the image and the prompt.", 0.02
            case WaitingForSlot(running=running, limit=limit):
                return (
                    "Waiting for a free slot",
                    f"{running} of {limit} tasks allowed at once are running on this key; "
                    "this one starts as soon as one ends.",
                    0.02,
                )
            case Uploading(size_bytes=size):
                return "Uploading", f"Sending the image ({_megabytes(size)}) to {where}.", 0.05
            case Uploaded():
                return "Uploading", "Image uploaded.", 0.08
            case Submitting():
                return "Submitting", f"Creating the task on {where}.", 0.1
            case Submitted(recovered=recovered, match=match):
                detail = "Task created; waiting for it to start."
                if recovered:
                    detail = f"The submit's answer was lost. {match or 'The task was found again.'}"
                return "Queued", detail, 0.12
            case Queued():
                return "Queued", f"Waiting for {where} to start the task.", 0.14
            case Processing(elapsed=elapsed, expected=expected):
                return self._processing(elapsed, expected)
            case Downloading(received=received, total=total):
                share = received / total if total else 0.0
                amount = _megabytes(received) + (f" of {_megabytes(total)}" if total else "")
                return "Downloading", f"Saving the video ({amount}).", 0.9 + 0.1 * share
            case Done(elapsed=elapsed):
                return "Done", f"Your video is ready, made in {_seconds(elapsed)}.", 1.0
        return "Working", "", None  # pragma: no cover - every event is matched above

    def _processing(self, elapsed: float, expected: float | None) -> tuple[str, str, float | None]:
        elapsed += time.monotonic() - self._event_at
        if not expected:
            return "Generating", f"{MODEL_NAME} is rendering the video.", None
        share = min(elapsed / expected, 0.97)
        remaining = expected - elapsed
        detail = (
            f"About {_seconds(remaining)} left."
            if remaining > 1
            else "Almost there: taking a little longer than usual."
        )
        return "Generating", detail, 0.15 + 0.75 * share


def details_html(done: Done, request: GenerationRequest, *, backend_name: str) -> str:
    """The finished video's facts as a compact table."""
    prediction = done.prediction
    inference = prediction.inference_ms
    rows = [
        ("Task", f"<code>{escape(done.task_id)}</code>"),
        ("Model", escape(prediction.model or MODEL_ID)),
        ("Size", escape(request.size.label)),
        ("Duration", f"{request.duration} s"),
        ("Inference", f"{inference / 1000:.1f} s" if inference else "not reported"),
        ("Total time", _seconds(done.elapsed)),
        ("NSFW flag", "yes" if prediction.nsfw else "no"),
        ("Backend", escape(backend_name)),
    ]
    body = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    return f'<table class="lp-details">{body}</table>'


def summary_html(size: str | None, duration: int | None, *, videos: int = 1, cost: str = "") -> str:
    """The line under the settings: what the next generation will make, then `cost` (HTML)."""
    try:
        label = Size.parse(size).label if size else ""
    except InvalidRequest:
        label = ""
    parts = [MODEL_NAME, label, f"{duration} s" if duration else "", f"{videos} videos" if videos > 1 else ""]
    text = " · ".join(escape(part) for part in parts if part)
    return f'<div class="lp-summary"><div class="lp-summary-what">{text}</div>{cost}</div>'


def status_card(tone: str, title: str, detail: str = "", **meta: object) -> str:
    """A status card like the generation's (tones: idle, running, done, error, cancelled)."""
    return _status(tone, title, detail, **meta)  # type: ignore[arg-type]


_BADGES = {
    "simulator": ("Offline simulator", "No API key is set: videos are simulated previews and cost nothing."),
    "user": ("Your key", "Generations are billed to your own WaveSpeed account."),
    "server": ("Server key", "Generations use this playground's WaveSpeed account."),
}


def badge_html(kind: str, *, limits: tuple[int, int] | None = None) -> str:
    """The line under the title: which key pays, and the limits that apply."""
    label, text = _BADGES[kind]
    chips = [f'<span class="lp-badge lp-badge-{kind}">{escape(label)}</span>']
    if limits is not None:
        running, daily = limits
        text += f" Up to {running} at a time and {daily} a day per visitor."
    return (
        f'<div class="lp-badges" data-kind="{kind}">{"".join(chips)}'
        f'<span class="lp-badge-note">{escape(text)}</span></div>'
    )
