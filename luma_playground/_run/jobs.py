"""Generations as background jobs: they finish and save their video even when nobody watches.

A face (the UI, the CLI, the API) starts a job and follows its events; closing the tab stops
the following, not the job. `Job.cancel()` is explicit: it stops the job, asks WaveSpeed to
delete the remote task, follows the task until WaveSpeed says how it ended (a cancel is a
request: a task WaveSpeed finishes anyway is charged, and its video is saved), records that in
the journal, and says what became of it. A job's events end only once that note is known, so a
follower never has to wait for it.
The account's concurrency limit is respected per key: extra jobs wait for a free slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from .._config import MODEL_ID, ApiKey, model_named, model_of
from .._errors import LumaPlaygroundError
from .._journal.journal import TaskRecord, TaskState
from .._request import GenerationRequest
from .._wavespeed.pacing import Pace, PaceLimits, Pacing
from .cancel import CancelEnd, cancel_note, follow_cancelled
from .events import Done, Event, Submitted, Submitting, Uploaded, Uploading, WaitingForSlot
from .pipeline import Pipeline

__all__ = ["Job", "Runner", "cancel_all"]

#: Gives the URL of a job's image once uploaded (shared by the jobs of one start).
ImageUpload = Callable[[], Awaitable[str]]

logger = logging.getLogger("luma_playground")


@dataclass(eq=False)
class Job:
    """One generation running in the background; any number of followers may watch it."""

    owner: str
    request: GenerationRequest | None
    #: The id of the model the task is made with.
    model: str = MODEL_ID
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    task_id: str | None = None
    row_id: int | None = None
    latest: Event | None = None
    #: The draft (a Ray 2 Flash task id) this job renders again in Ray 2, if it is a final.
    draft_task_id: str | None = None
    done: Done | None = None
    error: LumaPlaygroundError | None = None
    cancel_note: str | None = None
    _task: asyncio.Task[None] | None = None
    _work: asyncio.Future[None] | None = None
    _cancelling: bool = False
    _followers: list[asyncio.Queue[Event | None]] = field(default_factory=list)
    _api_key: ApiKey | None = field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        return self._task is not None and self._task.done()

    @property
    def cancelled(self) -> bool:
        """True once the job ended because it was cancelled (`cancel_note` says how).

        WaveSpeed may finish a task despite the cancel: then `done` holds its saved video too.
        """
        return self.finished and self.cancel_note is not None

    async def cancel(self) -> str:
        """Stop the job, cancel its remote task, and say what became of it (kept in `cancel_note`).

        Safe to call any number of times, from any follower: every call gets the same note.
        """
        if self._task is None or self.finished:
            return self.cancel_note or "Nothing to cancel: the generation had already ended."
        if not self._cancelling:
            self._cancelling = True
            if self._work is not None:
                self._work.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(self._task)
        return self.cancel_note or "Nothing to cancel: the generation had already ended."

    def when_finished(self, callback: Callable[[Job], object]) -> None:
        """Call `callback(job)` on the loop once the job has ended, however it ended."""
        assert self._task is not None
        self._task.add_done_callback(lambda _: callback(self))

    def _publish(self, event: Event | None) -> None:
        if event is not None:
            self.latest = event
            if isinstance(event, Submitting):
                self.row_id = event.row_id
            elif isinstance(event, Submitted):
                self.task_id = event.task_id
            elif isinstance(event, Done):
                self.done = event
        for queue in self._followers:
            queue.put_nowait(event)

    async def events(self, tick: float | None = None) -> AsyncIterator[Event | None]:
        """The job's events from now on (the latest one first); None every `tick` s of quiet.

        Ends when the job ends; then `done`, `error` or `cancel_note` tell how.
        """
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._followers.append(queue)
        try:
            if self.latest is not None:
                yield self.latest
            while not self.finished or not queue.empty():
                try:
                    # Not `asyncio.wait_for`: on Python 3.11 it swallows a cancel that lands as the
                    # event arrives, and a follower stopped at shutdown would follow on to the end.
                    async with asyncio.timeout(tick):
                        event = await queue.get()
                except TimeoutError:
                    yield None
                    continue
                if event is None and self.finished:
                    return
                yield event
        finally:
            self._followers.remove(queue)

    async def wait(self) -> Done:
        """The finished video, or the job's error."""
        assert self._task is not None
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(self._task)
        if self.done is not None:
            return self.done
        if self.error is not None:
            raise self.error
        raise asyncio.CancelledError()


class Runner:
    """Starts jobs on a pipeline; limits running tasks per API key to the account's allowance."""

    def __init__(self, pipeline: Pipeline, *, tasks_per_key: int = 3) -> None:
        self.pipeline = pipeline
        self.tasks_per_key = max(1, tasks_per_key)
        # The client's pacing (submits per minute too) when it has one; else slots alone.
        self.pacing = pipeline.client.pacing or Pacing(
            PaceLimits(concurrency=self.tasks_per_key, submits_per_minute=None)
        )
        self._running: dict[str, int] = {}
        self.jobs: dict[str, Job] = {}

    def start(
        self,
        request: GenerationRequest,
        *,
        api_key: ApiKey | None,
        owner: str = "local",
        upload: ImageUpload | None = None,
        first: Event | None = None,
        model: str | None = None,
        draft_task_id: str | None = None,
    ) -> Job:
        """Start a generation in the background and return its job at once.

        `upload` gives the request's image URL, uploaded with `api_key` (several jobs of one start
        share one upload); without it the pipeline uploads the image itself. `first` is the
        event a follower sees before any other (the start path's `Validated`). `model` is the
        model's id, else the request's model, else Ray 2. `draft_task_id` is the draft this job
        finishes: its row names it from before the submit.
        """
        chosen = model_named(model) if model else model_of(request)
        job = Job(owner=owner, request=request, model=chosen.id, latest=first, _api_key=api_key)
        job.draft_task_id = draft_task_id
        return self._launch(job, self._generate(job, upload))

    def resume(self, record: TaskRecord, *, api_key: ApiKey | None) -> Job:
        """Finish a pending journal row in the background: the job following it, or a new one."""
        for job in self.jobs.values():
            if job.row_id == record.row_id and not job.finished:
                return job
        job = Job(
            owner=record.owner,
            request=None,
            model=record.model,
            task_id=record.task_id,
            row_id=record.row_id,
            _api_key=api_key,
        )
        return self._launch(job, self._resume(job, record))

    def _launch(self, job: Job, work: Coroutine[Any, Any, None]) -> Job:
        self.jobs[job.id] = job
        # The work runs as a task of its own, so that `Job.cancel` can stop it while `_run` goes
        # on to cancel the remote task; cancelling `_run` (shutdown) stops both.
        job._work = asyncio.ensure_future(work)
        job._task = asyncio.ensure_future(self._run(job, job._work))
        return job

    async def _run(self, job: Job, work: asyncio.Future[None]) -> None:
        try:
            await work
        except LumaPlaygroundError as error:
            job.error = error
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if job._cancelling and not (current is not None and current.cancelling()):
                job.cancel_note = await self._cancel_remote(job)
        except Exception:  # a bug: keep the server up, say so in the log without the key
            logger.exception("generation %s crashed", job.id)
            job.error = LumaPlaygroundError(
                "Something went wrong inside the playground; the task, if any, is kept in History.",
                task_id=job.task_id,
            )
        finally:
            job._publish(None)
            self.jobs.pop(job.id, None)

    def _slot(self, api_key: ApiKey | None) -> tuple[str, Pace]:
        name = api_key.fingerprint if api_key else ""
        return name, self.pacing.pace(name)

    async def _generate(self, job: Job, upload: ImageUpload | None) -> None:
        assert job.request is not None
        image_url = None
        if upload is not None:
            if not job.request.image_is_url:
                job._publish(Uploading(job.request.image_path.stat().st_size))
            image_url = await upload()
            job._publish(Uploaded(image_url))
        name, slot = self._slot(job._api_key)
        if slot.locked():
            job._publish(WaitingForSlot(self._running.get(name, 0), slot.concurrency))
        async with slot:
            self._running[name] = self._running.get(name, 0) + 1
            try:
                async for event in self.pipeline.generate(
                    job.request, api_key=job._api_key, owner=job.owner, image_url=image_url, model=job.model
                ):
                    if isinstance(event, Submitting) and job.draft_task_id:
                        # Written before the submit goes out: a final names its draft from the start.
                        await self.pipeline.journal.aupdate(event.row_id, draft_task_id=job.draft_task_id)
                    job._publish(event)
            finally:
                self._running[name] -= 1

    async def _resume(self, job: Job, record: TaskRecord) -> None:
        async for event in self.pipeline.resume(record, api_key=job._api_key):
            job._publish(event)

    async def aclose(self) -> None:
        """Stop every job of this event loop without cancelling its remote task.

        Their rows stay pending in the journal, so that the next `resume` finishes them.
        """
        loop = asyncio.get_running_loop()
        tasks = [
            job._task
            for job in self.jobs.values()
            if job._task is not None and not job._task.done() and job._task.get_loop() is loop
        ]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def running(self, owner: str) -> list[Job]:
        return [job for job in self.jobs.values() if job.owner == owner and not job.finished]

    async def _cancel_remote(self, job: Job) -> str:
        if job.task_id is None:
            if job.row_id is None:
                return "Cancelled before anything was submitted: nothing was charged."
            return (
                "Cancelled while the task was being submitted: if WaveSpeed created it, "
                "the playground will find it and save its video (see History)."
            )
        return await self.cancel_task(job.task_id, api_key=job._api_key, publish=job._publish)

    async def cancel_task(
        self,
        task_id: str,
        *,
        api_key: ApiKey | None,
        publish: Callable[[Event], None] = lambda event: None,
    ) -> str:
        """Ask WaveSpeed to delete a task no job of ours is running, follow it to its end, say how it ended.

        A video WaveSpeed makes anyway is saved (its events go to `publish`); a task whose end
        WaveSpeed has not told within the deadline is followed on in the background.
        """
        record = self.pipeline.journal.by_task_id(task_id)
        taken = await self.pipeline.client.cancel(task_id, api_key=api_key)
        if record is None:
            return (
                f"Cancel requested for task {task_id}: WaveSpeed "
                + ("took the request" if taken else "did not confirm it")
                + ", which may not stop it; it is not in this playground's history."
            )
        if record.state == TaskState.COMPLETED and record.video_path:
            return cancel_note(task_id, CancelEnd.FINISHED, taken=taken)
        deadline = time.monotonic() + self.pipeline.deadline
        end = await follow_cancelled(self.pipeline, record, api_key, deadline=deadline, publish=publish)
        if end is CancelEnd.UNSETTLED:
            current = self.pipeline.journal.get(record.row_id)
            if current is not None and current.pending:
                self.resume(current, api_key=api_key)
        return cancel_note(task_id, end, taken=taken)


async def cancel_all(jobs: Iterable[Job]) -> list[str]:
    """Cancel several jobs at once (one, a run's, or a session's); their notes, in order."""
    return list(await asyncio.gather(*(job.cancel() for job in jobs)))
