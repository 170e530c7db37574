"""How the History tab shows a generation or a shot: its card, its facts, its poster frame."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
import time
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import av

from .._config import MODELS, RAY_2_FLASH
from .._errors import without_server_paths
from .._features.shot_store import ShotRecord, ShotState
from .._journal.journal import TaskRecord
from .._request import Size
from ._file_routes import POSTERS, VIDEOS

__all__ = [
    "CARDS_CSS",
    "CARDS_JS",
    "FACTS_CSS",
    "FACTS_JS",
    "LOCAL_TIMES_JS",
    "NOTHING_SELECTED",
    "Entry",
    "ShotView",
    "cards_html",
    "facts_html",
    "make_poster",
    "public_record",
    "shot_facts_html",
    "state_label",
    "summary_html",
]

#: The longest side of a card's poster frame, in pixels.
POSTER_SIZE = 480

#: A row's state as the History tab says it, and the tone of its chip.
_STATES = {
    "submitting": ("Submitting", "pending"),
    "unknown": ("Submit unconfirmed", "pending"),
    "created": ("Queued", "pending"),
    "processing": ("Generating", "pending"),
    "completed": ("Done", "done"),
    "failed": ("Failed", "error"),
    "cancelled": ("Cancelled", "muted"),
    "expired": ("Expired", "muted"),
    "lost": ("Lost", "error"),
    "rejected": ("Refused", "error"),
}

NOTHING_SELECTED = (
    '<div class="lp-facts-empty">Pick a generation to see its details, play it, download it or '
    "use its settings again.</div>"
)


@dataclass(frozen=True, slots=True)
class ShotView:
    """A shot as History shows it: its segments' rows, and whether its chain goes on now."""

    shot: ShotRecord
    segments: tuple[TaskRecord, ...]
    #: A chain of this process is making its next segment.
    live: bool = False
    #: Left extending with a visitor's own key: it waits for that key to come back.
    needs_key: bool = False

    @property
    def seconds(self) -> int:
        return sum(record.duration for record in self.segments)

    def label(self) -> tuple[str, str]:
        """The shot's state in words, and the tone of its chip."""
        if self.shot.state == ShotState.READY:
            return "Done", "done"
        if self.shot.state == ShotState.STOPPED:
            return "Stopped", "muted"
        if self.needs_key:
            return "Paused: needs your key", "muted"
        return ("Extending", "pending") if self.live else ("Paused", "muted")


@dataclass(frozen=True, slots=True)
class Entry:
    """A History card: a journal row, or a shot (then `record` is its first segment's row), with
    its files, and whether a job follows it.
    """

    record: TaskRecord
    video: Path | None = None
    poster: Path | None = None
    followed: bool = False
    shot: ShotView | None = None
    #: A draft's Ray 2 final in view: its task id ("" until it is submitted); None for no final.
    final: str | None = None

    @property
    def ref(self) -> str:
        """How the page names the card: a shot's name (`shot-3`), else the row's number."""
        return self.shot.shot.name if self.shot is not None else str(self.record.row_id)

    @property
    def signature(self) -> tuple[Any, ...]:
        """What the card shows; the grid is drawn again only when a signature changes."""
        r = self.record
        shown = (r.row_id, r.state, r.task_id, str(self.video), str(self.poster), self.followed, self.final)
        if self.shot is None:
            return shown
        view = self.shot
        states = tuple(segment.state for segment in view.segments)
        return (*shown, view.shot.state, view.shot.updated_at, states, view.live, view.needs_key)


def state_label(record: TaskRecord, *, video: bool = True) -> tuple[str, str]:
    """The state's words and tone ("pending", "done", "error", "muted")."""
    if record.state == "completed" and not record.video_path:
        return "Saving the video", "pending"
    if record.state == "completed" and not video:
        return "Video missing", "muted"
    return _STATES.get(record.state, (record.state.capitalize(), "muted"))


def _when(timestamp: float | None) -> str:
    """The time in the server's zone; the page shows it again in the visitor's own."""
    if not timestamp:
        return ""
    text = time.strftime("%d %b %Y, %H:%M", time.localtime(timestamp))
    return f'<time datetime="{_iso(timestamp)}">{text}</time>'


def _size_label(size: str) -> str:
    with contextlib.suppress(ValueError):
        return Size(size).label
    return size or "size unknown"


def _duration_label(duration: int) -> str:
    return f"{duration} s" if duration else "length unknown"


def _card(entry: Entry, selected: str | None) -> str:
    record, view = entry.record, entry.shot
    label, tone = view.label() if view else state_label(record, video=entry.video is not None)
    if entry.followed and tone == "pending":
        label = f"{label}…"
    if entry.poster is not None:
        media = f'<img src="{escape(POSTERS.address(entry.poster))}" alt="" loading="lazy">'
    else:
        note = "The video is on its way" if tone == "pending" else "No video"
        media = f'<span class="lp-card-placeholder">{note}</span>'
    video = f' data-video="{escape(VIDEOS.address(entry.video))}"' if entry.video else ""
    download = ""
    if entry.video is not None:
        name = f"luma-ray2-{view.shot.name if view else record.task_id or record.row_id}.mp4"
        download = (
            f'<a class="lp-card-download" href="{escape(VIDEOS.address(entry.video))}" '
            f'download="{escape(name)}" title="Download the MP4">Download</a>'
        )
    prompt = record.prompt.strip() or "(no prompt recorded)"
    facts = [_size_label(record.size), _duration_label(view.seconds if view else record.duration)]
    if record.draft_task_id:  # a final names its draft, so that the pair reads as one
        facts.insert(0, f"Ray 2 final of draft {record.draft_task_id[:10]}")
    elif record.model == RAY_2_FLASH.id:  # and a draft says that its final is the card before it
        finished = f", finished in Ray 2 as {entry.final[:10]}" if entry.final else ", finishing in Ray 2"
        facts.insert(0, "Flash draft" + (finished if entry.final is not None else ""))
    if view is not None:
        count = len(view.segments)
        facts.insert(0, f"Shot of {count} segment{'s' if count != 1 else ''}")
        media += f'<span class="lp-card-badge">{count} segments</span>'
    meta = " · ".join(escape(fact) for fact in facts)
    meta += f" · {_when(record.created_at)}" if record.created_at else ""
    kind = " lp-card-shot" if view else ""
    return (
        f'<article class="lp-card{kind}" role="button" tabindex="0" data-ref="{escape(entry.ref)}" '
        f'data-state="{escape(record.state)}" aria-selected="{str(entry.ref == selected).lower()}"'
        f"{video}>"
        f'<div class="lp-card-media">{media}</div>'
        f'<div class="lp-card-body"><p class="lp-card-prompt" title="{escape(prompt)}">'
        f"{escape(prompt)}</p>"
        f'<div class="lp-card-meta"><span class="lp-chip lp-chip-{tone}">{escape(label)}</span>'
        f"<span>{meta}</span></div>{download}</div></article>"
    )


def cards_html(entries: list[Entry], selected: str | None = None) -> str:
    """The grid of cards, newest first; a note when there is nothing yet."""
    if not entries:
        return (
            '<div class="lp-history-empty">No generations yet. Videos you make appear here, '
            "and stay here after a restart.</div>"
        )
    return f'<div class="lp-history-grid">{"".join(_card(e, selected) for e in entries)}</div>'


def summary_html(total: int, pending: int, *, limit: int) -> str:
    """The line above the grid: how many generations, how many still waiting."""
    if total == 0:
        text = "Your generations appear here."
    else:
        text = f"{total} generation{'s' if total != 1 else ''}"
        if total >= limit:
            text = f"The latest {limit} generations"
        if pending:
            text += f" · {pending} waiting for a result"
    return f'<div class="lp-history-summary">{escape(text)}</div>'


def facts_html(entry: Entry) -> str:
    """The selected generation's facts as a compact table."""
    record = entry.record
    label, tone = state_label(record, video=entry.video is not None)
    rows = [
        ("State", f'<span class="lp-chip lp-chip-{tone}">{escape(label)}</span>'),
        ("Prompt", escape(record.prompt) or "<em>not recorded</em>"),
        ("Size", escape(_size_label(record.size))),
        ("Duration", escape(_duration_label(record.duration))),
        ("Model", escape(MODELS[record.model].label if record.model in MODELS else record.model)),
        ("Created", _when(record.created_at)),
    ]
    if record.draft_task_id:
        rows.append(("Draft", f"<code>{escape(record.draft_task_id)}</code>"))
    if record.completed_at:
        rows.append(("Finished", _when(record.completed_at)))
    if record.inference_ms:
        rows.append(("Inference", f"{record.inference_ms / 1000:.1f} s"))
    if record.task_id:
        rows.append(("Task", f"<code>{escape(record.task_id)}</code>"))
    if record.error and tone != "done":
        rows.append(("Reason", escape(without_server_paths(record.error))))
    elif record.pending and not entry.followed:
        rows.append(("Next", "Press “Check for results” to finish it."))
    return _table(rows)


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    return f'<table class="lp-facts">{body}</table>'


def _segment_count(view: ShotView) -> str:
    made = sum(1 for record in view.segments if record.state == "completed")
    if view.shot.state == ShotState.EXTENDING:
        return f"{made} made, {view.shot.planned} planned"
    return str(made)


def shot_facts_html(view: ShotView, playing: str | None = None) -> str:
    """A shot's facts, then its segments: each a button that plays its clip (`playing` marked)."""
    shot, first = view.shot, view.segments[0]
    label, tone = view.label()
    rows = [
        ("State", f'<span class="lp-chip lp-chip-{tone}">{escape(label)}</span>'),
        ("Prompt", escape(first.prompt) or "<em>not recorded</em>"),
        ("Segments", _segment_count(view)),
        ("Duration", escape(_duration_label(view.seconds))),
        ("Size", escape(_size_label(first.size))),
        ("Created", _when(shot.created_at)),
        ("Shot", f"<code>{escape(shot.name)}</code>"),
    ]
    if view.needs_key:
        rows.append(
            (
                "Next",
                "Enter the key that started it (the same key) and the shot goes on; its segments are kept.",
            )
        )
    elif shot.error and shot.state == ShotState.STOPPED:
        rows.append(("Reason", escape(without_server_paths(shot.error))))
    current = playing or shot.name
    whole = (
        f'<button type="button" class="lp-segment" data-ref="{escape(shot.name)}" '
        f'aria-current="{str(current == shot.name).lower()}">The whole shot · {view.seconds} s</button>'
    )
    items = "".join(
        f'<li><button type="button" class="lp-segment" data-ref="{record.row_id}" '
        f'aria-current="{str(current == str(record.row_id)).lower()}">{record.duration} s · '
        f"{escape(record.prompt[:60] or 'no prompt')} · {escape(state_label(record)[0])}</button></li>"
        for record in view.segments
    )
    return f'{_table(rows)}<div class="lp-segments">{whole}<ol>{items}</ol></div>'


def _iso(timestamp: float | None) -> str | None:
    if not timestamp:
        return None
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).isoformat(timespec="seconds")


def public_record(entry: Entry, root: str | None = None) -> dict[str, Any]:
    """A generation as the API gives it: no paths, owners or key fingerprints.

    `video_url` is where this playground serves its saved copy (absolute with the app's `root`);
    `output_url` is WaveSpeed's own (kept there for 7 days), never the simulator's.
    """
    record = entry.record
    address = VIDEOS.address(entry.video, root) if entry.video is not None else None
    return {
        "task_id": record.task_id,
        "state": record.state,
        "pending": record.pending,
        "prompt": record.prompt,
        "size": record.size,
        "duration": record.duration,
        "model": record.model,
        "draft_task_id": record.draft_task_id,
        "created_at": _iso(record.created_at),
        "completed_at": _iso(record.completed_at),
        "inference_seconds": record.inference_ms / 1000 if record.inference_ms else None,
        "backend": "simulator" if record.backend == "simulator" else "wavespeed",
        "error": without_server_paths(record.error) if record.error else None,
        "nsfw": record.nsfw,
        "video_saved": entry.video is not None,
        "video_url": address,
        "output_url": None if record.backend == "simulator" else record.output_url,
    }


def make_poster(video: Path, folder: Path) -> Path | None:
    """A JPEG of the video's first frame in `folder` (made once); None when it cannot be read."""
    poster = folder / f"{video.stem}.jpg"
    with contextlib.suppress(OSError):
        if poster.stat().st_mtime >= video.stat().st_mtime:
            return poster
    try:
        with av.open(str(video)) as container:
            frame = next(container.decode(video=0))
            image = frame.to_image()
    except (av.FFmpegError, StopIteration, OSError, IndexError):
        return None
    image.thumbnail((POSTER_SIZE, POSTER_SIZE))
    folder.mkdir(parents=True, exist_ok=True)
    # Written aside then renamed: a page asking for it meanwhile never gets half a file.
    handle, partial = tempfile.mkstemp(suffix=".jpg", dir=folder)
    os.close(handle)
    try:
        image.save(partial, "JPEG", quality=82)
        os.replace(partial, poster)
    except OSError:
        Path(partial).unlink(missing_ok=True)
        return None
    return poster


# Times are written in the server's zone and shown again in the visitor's, after every draw.
LOCAL_TIMES_JS = """
const localTimes = () => element.querySelectorAll('time[datetime]').forEach((node) => {
  const when = new Date(node.getAttribute('datetime'));
  if (!isNaN(when)) node.textContent = when.toLocaleString([], {
    day: '2-digit', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit'});
});
localTimes();
watch('value', localTimes);
"""

# Event delegation on the component: the grid inside is drawn again on every change.
CARDS_JS = (
    LOCAL_TIMES_JS
    + """
const pick = (card) => {
  element.querySelectorAll('.lp-card[aria-selected="true"]')
    .forEach((c) => c.setAttribute('aria-selected', 'false'));
  card.setAttribute('aria-selected', 'true');
  const ref = card.dataset.ref;  // a row's number, or a shot's name
  trigger('select', {index: ref, value: ref});  // read as gr.SelectData
};
const preview = (card, on) => {
  const media = card.querySelector('.lp-card-media');
  const playing = media && media.querySelector('video');
  if (!on) { if (playing) playing.remove(); return; }
  if (!media || playing || !card.dataset.video) return;
  const video = document.createElement('video');
  video.muted = true; video.loop = true; video.playsInline = true;
  video.src = card.dataset.video;
  media.appendChild(video);
  video.play().catch(() => {});
};
const cardOf = (event) => event.target.closest && event.target.closest('.lp-card');
element.addEventListener('click', (event) => {
  if (event.target.closest('a')) return;
  const card = cardOf(event);
  if (card) pick(card);
});
element.addEventListener('keydown', (event) => {
  const card = cardOf(event);
  if (card && (event.key === 'Enter' || event.key === ' ')) { event.preventDefault(); pick(card); }
});
element.addEventListener('pointerover', (event) => {
  const card = cardOf(event);
  if (card && !card.contains(event.relatedTarget)) preview(card, true);
});
element.addEventListener('pointerout', (event) => {
  const card = cardOf(event);
  if (card && !card.contains(event.relatedTarget)) preview(card, false);
});
"""
)

# A shot's segments in the facts panel: picking one plays its clip.
FACTS_JS = (
    LOCAL_TIMES_JS
    + """
element.addEventListener('click', (event) => {
  const item = event.target.closest && event.target.closest('.lp-segment');
  if (!item) return;
  element.querySelectorAll('.lp-segment').forEach((b) => b.setAttribute('aria-current', 'false'));
  item.setAttribute('aria-current', 'true');
  trigger('select', {index: item.dataset.ref, value: item.dataset.ref});
});
"""
)

_CHIP_CSS = """
.lp-chip { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-weight: 600;
  font-size: .72rem; white-space: nowrap; }
.lp-chip-done { background: #dcfce7; color: #166534; }
.lp-chip-pending { background: #ede9fe; color: #5b21b6; }
.lp-chip-error { background: #fee2e2; color: #991b1b; }
.lp-chip-muted { background: #e2e8f0; color: #334155; }
"""

CARDS_CSS = (
    _CHIP_CSS
    + """
.lp-history-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr));
  gap: .75rem; padding: .15rem; }
.lp-card { display: flex; flex-direction: column; border: 1px solid var(--border-color-primary);
  border-radius: 14px; overflow: hidden; background: var(--block-background-fill); cursor: pointer;
  transition: border-color .15s, box-shadow .15s; outline: none; }
.lp-card:hover, .lp-card:focus-visible { border-color: #8b5cf6; }
.lp-card[aria-selected="true"] { border-color: #7c3aed; box-shadow: 0 0 0 2px rgb(124 58 237 / .35); }
.lp-card-media { position: relative; aspect-ratio: 16 / 10; background: #0b0b12; display: flex;
  align-items: center; justify-content: center; }
.lp-card-media img, .lp-card-media video { position: absolute; inset: 0; width: 100%; height: 100%;
  object-fit: contain; }
.lp-card-placeholder { color: #cbd5e1; font-size: .85rem; padding: .5rem; text-align: center; }
.lp-card-body { padding: .5rem .65rem .6rem; display: flex; flex-direction: column; gap: .3rem; }
.lp-card-prompt { margin: 0; font-size: .88rem; line-height: 1.3; display: -webkit-box;
  -webkit-line-clamp: 2; -webkit-box-orient: vertical; overflow: hidden; }
.lp-card-meta { display: flex; flex-wrap: wrap; align-items: center; gap: .35rem;
  font-size: .76rem; color: var(--body-text-color-subdued); }
.lp-card-download { font-size: .78rem; align-self: flex-start; }
.lp-card-shot { box-shadow: 4px 4px 0 -1px var(--block-background-fill),
  4px 4px 0 0 var(--border-color-primary); }
.lp-card-badge { position: absolute; right: .4rem; bottom: .4rem; padding: .05rem .45rem;
  border-radius: 999px; background: rgb(15 23 42 / .75); color: #fff; font-size: .72rem; }
.lp-history-empty { padding: 2.5rem 1rem; text-align: center; color: var(--body-text-color-subdued);
  border: 1px dashed var(--border-color-primary); border-radius: 14px; }
"""
)

FACTS_CSS = (
    _CHIP_CSS
    + """
.lp-facts { width: 100%; table-layout: fixed; border-collapse: collapse; font-size: .88rem; margin: 0;
  border-radius: 14px; overflow: hidden; border-style: hidden;
  box-shadow: 0 0 0 1px var(--border-color-primary); }
.lp-facts th, .lp-facts td { border: none; background: none; padding: .34rem .9rem; text-align: left;
  vertical-align: top; }
.lp-facts th { font-weight: 500; color: var(--body-text-color-subdued); width: 30%; }
.lp-facts td { overflow-wrap: anywhere; }
.lp-facts tr + tr > * { border-top: 1px solid var(--border-color-primary); }
.lp-facts code { font-size: .8rem; padding: .05rem .3rem; border-radius: 6px;
  background: var(--background-fill-secondary); }
.lp-segments { margin-top: .6rem; font-size: .86rem; }
.lp-segments ol { margin: .3rem 0 0; padding-left: 1.4rem; }
.lp-segment { font: inherit; font-size: .86rem; font-weight: 400; background: none; border: none;
  box-shadow: none; padding: .15rem .35rem; cursor: pointer; text-align: left; color: inherit;
  border-radius: 6px; }
.lp-segment:hover { background: var(--background-fill-secondary); }
.lp-segment[aria-current="true"] { font-weight: 600; background: rgb(124 58 237 / .12); }
.lp-facts-empty { padding: 1.2rem 1rem; color: var(--body-text-color-subdued); font-size: .9rem;
  border: 1px dashed var(--border-color-primary); border-radius: 14px; }
"""
)
