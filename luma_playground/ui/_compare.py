"""The Compare tab: two videos from History side by side, playing in step."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import gradio as gr

from .._journal import TaskRecord
from ._history import HistoryHandlers
from ._parts import QUIET

__all__ = ["SYNC_JS", "CompareHandlers", "CompareParts", "place", "wire"]

#: The two players; the page script keeps them in step.
PLAYERS = ("lp-compare-a", "lp-compare-b")
PROMPT_CHARS = 48


@dataclass(frozen=True)
class CompareParts:
    """The Compare tab's components."""

    tab: gr.Tab
    left: gr.Dropdown
    right: gr.Dropdown
    left_video: gr.Video
    right_video: gr.Video


def place() -> CompareParts:
    """Two pickers, each above its player."""
    with gr.Tab("Compare", id="compare", elem_id="lp-compare-tab") as tab:
        gr.HTML(
            '<div class="lp-compare-note">Pick two videos from your history. They play side '
            "by side, in step: play, pause or seek either one and the other follows.</div>",
            js_on_load=None,
        )
        with gr.Row(equal_height=False):
            sides = []
            for side, player in zip(("Left", "Right"), PLAYERS, strict=True):
                with gr.Column(min_width=320):
                    picker = gr.Dropdown(
                        label=side, choices=[], value=None, interactive=True, elem_id=f"{player}-pick"
                    )
                    video = gr.Video(
                        label=side, interactive=False, autoplay=False, loop=False, height=400, elem_id=player
                    )
                sides.append((picker, video))
    (left, left_video), (right, right_video) = sides
    return CompareParts(tab, left, right, left_video, right_video)


def _age(timestamp: float, now: float) -> str:
    """How long ago, in words that do not depend on the visitor's time zone."""
    minutes = max(0, int(now - timestamp)) // 60
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // (24 * 60)} days ago"


def _label(record: TaskRecord, now: float) -> str:
    prompt = " ".join(record.prompt.split()) or "no prompt"
    if len(prompt) > PROMPT_CHARS:
        prompt = prompt[: PROMPT_CHARS - 1] + "…"
    return f"{prompt} · {record.duration} s · {_age(record.created_at, now)}"


class CompareHandlers:
    """Picks and players, on the visitor's saved videos only."""

    def __init__(self, history: HistoryHandlers) -> None:
        self.history = history

    def _choices(self, request: gr.Request) -> list[tuple[str, int]]:
        visit = self.history.store.visit(request)
        now = time.time()
        return [
            (_label(record, now), record.row_id)
            for record in self.history.records(visit)
            if self.history.video_of(record) is not None
        ]

    def choices(self, left: int | None, right: int | None, request: gr.Request) -> tuple[Any, Any]:
        """Offer the saved videos; keep the picks that are still there, else the two newest."""
        choices = self._choices(request)
        rows = [row for _, row in choices]
        left = left if left in rows else (rows[0] if rows else None)
        right = right if right in rows and right != left else next((row for row in rows if row != left), None)
        return gr.Dropdown(choices=choices, value=left), gr.Dropdown(choices=choices, value=right)

    def open_with(self, row_id: int | None, right: int | None, request: gr.Request) -> tuple[Any, Any, Any]:
        """From History: the picked video on the left, and the Compare tab in front."""
        record = self.history.record(self.history.store.visit(request), row_id)
        left_update, right_update = self.choices(record.row_id, right, request)
        return left_update, right_update, gr.Tabs(selected="compare")

    def show(self, row_id: int | None, request: gr.Request) -> str | None:
        """The picked video for a player (nothing when the pick is cleared)."""
        if row_id is None:
            return None
        record = self.history.record(self.history.store.visit(request), row_id)
        video = self.history.video_of(record)
        return str(video) if video else None


# Media events do not bubble, but a capturing listener on the document sees them all: the
# players keep working when Gradio draws a new <video> for a new pick.
SYNC_JS = """
() => {
  if (window.lpCompareSync) return;
  window.lpCompareSync = true;
  const ids = %s;
  const players = () => ids.map((id) => document.querySelector(`#${id} video`));
  const partner = (video) => {
    const [a, b] = players();
    if (!a || !b || !(video instanceof HTMLVideoElement)) return null;
    return video === a ? b : video === b ? a : null;
  };
  const clamp = (time, video) => Math.min(time, Math.max((video.duration || time) - 0.05, 0));
  let leader = null;
  const on = (type, handle) => document.addEventListener(type, (event) => {
    const other = partner(event.target);
    if (other) handle(event.target, other);
  }, true);
  on('play', (video, other) => {
    if (!other.paused) return;  // the partner started this one
    leader = video;
    if (video.currentTime < (other.duration || Infinity)) {
      other.currentTime = clamp(video.currentTime, other);
      other.play().catch(() => {});
    }
  });
  on('pause', (video, other) => {
    if (video.ended) return;  // the shorter one ended: the longer one plays on
    if (!other.paused) other.pause();
  });
  on('seeked', (video, other) => {
    const time = clamp(video.currentTime, other);
    if (Math.abs(other.currentTime - time) > 0.15) other.currentTime = time;
  });
  on('ratechange', (video, other) => {
    if (other.playbackRate !== video.playbackRate) other.playbackRate = video.playbackRate;
  });
  on('timeupdate', (video, other) => {
    if (video !== leader || video.paused || other.paused || other.ended) return;
    if (Math.abs(other.currentTime - video.currentTime) > 0.25) {
      other.currentTime = clamp(video.currentTime, other);
    }
  });
}
""" % ("[" + ", ".join(f"'{player}'" for player in PLAYERS) + "]")


def wire(
    demo: gr.Blocks,
    handlers: CompareHandlers,
    parts: CompareParts,
    *,
    selected: gr.Number,
    open_button: gr.Button,
    tabs: gr.Tabs,
) -> None:
    """Connect the Compare tab, and `open_button` (History's "Compare with…" on `selected`)."""
    # The names let a test call each event as the page does (they stay private).
    sides = [parts.left, parts.right]
    parts.tab.select(handlers.choices, sides, sides, api_name="compare_choices", **QUIET)
    parts.left.change(handlers.show, [parts.left], [parts.left_video], api_name="compare_show", **QUIET)
    parts.right.change(handlers.show, [parts.right], [parts.right_video], **QUIET)
    open_button.click(
        handlers.open_with, [selected, parts.right], [*sides, tabs], api_name="compare_open", **QUIET
    )
    demo.load(None, None, None, js=SYNC_JS)
