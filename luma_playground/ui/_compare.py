"""The Compare tab: two videos (or shots) from History side by side, playing in step."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import gradio as gr

from .._config import RAY_2_FLASH
from ._history import HistoryHandlers
from ._history_view import Entry
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


FLASH = RAY_2_FLASH.id


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


def _label(entry: Entry, now: float) -> str:
    record, view = entry.record, entry.shot
    prompt = " ".join(record.prompt.split()) or "no prompt"
    if len(prompt) > PROMPT_CHARS:
        prompt = prompt[: PROMPT_CHARS - 1] + "…"
    if view is not None:
        return (
            f"Shot of {len(view.segments)}: {prompt} · {view.seconds} s · {_age(view.shot.created_at, now)}"
        )
    kind = "Ray 2 final · " if record.draft_task_id else "Flash draft · " if record.model == FLASH else ""
    return f"{kind}{prompt} · {record.duration} s · {_age(record.created_at, now)}"


def _partner(entry: Entry, entries: list[Entry]) -> str | None:
    """The other half of a draft and its Ray 2 final (the draft of a final, a draft's final), if saved."""
    record = entry.record
    for other in entries:
        if other.video is None or other.shot is not None or entry.shot is not None:
            continue
        drafted = record.draft_task_id and other.record.task_id == record.draft_task_id
        if drafted or (record.task_id and other.record.draft_task_id == record.task_id):
            return other.ref
    return None


class CompareHandlers:
    """Picks and players, on the visitor's saved videos and shots only (as History shows them)."""

    def __init__(self, history: HistoryHandlers) -> None:
        self.history = history

    def _choices(self, request: gr.Request) -> list[tuple[str, str]]:
        visit = self.history.store.visit(request)
        now = time.time()
        return [
            (_label(entry, now), entry.ref)
            for entry in self.history.entries(visit)
            if entry.video is not None
        ]

    def choices(self, left: str | None, right: str | None, request: gr.Request) -> tuple[Any, Any]:
        """Offer the saved videos; keep the picks that are still there, else the two newest."""
        choices = self._choices(request)
        refs = [ref for _, ref in choices]
        left = left if left in refs else (refs[0] if refs else None)
        right = right if right in refs and right != left else next((ref for ref in refs if ref != left), None)
        return gr.Dropdown(choices=choices, value=left), gr.Dropdown(choices=choices, value=right)

    def open_with(self, ref: str | None, right: str | None, request: gr.Request) -> tuple[Any, Any, Any]:
        """From History: the picked video (or shot) on the left, and the Compare tab in front."""
        visit = self.history.store.visit(request)
        entry = self.history.item(visit, ref)
        right = _partner(entry, self.history.entries(visit)) or right
        left_update, right_update = self.choices(entry.ref, right, request)
        return left_update, right_update, gr.Tabs(selected="compare")

    def show(self, ref: str | None, request: gr.Request) -> str | None:
        """The picked video for a player (nothing when the pick is cleared)."""
        if ref is None:
            return None
        entry = self.history.item(self.history.store.visit(request), ref)
        return self.history.shown(entry.video)


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
    selected: gr.Textbox,
    open_button: gr.Button,
    tabs: gr.Tabs,
) -> None:
    """Connect the Compare tab, and `open_button` (History's "Compare with…" on `selected`)."""
    parts.tab.select(handlers.choices, [parts.left, parts.right], [parts.left, parts.right], **QUIET)
    parts.left.change(handlers.show, [parts.left], [parts.left_video], **QUIET)
    parts.right.change(handlers.show, [parts.right], [parts.right_video], **QUIET)
    open_button.click(handlers.open_with, [selected, parts.right], [parts.left, parts.right, tabs], **QUIET)
    demo.load(None, None, None, js=SYNC_JS)
