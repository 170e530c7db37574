"""The History tab: a visitor's generations, newest first; fetch a task by id; use settings again.

A shot is one card (its joined video) where its newest segment would be, its segments listed in
its facts. On a shared deployment a visitor sees the tasks of their session (or login) and of
their own key; the owner running the playground for themselves sees every task in the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import shutil
from pathlib import Path
from typing import Any

import gradio as gr

from .._config import RAY_2, RAY_2_FLASH, ApiKey
from .._errors import InvalidRequest, LumaPlaygroundError, TaskNotFound
from .._features.adopted import adopt
from .._features.drafts import finals_of, finish_draft, paired
from .._features.follow import check_record
from .._features.shot_store import ShotRecord, ShotState
from .._features.shots import MAX_SEGMENTS
from .._journal.journal import TaskRecord
from .._pictures.urls import fetch_image
from .._playground import Playground
from .._request import DURATIONS, MODEL, Size, check_prompt, check_task_id
from .._run.jobs import Job
from ._generate import ui_error
from ._gradio_compat import is_inside, shown_file, upload_folder, url_downloads
from ._history_view import Entry, ShotView, cards_html, facts_html, make_poster, shot_facts_html, summary_html
from ._parts import page_warning
from ._session import SessionStore, Visit

__all__ = ["HISTORY_LIMIT", "HistoryHandlers"]

#: The most generations the tab shows (newest first).
HISTORY_LIMIT = 60
#: Seconds "Check for results" waits for tasks that finished remotely to be saved.
CHECK_WAIT = 8.0


class NotInHistory(LumaPlaygroundError):
    """The generation asked for is not one of this visitor's."""

    kind = "input"
    title = "Not in your history"


class HistoryHandlers:
    """The History tab's handlers, and the `/history` endpoint."""

    def __init__(
        self,
        playground: Playground,
        store: SessionStore,
        *,
        limit: int = HISTORY_LIMIT,
        check_wait: float = CHECK_WAIT,
    ) -> None:
        self.playground = playground
        self.store = store
        self.limit = limit
        self.check_wait = check_wait
        self._adopting: asyncio.Lock | None = None

    # -- who sees what --------------------------------------------------------------------

    def records(self, visit: Visit) -> list[TaskRecord]:
        """The visitor's rows, newest first: every row for the owner of a private playground."""
        journal = self.playground.journal
        if not self.playground.settings.shared:
            return journal.history(limit=self.limit)
        fingerprint = visit.user_key.fingerprint if visit.user_key else None
        rows = journal.history(visit.owner, key_fingerprint=fingerprint, limit=self.limit)
        # A key matches rows only when it is a real key that made them (never the simulator's).
        return [record for record in rows if self.owns(visit, record)]

    def owns(self, visit: Visit, record: TaskRecord) -> bool:
        return self.playground.owns(visit.caller, record)

    def record(self, visit: Visit, row_id: object) -> TaskRecord:
        """One of the visitor's rows, or the error that says it is not theirs."""
        record = None
        with contextlib.suppress(TypeError, ValueError):
            record = self.playground.journal.get(int(row_id))  # type: ignore[call-overload]
        if record is None or not self.owns(visit, record):
            raise ui_error(NotInHistory("That generation is not in your history."))
        return record

    def entry(self, record: TaskRecord, followed: set[int] | None = None, *, poster: bool = True) -> Entry:
        """The row with its saved video and its poster frame (made on first sight)."""
        video = self.video_of(record)
        frame = None
        if poster and video is not None:
            frame = make_poster(video, self.playground.settings.outputs_dir / "posters")
        following = followed if followed is not None else self._followed()
        return Entry(record, video, frame, record.row_id in following)

    def video_of(self, record: TaskRecord) -> Path | None:
        """The row's MP4, when it is saved in the outputs folder (the one the server serves)."""
        if record.state != "completed" or not record.video_path:
            return None
        return self._served(record.video_path)

    def shown(self, video: Path | None) -> str | None:
        """A saved video as the page's players are given it (its address names no server folder)."""
        return shown_file(video, self.playground.settings) if video is not None else None

    def _served(self, video_path: str | None) -> Path | None:
        path = Path(video_path or "")
        if not video_path or not path.is_file() or not is_inside(path, self.playground.settings.outputs_dir):
            return None
        return path

    # -- shots ------------------------------------------------------------------------------

    def entries(self, visit: Visit, records: list[TaskRecord] | None = None) -> list[Entry]:
        """The visitor's cards, newest first: a shot once, where its newest segment is; each other
        row on its own, a draft right after its Ray 2 final. A shot left with its first clip alone is
        that clip's card.
        """
        records = paired(self.records(visit) if records is None else records)  # a final, then its draft
        followed = self._followed()
        finals = finals_of(records)
        shots = self.playground.shots.store.of_rows([record.row_id for record in records])
        entries, shown = [], set()
        for record in records:
            shot = shots.get(record.row_id)
            if shot is None or (len(shot.segments) < 2 and shot.state != ShotState.EXTENDING):
                entry = self.entry(record, followed)
                final = finals.get(record.task_id or "")
                entries.append(entry if final is None else dataclasses.replace(entry, final=final))
            elif shot.shot_id not in shown:
                shown.add(shot.shot_id)
                entries.append(self.shot_entry(shot, followed))
        return entries

    def shot_entry(self, shot: ShotRecord, followed: set[int] | None = None) -> Entry:
        """A shot's card: its joined video (its first clip's until one is joined) and its segments."""
        shots = self.playground.shots
        segments = tuple(shots.segments(shot))
        following = followed if followed is not None else self._followed()
        view = ShotView(shot, segments, live=shots.live(shot), needs_key=shots.needs_key(shot))
        video = self._served(shot.video_path) or self.video_of(segments[0])
        poster = make_poster(video, self.playground.settings.outputs_dir / "posters") if video else None
        return Entry(segments[0], video, poster, any(r.row_id in following for r in segments), view)

    def item(self, visit: Visit, ref: object) -> Entry:
        """The visitor's card a page reference names (a row's number, or a shot's name)."""
        text = str(ref if ref is not None else "").strip()
        if not text.startswith("shot-"):
            return self.entry(self.record(visit, text))
        try:
            shot, _ = self.playground.shots.resolve(text, visit.caller)
        except LumaPlaygroundError:
            shot = None
        if shot is None:
            raise ui_error(NotInHistory("That shot is not in your history."))
        return self.shot_entry(shot)

    def play_segment(self, selected: str | None, event: gr.SelectData, request: gr.Request) -> Any:
        """A segment of the shot shown was picked (or the whole shot again): play that clip."""
        visit = self.store.visit(request)
        shown = self.item(visit, selected)
        if shown.shot is None:
            return gr.skip()
        picked = str(event.index if event is not None else "")
        rows = [str(record.row_id) for record in shown.shot.segments]
        if picked not in rows:
            return gr.Video(value=self.shown(shown.video), label="Shot")
        record = shown.shot.segments[rows.index(picked)]
        video = self.video_of(record)
        label = f"Segment {rows.index(picked) + 1} of {len(rows)}"
        return gr.Video(value=self.shown(video), label=label)

    def _followed(self) -> set[int]:
        """Rows a job of this process is following right now."""
        return {job.row_id for job in self._jobs() if job.row_id is not None and not job.finished}

    def _jobs(self) -> list[Job]:
        return [job for backend in self.playground.backends for job in list(backend.runner.jobs.values())]

    def _key_for(self, visit: Visit, record: TaskRecord) -> ApiKey | None:
        """The visitor's key when it made the task, else None (the playground's own key)."""
        key = visit.user_key
        return key if key is not None and key.fingerprint == record.key_fingerprint else None

    # -- the list ---------------------------------------------------------------------------

    def refresh(
        self, selected: str | None, shown: object, request: gr.Request
    ) -> tuple[Any, Any, Any, Any, Any]:
        """Draw the cards again when something changed; keep polling while a task is followed."""
        visit = self.store.visit(request)
        records = self.records(visit)
        entries = self.entries(visit, records)
        signature = (selected, tuple(entry.signature for entry in entries))
        pending = sum(1 for record in records if record.pending)
        cards = gr.skip() if signature == shown else cards_html(entries, selected)
        check = gr.Button(visible=pending > 0, value=f"Check for results ({pending})", interactive=True)
        watching = any(entry.followed and entry.record.pending for entry in entries)
        watching = watching or any(entry.shot and entry.shot.live for entry in entries)
        return (
            cards,
            summary_html(len(records), pending, limit=self.limit),
            check,
            gr.Timer(active=watching),
            signature,
        )

    # -- one generation ---------------------------------------------------------------------

    def select(self, event: gr.SelectData, request: gr.Request) -> tuple[Any, ...]:
        """A card was picked (the cards' script sends its reference as the index): show it."""
        ref = event.index if event is not None else None
        entry = self.item(self.store.visit(request), ref)
        return (entry.ref, *self.detail(entry))

    def detail(self, entry: Entry) -> tuple[Any, Any, Any, Any, Any, Any]:
        """The facts, the video and the buttons (use again, compare, extend, finish) for one card."""
        video = self.shown(entry.video)
        view = entry.shot
        if view is None:
            facts = facts_html(entry)
            extendable = video is not None
        else:
            facts = shot_facts_html(view)
            extendable = view.shot.state != ShotState.EXTENDING and len(view.segments) < MAX_SEGMENTS
        return (
            facts,
            gr.Video(value=video, label="Shot" if view else "Video"),
            gr.Button(interactive=True),
            gr.Button(interactive=video is not None),
            gr.Button(interactive=extendable),
            self._finish_button(entry),
        )

    def _finish_button(self, entry: Entry) -> Any:
        """ "Finish in Ray 2" on a finished Flash draft, priced first; hidden on any other card."""
        record = entry.record
        if entry.shot is not None or record.model != RAY_2_FLASH.id or entry.video is None:
            return gr.Button(visible=False)
        price = self.playground.spend.unit_price(record.size, RAY_2.id) * max(1, -(-record.duration // 5))
        return gr.Button(value=f"Finish in Ray 2 · {price:.2f} USD", visible=True, interactive=True)

    async def finish(self, ref: str | None, request: gr.Request) -> tuple[Any, Any]:
        """Render the selected Flash draft again in Ray 2, from its upload; the final joins History."""
        visit = self.store.visit(request)
        draft = self.item(visit, ref).record
        try:
            job = await finish_draft(self.playground, draft, visit.caller)
        except LumaPlaygroundError as error:
            raise ui_error(error) from None
        self.store.keep_jobs(visit, [job], run=False)
        gr.Info("The Ray 2 final has started: it appears in History beside its draft.")
        return gr.Button(interactive=False), gr.Timer(active=True)

    async def use_again(self, ref: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Put a generation's image, prompt, size, duration and model back into the Generate tab (a shot's:
        its first clip's).
        """
        record = self.item(self.store.visit(request), ref).record
        image = await self._image_of(record)
        if image is None:
            gr.Warning(
                "The original image is not available any more: add it again.",
                title="Settings restored without the image",
            )
        size = record.size if record.size in {s.value for s in Size} else gr.skip()
        duration = record.duration if record.duration in DURATIONS else gr.skip()
        prompt: Any = record.prompt
        try:  # a task adopted by its id brings WaveSpeed's copy of the prompt: checked as typed ones are
            if prompt:
                check_prompt(prompt)
        except InvalidRequest as error:
            page_warning(error.message, title="Settings restored without the prompt")
            prompt = gr.skip()
        return (
            image if image is not None else gr.skip(),
            prompt,
            size,
            duration,
            gr.Tabs(selected="image-tab") if image is not None else gr.skip(),
            gr.Tabs(selected="generate"),
            record.model if record.model in MODEL.values else gr.skip(),
        )

    async def _image_of(self, record: TaskRecord) -> str | None:
        """The row's image as a file Gradio may show: the local file, else a public copy."""
        for candidate in (record.image, record.image_url):
            if not candidate:
                continue
            if candidate.startswith(("http://", "https://")):
                with contextlib.suppress(Exception):  # gone, private, or not an image any more
                    return str(await fetch_image(candidate, url_downloads()))
            elif Path(candidate).is_file():
                return await asyncio.to_thread(_uploadable, Path(candidate))
        return None

    # -- tasks that are not finished --------------------------------------------------------

    async def check_results(self, request: gr.Request) -> None:
        """Finish the visitor's pending tasks: follow each again, and wait a little for them."""
        visit = self.store.visit(request)
        pending = [record for record in self.records(visit) if record.pending]
        if not pending:
            gr.Info("Nothing is waiting for a result.")
            return
        server_key = self.playground.backend_for(None)[1]
        keys: set[ApiKey | None] = set()
        mine, foreign = [], 0
        for record in pending:
            key = self._key_for(visit, record)
            if key is not None or (
                server_key is not None and record.key_fingerprint == server_key.fingerprint
            ):
                keys.add(key)
                mine.append(record)
            else:
                foreign += 1
        for key in keys:
            self.playground.resume_pending(key)
        rows = {record.row_id for record in mine}
        await _settle([job for job in self._jobs() if job.row_id in rows], self.check_wait)
        gr.Info(self._check_note(mine, foreign), title="Results checked")

    def _check_note(self, checked: list[TaskRecord], foreign: int) -> str:
        """What a check did: videos saved, tasks ended, still running, not checkable now."""
        after = [self.playground.journal.get(record.row_id) or record for record in checked]
        followed = self._followed()
        saved = sum(1 for record in after if record.state == "completed" and record.video_path)
        ended = sum(1 for record in after if not record.pending) - saved
        running = sum(1 for record in after if record.pending and record.row_id in followed)
        stuck = sum(1 for record in after if record.pending and record.row_id not in followed)
        parts = [f"{saved} video{'s' if saved != 1 else ''} saved"]
        if ended:
            parts.append(f"{ended} ended without a video")
        if running:
            parts.append(f"{running} still running (History shows them when done)")
        if stuck:
            parts.append(f"{stuck} could not be checked now (see their details)")
        note = ", ".join(parts) + "."
        if foreign:
            note += (
                f" {foreign} {'was' if foreign == 1 else 'were'} made with another key: "
                "enter that key to finish them."
            )
        return note

    async def fetch(self, task_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Show any task of the visitor's key (or the playground's) by id; keep it in History."""
        try:
            record, problem = await self.lookup(task_id, self.store.visit(request))
        except LumaPlaygroundError as error:
            raise ui_error(error) from None
        if problem is not None:
            page_warning(str(problem), title="The task could not be checked")
        entry = await asyncio.to_thread(self.entry, record)
        return (entry.ref, *self.detail(entry), "")

    async def lookup(
        self, task_id: str | None, visit: Visit
    ) -> tuple[TaskRecord, LumaPlaygroundError | None]:
        """The visitor's task by id, kept here (adopted when new) and checked now.

        Its video is saved when it is complete; a running one is followed until it ends. The
        second value says why a pending task could not be checked now, if so.
        """
        wanted = check_task_id(task_id)
        if self._adopting is None:
            self._adopting = asyncio.Lock()
        async with self._adopting:  # two quick clicks must not adopt the same task twice
            record = self.playground.journal.by_task_id(wanted)
            if record is None:
                record = await self._adopt(wanted, visit)
        if not self.owns(visit, record):
            raise NotInHistory("This task belongs to someone else on this playground.", task_id=wanted)
        problem = None
        if record.pending or (record.state == "completed" and self.video_of(record) is None):
            key = self._key_for(visit, record)
            outcome = await check_record(self.playground, record, key)
            record = outcome.record
            if outcome.error is not None and record.pending:
                problem = outcome.error
            elif record.pending:
                self.playground.resume_pending(key)  # it is saved when it ends
        return record, problem

    async def _adopt(self, task_id: str, visit: Visit) -> TaskRecord:
        if not self.playground.may_adopt(visit.caller):
            raise TaskNotFound(
                "There is no task with this id in your history; enter the WaveSpeed key that created "
                "it to fetch it.",
                task_id=task_id,
            )
        backend, _ = self.playground.backend_for(visit.user_key)
        try:
            return await adopt(self.playground, task_id, visit.user_key, owner=visit.owner)
        except TaskNotFound:
            if backend.simulated:
                where = (
                    "The offline simulator has no task with this id; enter your WaveSpeed "
                    "key to fetch a task from WaveSpeed."
                )
            else:
                whose = "your key" if visit.user_key is not None else "this playground's key"
                where = (
                    f"WaveSpeed has no task with this id for {whose}: check the id, or "
                    "enter the key that created it (tasks are kept for 7 days)."
                )
            raise TaskNotFound(where, task_id=task_id) from None

    async def resume_for_key(self, key: str | None, request: gr.Request) -> None:
        """A key was entered: finish its pending tasks in the background, in this session."""
        with contextlib.suppress(ValueError, InvalidRequest):  # a refused key: the badge says why
            api_key = ApiKey.parse(key)
            if api_key is not None:
                self.playground.shots.wake(api_key)  # its paused shots go on
            if api_key is not None and (jobs := self.playground.resume_pending(api_key)):
                count = len(jobs)
                gr.Info(
                    f"Finishing {count} earlier task{'s' if count != 1 else ''} of your key; "
                    "they appear in History when done."
                )


def _uploadable(path: Path) -> str:
    """The file, or a copy in Gradio's upload folder when Gradio would refuse to show it."""
    uploads = upload_folder()
    if is_inside(path, uploads):
        return str(path)
    stamp = f"{path.resolve()}:{path.stat().st_mtime_ns}".encode()
    folder = uploads / f"reuse-{hashlib.sha256(stamp).hexdigest()[:20]}"
    copy = folder / path.name
    if not copy.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy)
    return str(copy)


async def _settle(jobs: list[Job], timeout: float) -> None:
    """Wait until the jobs end, or `timeout` seconds; the jobs go on either way."""
    if not jobs:
        return
    waits = asyncio.gather(*(job.wait() for job in jobs), return_exceptions=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(waits, timeout)
