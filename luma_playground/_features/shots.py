"""Shots: a finished clip continued from its exact last frame, segment after segment, joined into one MP4.

Each segment is a normal task started through `Playground.start` (checked, priced, journaled,
cancellable, limits applied) from the PNG of the previous segment's last frame. When it completes,
the whole shot is joined again (`media.join_segments`, which drops the repeated first frame of each
continuation). The shot and its segments are in the journal's file: after a crash the pending
segment is resumed like any task (never submitted again) and the chain goes on from there. A
shot of the server's key goes on at the next start; one of a visitor's own key (never stored)
waits, paused, until a call brings that key back (`Shots.wake`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .._config import MODEL_ID, ApiKey, Settings
from .._errors import InvalidRequest, LumaPlaygroundError, ShotBusy, TaskNotFound
from .._guard.identity import LOGIN_PREFIXES
from .._guard.limits import Caller
from .._journal.file_names import unguessable
from .._journal.journal import Journal, TaskRecord, TaskState
from .._pictures.sources import Picture
from .._request import GenerationRequest
from .._run.jobs import Job
from ..media import join_segments, last_frame
from .settings_file import shot_settings
from .shot_store import ShotRecord, ShotState, ShotStore
from .video_files import UNREADABLE, read_video

__all__ = ["MAX_SEGMENTS", "SHOT_NAME", "ShotRun", "Shots"]

logger = logging.getLogger("luma_playground")

#: The most segments one shot may have (the first clip included): 12 x 10 s is two minutes.
MAX_SEGMENTS = 12
#: How faces name a shot: `shot-<id>`.
SHOT_NAME = re.compile(r"shot-[1-9][0-9]{0,11}")


class Playground(Protocol):
    """What shots need of `_service.Playground` (named here so that neither module imports the other)."""

    settings: Settings
    journal: Journal

    def backend_for(self, user_key: ApiKey | None) -> tuple[Any, ApiKey | None]: ...

    def backend_of(self, record: TaskRecord) -> Any: ...

    def owns(self, caller: Caller, record: TaskRecord) -> bool: ...

    async def start(self, request: GenerationRequest, caller: Caller, *, count: int = 1) -> list[Job]: ...

    async def cancel_task(self, task_id: str, caller: Caller) -> str: ...


@dataclass(eq=False)
class ShotRun:
    """A chain of segments being made in the background: its jobs as they start, and the shot at the end."""

    shot_id: int
    jobs: list[Job] = field(default_factory=list)
    #: Set by `Shots.cancel`: the chain ends after the segment being made, which is cancelled.
    stopping: bool = False
    task: asyncio.Future[ShotRecord] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def current(self) -> Job | None:
        """The job of the segment being made, if one is."""
        return self.jobs[-1] if self.jobs and not self.jobs[-1].finished else None

    @property
    def finished(self) -> bool:
        return self.task is not None and self.task.done()

    def add(self, job: Job) -> None:
        self.jobs.append(job)
        self._changed.set()

    async def stop(self) -> str:
        """End the chain where it is: the segment being made is cancelled, what was made is kept."""
        self.stopping = True
        current = self.current
        return await current.cancel() if current is not None else "Stopped after this segment."

    async def segment_jobs(self) -> AsyncIterator[Job]:
        """Each segment's job as it starts (those started already first); ends with the chain."""
        assert self.task is not None
        seen = 0
        while True:
            while seen < len(self.jobs):
                yield self.jobs[seen]
                seen += 1
            if self.task.done():
                return
            self._changed.clear()
            waiter = asyncio.ensure_future(self._changed.wait())
            await asyncio.wait({waiter, self.task}, return_when=asyncio.FIRST_COMPLETED)  # type: ignore[type-var]
            waiter.cancel()

    async def wait(self) -> ShotRecord:
        """The shot once the chain has ended (made, stopped or failed: its state says which)."""
        assert self.task is not None
        return await asyncio.shield(self.task)


class Shots:
    """The shots of one playground: extend, cancel, and resume their chains."""

    def __init__(self, playground: Playground) -> None:
        self.playground = playground
        self.store = ShotStore(playground.journal)
        self.runs: dict[int, ShotRun] = {}
        #: The keys (fingerprints) of the shots left extending by an earlier process, once read.
        self._paused: set[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def _frames_dir(self) -> Path:
        return self.playground.settings.data_dir / "frames"

    # -- finding -------------------------------------------------------------------------

    def resolve(self, ref: str, caller: Caller) -> tuple[ShotRecord | None, TaskRecord]:
        """The shot `ref` names (`shot-<id>`, or a task id of one of its segments) and its latest
        segment's row; for a task in no shot, (None, its row).
        """
        journal, wanted = self.playground.journal, ref.strip()
        shot = None
        if wanted.startswith("shot-") and wanted[5:].isdigit():
            shot = self.store.get(int(wanted[5:]))
            record = journal.get(shot.row_ids[0]) if shot else None
        else:
            record = journal.by_task_id(wanted)
            shot = self.store.of_row(record.row_id) if record else None
        if record is None or not self.playground.owns(caller, record):
            raise TaskNotFound("There is no task or shot with this id in your history.", task_id=wanted)
        if shot is not None:
            latest = journal.get(shot.row_ids[-1])
            assert latest is not None
            return shot, latest
        return None, record

    def video_of(self, ref: str, caller: Caller) -> Path:
        """The saved MP4 a task id or a shot's name stands for (a shot's joined video, else its first)."""
        if ref.strip().startswith("shot-"):
            shot, _ = self.resolve(ref, caller)
            if shot is not None and shot.video_path:
                return Path(shot.video_path)
            record = self.segments(shot)[0] if shot else None
        else:
            record = self.playground.journal.by_task_id(ref.strip())
            if record is None or not self.playground.owns(caller, record):
                raise TaskNotFound("There is no task or shot with this id in your history.", task_id=ref)
        if record is None or not record.video_path:
            raise InvalidRequest("This task has no saved video yet.", task_id=ref)
        return Path(record.video_path)

    def shot_of(self, record: TaskRecord) -> ShotRecord | None:
        """The shot a task is a segment of, if any."""
        return self.store.of_row(record.row_id)

    def segments(self, shot: ShotRecord) -> list[TaskRecord]:
        """The journal rows of a shot's segments, in order."""
        rows = (self.playground.journal.get(row_id) for row_id in shot.row_ids)
        return [row for row in rows if row is not None]

    def live(self, shot: ShotRecord) -> bool:
        """True when a chain of this process is making the shot's next segment."""
        run = self.runs.get(shot.shot_id)
        return shot.state == ShotState.EXTENDING and run is not None and not run.finished

    def needs_key(self, shot: ShotRecord) -> bool:
        """True for a shot an earlier process left extending with a visitor's own key.

        The key is never stored, so the chain waits for that key to come back (see `wake`).
        """
        if shot.state != ShotState.EXTENDING or self.live(shot):
            return False
        _, key = self.playground.backend_for(None)
        return key is None or shot.key_fingerprint != key.fingerprint

    # -- extending -----------------------------------------------------------------------

    async def extend(
        self,
        ref: str,
        prompt: str,
        duration: int | str,
        caller: Caller,
        *,
        times: int = 1,
        model: str = MODEL_ID,
    ) -> ShotRun:
        """Continue a finished video (or shot) by `times` segments of `duration` s from its last frame.

        The segments are made in `model` (Ray 2 by default, Ray 2 Flash for a cheap draft).

        Raises before anything is spent when the video, the request or the limits refuse it; then
        returns the chain at once (its first segment started), which goes on in the background.
        """
        self._loop = asyncio.get_running_loop()
        shot, latest = self.resolve(ref, caller)
        if shot is not None and shot.state == ShotState.EXTENDING:
            raise ShotBusy()
        count = len(shot.segments) if shot else 1
        if times < 1 or count + times > MAX_SEGMENTS:
            raise InvalidRequest(
                f"A shot has at most {MAX_SEGMENTS} segments; this one has {count}.", field="times"
            )
        frame = await self._last_frame(latest)
        try:
            request = GenerationRequest.create(
                frame, prompt, size=latest.size, duration=duration, model=model
            )
            shot_id = await self._claim(shot, latest, caller, count + times, request)
        except LumaPlaygroundError:
            frame.path.unlink(missing_ok=True)  # no segment starts from it
            raise
        try:
            job = await self._start_segment(shot_id, count, request, caller)
        except BaseException as error:
            message = error.message if isinstance(error, LumaPlaygroundError) else None
            await self.store.change(shot_id, state=ShotState.STOPPED, planned=count, error=message)
            raise
        run = self._new_run(shot_id)
        run.add(job)
        run.task = asyncio.ensure_future(self._chain(run, job, caller))
        return run

    async def _claim(
        self,
        shot: ShotRecord | None,
        latest: TaskRecord,
        caller: Caller,
        planned: int,
        request: GenerationRequest,
    ) -> int:
        """Take the shot (a new one for a video in none) for this call: `ShotBusy` when another has it.

        Calls made at once on one shot all get this far; the store lets one through, and the
        others leave before any paid call, changing nothing of the winner's shot.
        """
        prompt, duration, model = request.prompt, request.duration, request.model
        if shot is not None:
            count = len(shot.segments)
            await self.store.claim(
                shot.shot_id, count=count, planned=planned, prompt=prompt, duration=duration, model=model
            )
            return shot.shot_id
        _, key = self.playground.backend_for(caller.user_key)
        return await self.store.create(
            latest.row_id,
            owner=caller.owner,
            key_fingerprint=key.fingerprint if key else "",
            planned=planned,
            prompt=prompt,
            duration=duration,
            model=model,
        )

    def _new_run(self, shot_id: int) -> ShotRun:
        run = ShotRun(shot_id)
        self.runs[shot_id] = run
        return run

    async def _last_frame(self, latest: TaskRecord) -> Picture:
        """The last frame of a finished segment as a PNG, a new file for each continuation."""
        video = Path(latest.video_path or "")
        if latest.state != TaskState.COMPLETED or not latest.video_path or not video.is_file():
            raise InvalidRequest("Only a finished video on disk can be extended.", task_id=latest.task_id)
        self._frames_dir.mkdir(parents=True, exist_ok=True)
        # A name of its own per attempt: the picture identifies its segment's task after a crash.
        dest = self._frames_dir / f"{latest.task_id}-next-{uuid.uuid4().hex[:8]}.png"
        frame = await read_video(video, last_frame, video, dest, task_id=latest.task_id)
        return Picture.made_here(frame, self._frames_dir)

    async def _start_segment(
        self, shot_id: int, position: int, request: GenerationRequest, caller: Caller
    ) -> Job:
        """Record the segment, then start its task through the one start path."""
        await self.store.add_segment(shot_id, position, request.image)
        try:
            [job] = await self.playground.start(request, caller)
        except BaseException:
            await self.store.drop_segment(shot_id, position)
            raise
        return job

    async def _next_segment(self, shot: ShotRecord, caller: Caller) -> Job:
        latest = self.segments(shot)[-1]
        frame = await self._last_frame(latest)
        request = GenerationRequest.create(
            frame, shot.prompt, size=latest.size, duration=shot.duration, model=shot.model
        )
        return await self._start_segment(shot.shot_id, len(shot.segments), request, caller)

    async def _chain(self, run: ShotRun, job: Job | None, caller: Caller) -> ShotRecord:
        """Follow each segment to its end, join the shot after each, and start the next until done."""
        shot_id = run.shot_id
        try:
            while True:
                if job is not None:
                    failure = await self._segment_outcome(shot_id, job)
                    if failure is not None:
                        return await self._stop(shot_id, failure)
                shot = await self._join(shot_id)
                if run.stopping or len(shot.segments) >= shot.planned:
                    state = ShotState.STOPPED if run.stopping else ShotState.READY
                    return await self._end(shot_id, state=state, planned=len(shot.segments))
                job = await self._next_segment(shot, caller)
                run.add(job)
                if run.stopping:  # stopped while the segment was being started
                    await job.cancel()
        except LumaPlaygroundError as error:
            return await self._stop(shot_id, error.message)
        except UNREADABLE as error:  # a clip PyAV cannot read (its words name the path)
            logger.warning("shot %d stopped: %s", shot_id, error)
            return await self._stop(shot_id, "The shot could not be joined: one of its clips cannot be read.")
        except OSError as error:  # a full disk
            logger.warning("shot %d stopped: %s", shot_id, error)
            return await self._stop(
                shot_id, "The shot could not be joined: the server could not write its file."
            )

    async def _segment_outcome(self, shot_id: int, job: Job) -> str | None:
        """Wait for a segment's job, linking its row as soon as it is written; what stopped it, if anything.

        A job stopped by the process shutting down (not cancelled by anyone) ends the chain with
        the shot still extending, so that the next start resumes it.
        """
        shot = self.store.get(shot_id)
        assert shot is not None
        position = shot.segments[-1].position
        if job.row_id is None:
            events = job.events()
            try:
                async for _ in events:
                    if job.row_id is not None:
                        break
            finally:
                await events.aclose()  # type: ignore[attr-defined]
        if job.row_id is not None:
            await self.store.link(shot_id, position, job.row_id)
        try:
            await job.wait()
        except LumaPlaygroundError as error:
            await self.store.drop_segment(shot_id, position)
            return error.message
        except asyncio.CancelledError:
            if not job.cancelled:
                raise
            await self.store.drop_segment(shot_id, position)
            return job.cancel_note or "Cancelled."
        return None

    async def _join(self, shot_id: int) -> ShotRecord:
        """Join every finished segment into the shot's MP4 (with the settings of each inside)."""
        shot = self.store.get(shot_id)
        assert shot is not None
        records = self.segments(shot)
        if len(records) < 2:
            return shot
        settings = self.playground.settings
        dest = settings.outputs_dir / f"{unguessable(settings.data_dir, shot.name)}.mp4"
        videos = [Path(record.video_path or "") for record in records]
        metadata = shot_settings(shot, records)
        await asyncio.to_thread(join_segments, videos, dest, metadata=metadata)
        await self.store.change(shot_id, video_path=str(dest))
        joined = self.store.get(shot_id)
        assert joined is not None
        return joined

    async def _stop(self, shot_id: int, reason: str) -> ShotRecord:
        """End the chain with what was made: the shot keeps its finished segments."""
        shot = self.store.get(shot_id)
        assert shot is not None
        return await self._end(shot_id, state=ShotState.STOPPED, planned=len(shot.segments), error=reason)

    async def _end(self, shot_id: int, **fields: object) -> ShotRecord:
        await self.store.change(shot_id, **fields)
        shot = self.store.get(shot_id)
        assert shot is not None
        return shot

    # -- cancelling and resuming -----------------------------------------------------------

    async def cancel(self, ref: str, caller: Caller) -> str:
        """Stop a shot's chain where it is: its segment being made is cancelled, what was made is kept."""
        shot, latest = self.resolve(ref, caller)
        if shot is None or shot.state != ShotState.EXTENDING:
            return "Nothing to cancel: the shot is not being extended."
        run = self.runs.get(shot.shot_id)
        if run is not None and not run.finished:
            note = await run.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await run.wait()
            return note
        note = "Stopped."
        if latest.pending and latest.task_id and latest.row_id != shot.row_ids[0]:
            note = await self.playground.cancel_task(latest.task_id, caller)
        await self._stop(shot.shot_id, note)
        return note

    def resume(self, user_key: ApiKey | None = None) -> list[ShotRun]:
        """Go on with every shot a key left extending (after a crash or a restart): the process's
        own key, or a visitor's own key brought back (`wake`).

        Call it after `Playground.resume_pending`, on the same loop: a segment already followed
        is waited for, not resumed twice.
        """
        self._loop = asyncio.get_running_loop()
        _, key = self.playground.backend_for(user_key)
        runs = []
        for shot in self.store.extending():
            if key is None or shot.key_fingerprint != key.fingerprint or self.live(shot):
                continue
            run = self._new_run(shot.shot_id)
            # A signed-in maker's owner is their login: a deployment that wants one still has it.
            login = shot.owner if shot.owner.startswith(LOGIN_PREFIXES) else None
            caller = Caller(shot.owner, user_key, login=login)
            run.task = asyncio.ensure_future(self._pick_up(run, shot, caller, key))
            runs.append(run)
        if key is not None and self._paused is not None:
            self._paused.discard(key.fingerprint)
        return runs

    def wake(self, user_key: ApiKey) -> None:
        """Resume the shots a visitor's own key left paused, on the first call that brings it back.

        Cheap on every call (the paused keys are read once); callable from a worker thread, in
        which case the chains start on the loop of the server.
        """
        if self._paused is None:
            self._paused = {shot.key_fingerprint for shot in self.store.extending() if not self.live(shot)}
        if user_key.fingerprint not in self._paused:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self.resume, user_key)
            return
        self.resume(user_key)

    async def _pick_up(
        self, run: ShotRun, shot: ShotRecord, caller: Caller, key: ApiKey | None
    ) -> ShotRecord:
        """Go on with a shot from where a crash left it, never sending a segment's submit twice."""
        last = shot.segments[-1]
        row_id = last.row_id or self.store.row_started_from(last.frame)
        if last.position == 0 or row_id is None:
            if last.position:
                # The segment's row was never written, so its submit was never sent: start it anew.
                await self.store.drop_segment(shot.shot_id, last.position)
            return await self._chain(run, None, caller)
        await self.store.link(shot.shot_id, last.position, row_id)
        record = self.playground.journal.get(row_id)
        assert record is not None
        if record.pending:
            job = self._follower(record, key)
            run.add(job)
            return await self._chain(run, job, caller)
        if record.state == TaskState.COMPLETED and record.video_path:
            return await self._chain(run, None, caller)
        await self.store.drop_segment(shot.shot_id, last.position)
        return await self._stop(shot.shot_id, record.error or f"The segment ended as {record.state}.")

    def _follower(self, record: TaskRecord, key: ApiKey | None) -> Job:
        """The job following a pending row: the one `resume_pending` started, else a new one."""
        backend = self.playground.backend_of(record)
        if backend is None:
            raise LumaPlaygroundError(
                "The segment being made ran on an API this process does not reach.", task_id=record.task_id
            )
        for job in backend.runner.jobs.values():
            if job.row_id == record.row_id and not job.finished:
                job_found: Job = job
                return job_found
        resumed: Job = backend.runner.resume(record, api_key=key)
        return resumed

    async def aclose(self) -> None:
        """Stop following the chains of this loop; their shots stay extending for the next `resume`."""
        tasks = [run.task for run in self.runs.values() if run.task is not None and not run.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
