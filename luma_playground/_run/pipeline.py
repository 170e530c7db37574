"""The one pipeline every face uses: validate, upload, submit, wait, download.

`Pipeline.generate` is an async generator of events; it raises the typed errors of
`_errors`. The journal row is written before the submit is sent and receives the task id
in the same step that learns it, so no paid task is ever forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .._config import MODEL_ID, ApiKey, model_named, model_of
from .._errors import (
    DeadlineExceeded,
    LumaPlaygroundError,
    NetworkError,
    OutputError,
    OutputExpired,
    RateLimited,
    ServerError,
    SubmitOutcomeUnknown,
    TaskNotFound,
)
from .._features.settings_file import keep_settings
from .._journal.journal import NEVER_SENT, Journal, TaskRecord, TaskState
from .._request import ACTIVE_STATUSES, GenerationRequest, Prediction, PredictionStatus
from .._wavespeed.client import WaveSpeedClient
from .._wavespeed.polling import AdaptiveSchedule, FixedSchedule, PollSchedule, PushedSchedule, TimingHistory
from .._wavespeed.webhooks import Subscription
from .events import Done, Downloading, Event, Processing, Queued, Submitted, Submitting, Uploaded, Uploading
from .failures import CANCELLED_STATUSES, gave_up_following, task_failure
from .lost_submits import HistoryMatch, match_lost_submit
from .timings import learnt_timings

__all__ = ["CompletionNotifier", "Pipeline"]

#: How long a lost submit is looked for in the task history before giving up.
LOST_SUBMIT_SEARCH_SECONDS = 6.0
#: How long after a lost submit its task may still show up in the history (then it is lost).
LOST_SUBMIT_GIVE_UP_SECONDS = 15 * 60.0
#: How soon after submit the first poll goes out.
FIRST_POLL_DELAY = 0.5


class CompletionNotifier(Protocol):
    """Gives a per-task webhook URL and an event set when the callback for it arrives."""

    async def open(self, client: WaveSpeedClient, api_key: ApiKey | None) -> Subscription | None:
        """A new callback URL and wake-up event for one submit; None when callbacks are off."""
        ...

    def bind(self, token: str, task_id: str) -> None:
        """Tie the token to the task id the submit returned."""
        ...

    def missed(self, token: str) -> None:
        """A poll saw the task end before its callback came."""
        ...

    def close(self, token: str) -> None: ...


@dataclass
class Pipeline:
    """What a generation needs: the client, the journal, where videos go, and timing history."""

    client: WaveSpeedClient
    journal: Journal
    outputs_dir: Path
    backend: str = "wavespeed"
    deadline: float = 30 * 60.0
    history: TimingHistory = field(default_factory=TimingHistory)
    notifier: CompletionNotifier | None = None
    adaptive: bool = True
    #: Seeds the poll schedules' jitter: two pipelines with the same seed jitter their i-th
    #: tasks alike (side-by-side comparisons, replays). None: the `random` module's generator.
    jitter_seed: int | None = None
    _scheduled: int = field(default=0, init=False, repr=False)
    #: Held from matching a lost submit to a task until the match is written: rows of one input
    #: looked for at once (a batch's, after a restart) each take a task of their own.
    _claiming: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    @classmethod
    def create(
        cls,
        client: WaveSpeedClient,
        journal: Journal,
        outputs_dir: Path,
        *,
        backend: str = "wavespeed",
        deadline: float = 30 * 60.0,
        notifier: CompletionNotifier | None = None,
        adaptive: bool = True,
        jitter_seed: int | None = None,
    ) -> Pipeline:
        """A pipeline whose poll schedules start from the journal's timings of the same backend."""
        history = learnt_timings(journal, backend, client.base_url)
        return cls(
            client,
            journal,
            outputs_dir,
            backend=backend,
            deadline=deadline,
            history=history,
            notifier=notifier,
            adaptive=adaptive,
            jitter_seed=jitter_seed,
        )

    def _schedule(self, size: str, duration: int, model: str = MODEL_ID) -> PollSchedule:
        """A schedule learnt from the tasks of this model, size and duration."""
        if not self.adaptive:
            return FixedSchedule()
        rng = None
        if self.jitter_seed is not None:
            self._scheduled += 1
            rng = random.Random(f"{self.jitter_seed}/{self._scheduled}")
        return AdaptiveSchedule.for_task(self.history, size, duration, rng, model=model)

    def _poll_schedule(self, record: TaskRecord, callback: Subscription | None) -> tuple[PollSchedule, float]:
        """The task's poll schedule and first wait: callbacks replace polling once they proved to arrive."""
        polled = self._schedule(record.size, record.duration, record.model)
        if callback is None:
            return polled, FIRST_POLL_DELAY
        trust = callback.trust
        schedule = PushedSchedule(
            lambda: callback.arrived, callback.safety_interval, fallback=polled, trusted=lambda: trust.trusted
        )
        return schedule, callback.safety_interval if trust.trusted else FIRST_POLL_DELAY

    async def generate(
        self,
        request: GenerationRequest,
        *,
        api_key: ApiKey | None,
        owner: str = "local",
        image_url: str | None = None,
        model: str | None = None,
    ) -> AsyncIterator[Event]:
        """Run one generation from a checked request to saved video, yielding an event at every step.

        The request is checked before it gets here (`Playground.start` checks the image file
        too). `image_url` is the request's image already uploaded with this key (several videos
        of one image share one upload); without it the image is uploaded here. `model` is the
        model's id (else the request's model, else Ray 2): the row records it, the submit goes to
        its route and the poll schedule learns from its tasks alone.
        """
        model_id = model_named(model).id if model else model_of(request).id
        started = time.monotonic()
        deadline = started + self.deadline
        if image_url is None:
            if not request.image_is_url:
                yield Uploading(request.image_path.stat().st_size)
            image_url = await self.client.upload_image(request.image, api_key=api_key)
            yield Uploaded(image_url)
        fingerprint = api_key.fingerprint if api_key else ""
        row_id = await self.journal.abegin(
            model=model_id,
            backend=self.backend,
            base_url=self.client.base_url,
            owner=owner,
            key_fingerprint=fingerprint,
            prompt=request.prompt,
            size=request.size.value,
            duration=request.duration,
            image=request.image,
            image_url=image_url,
        )
        yield Submitting(row_id)
        notifier = self.notifier
        callback = await notifier.open(self.client, api_key) if notifier else None
        try:
            task_id, found = await self._submit(
                row_id, request, image_url, api_key, callback.callback_url if callback else None, model_id
            )
            if notifier and callback:
                notifier.bind(callback.token, task_id)
            yield Submitted(task_id, recovered=found is not None, match=found.note if found else "")
            record = self.journal.get(row_id)
            assert record is not None
            async for event in self._follow(record, api_key, started, deadline, callback):
                yield event
        finally:
            if notifier and callback:
                notifier.close(callback.token)

    async def _submit(
        self,
        row_id: int,
        request: GenerationRequest,
        image_url: str,
        api_key: ApiKey | None,
        webhook_url: str | None,
        model: str,
    ) -> tuple[str, HistoryMatch | None]:
        """Submit once; when the answer is lost, look for the task instead of resending."""
        sent_at: float | None = None

        async def sending() -> None:
            # On disk before the request leaves: a row without it was never sent (`unsent`).
            nonlocal sent_at
            sent_at = time.time()
            await self.journal.aupdate(row_id, submitted_at=sent_at)

        try:
            prediction = await self.client.submit(
                request, image_url, api_key=api_key, webhook_url=webhook_url, sending=sending, model=model
            )
        except SubmitOutcomeUnknown as error:
            await self.journal.aupdate(row_id, TaskState.UNKNOWN, detail=error.message, error=error.message)
            found = await self.find_lost_submit(row_id, api_key, sent_at or time.time())
            if found is None:
                raise SubmitOutcomeUnknown(
                    f"{error.message} None has appeared yet; the playground looks again at "
                    'start-up, on History\'s "Check for results" and on `luma-playground resume`, '
                    "and finishes it if it shows up."
                ) from error
            return found.task_id, found
        except LumaPlaygroundError as error:
            await self.journal.aupdate(row_id, TaskState.REJECTED, detail=error.message, error=error.message)
            raise
        except BaseException:
            # Cancelled or crashed mid-submit: once sent, the outcome is unknown and resume looks
            # for it; before, nothing was created. Written synchronously: inside a cancel scope
            # every await is cancelled again at once.
            if sent_at is None:
                self.journal.update(row_id, TaskState.LOST, detail="stopped before sending", error=NEVER_SENT)
            else:
                self.journal.update(row_id, TaskState.UNKNOWN, detail="interrupted during submit")
            raise
        if self.journal.by_task_id(prediction.id) is not None:
            # An identical submit sent at once (Variants) lost its answer and took this task for
            # its own: identical tasks are interchangeable, so this row takes that one's task.
            found = await self.find_lost_submit(row_id, api_key, sent_at or time.time())
            if found is None:
                message = (
                    "An identical generation whose answer was lost took over this task, "
                    "and no other task with this input was found: look in the history."
                )
                await self.journal.aupdate(row_id, TaskState.UNKNOWN, detail=message, error=message)
                raise SubmitOutcomeUnknown(message, task_id=prediction.id)
            return found.task_id, found
        await self.journal.aupdate(row_id, TaskState.CREATED, task_id=prediction.id)
        return prediction.id, None

    async def find_lost_submit(
        self,
        row_id: int,
        api_key: ApiKey | None,
        sent_at: float,
        search_seconds: float = LOST_SUBMIT_SEARCH_SECONDS,
    ) -> HistoryMatch | None:
        """Find the task a lost submit created in the task history, and say how sure that is."""
        record = self.journal.get(row_id)
        assert record is not None
        wanted = {
            "prompt": record.prompt,
            "image": record.image_url,
            "size": record.size,
            "duration": record.duration,
        }
        give_up = time.monotonic() + search_seconds
        while True:
            with contextlib.suppress(LumaPlaygroundError):
                items = await self.client.history(
                    api_key=api_key, created_after=sent_at - 120, model=record.model
                )
                async with self._claiming:
                    found = match_lost_submit(items, wanted, sent_at, self._claimed, record.model)
                    if found is not None:
                        await self.journal.aupdate(
                            row_id, TaskState.CREATED, detail=found.note, task_id=found.task_id, error=None
                        )
                        return found
            if time.monotonic() >= give_up:
                return None
            await asyncio.sleep(1.0)

    def _claimed(self, task_id: str) -> bool:
        return self.journal.by_task_id(task_id) is not None

    async def _follow(
        self,
        record: TaskRecord,
        api_key: ApiKey | None,
        started: float,
        deadline: float,
        callback: Subscription | None = None,
    ) -> AsyncIterator[Event]:
        """Poll a submitted task to its end (woken by its callback, if any), then save its video."""
        assert record.task_id is not None
        task_id, row_id = record.task_id, record.row_id
        state = record.state
        schedule, first_delay = self._poll_schedule(record, callback)
        try:
            prediction: Prediction | None = None
            async for prediction in self.client.poll(
                task_id,
                api_key=api_key,
                schedule=schedule,
                deadline=deadline,
                submitted_at=started,
                first_delay=first_delay,
                wake=callback.wake if callback else None,
            ):
                elapsed = time.monotonic() - started
                if prediction.status != state and prediction.status in ACTIVE_STATUSES:
                    state = TaskState(prediction.status)
                    await self.journal.aupdate(row_id, state)
                if prediction.status == PredictionStatus.PROCESSING:
                    yield Processing(task_id, elapsed, schedule.expected_total())
                elif not prediction.is_terminal:  # created, pending, or a status nobody documents
                    yield Queued(task_id, elapsed)
        except DeadlineExceeded as error:
            await self.journal.aupdate(row_id, detail=error.message, error=error.message)
            raise
        except (NetworkError, RateLimited, ServerError) as error:
            # Retries are spent, but the task exists and is paid for: "try again" would pay twice.
            gave_up = gave_up_following(error, task_id)
            await self.journal.aupdate(row_id, detail=gave_up.message, error=gave_up.message)
            raise gave_up from error
        assert prediction is not None
        if callback is not None and not callback.arrived and self.notifier is not None:
            self.notifier.missed(callback.token)
        async for event in self._finish(row_id, prediction, started):
            yield event

    def poll_schedule(self, record: TaskRecord) -> PollSchedule:
        """The poll schedule of a task like this row's (its model, size and duration)."""
        return self._schedule(record.size, record.duration, record.model)

    def save_video(self, row_id: int, prediction: Prediction, started: float) -> AsyncIterator[Event]:
        """Record a completed task and download its video (a task followed by other means)."""
        return self._finish(row_id, prediction, started)

    async def _finish(self, row_id: int, prediction: Prediction, started: float) -> AsyncIterator[Event]:
        """Record a terminal prediction; download the video of a completed one."""
        if prediction.status != PredictionStatus.COMPLETED or not prediction.output_url:
            failure = task_failure(prediction)
            state = TaskState.CANCELLED if prediction.status in CANCELLED_STATUSES else TaskState.FAILED
            await self.journal.aupdate(
                row_id, state, detail=failure.message, error=failure.message, error_code=failure.code
            )
            raise failure
        record = self.journal.get(row_id)
        assert record is not None
        await self.journal.aupdate(
            row_id,
            TaskState.COMPLETED,
            output_url=prediction.output_url,
            inference_ms=prediction.inference_ms,
            nsfw=prediction.nsfw,
            error=None,
        )
        if prediction.inference_ms:
            self.history.record(record.size, record.duration, prediction.inference_ms / 1000, record.model)
        task_id = prediction.id
        progress: asyncio.Queue[Downloading] = asyncio.Queue()
        yield Downloading(task_id, 0, None)
        download = asyncio.ensure_future(
            self.client.download(
                prediction.output_url,
                self.outputs_dir / f"{task_id}.mp4",
                task_id=task_id,
                on_progress=lambda got, total: progress.put_nowait(Downloading(task_id, got, total)),
                key_fingerprint=record.key_fingerprint,
            )
        )
        try:
            async for event in _drain(progress, download):
                yield event
            path = download.result()
        except OutputExpired as error:
            await self.journal.aupdate(row_id, TaskState.EXPIRED, detail=error.message, error=error.message)
            raise
        except OutputError as error:
            # The download's own retries are spent; the paid video waits on WaveSpeed for 7 days.
            kept = OutputError(
                f"{error.message.removesuffix(f' (task {task_id})')} The task is complete and "
                "kept: fetch its video later by its id (History, or `resume`) within 7 days.",
                task_id=task_id,
            )
            await self.journal.aupdate(row_id, detail=kept.message, error=kept.message)
            raise kept from error
        finally:
            download.cancel()
        await keep_settings(path, record, task_id)
        await self.journal.aupdate(row_id, video_path=str(path))
        yield Done(task_id, path, prediction, time.monotonic() - started)

    async def check(self, record: TaskRecord, *, api_key: ApiKey | None) -> AsyncIterator[Event]:
        """Look at a submitted task once: record its state; save its video if it is complete."""
        assert record.task_id is not None
        started = time.monotonic()
        try:
            prediction = await self.client.get(record.task_id, api_key=api_key)
        except TaskNotFound as error:
            await self.journal.aupdate(
                record.row_id, TaskState.EXPIRED, detail=error.message, error=error.message
            )
            raise
        if prediction.is_terminal:
            async for event in self._finish(record.row_id, prediction, started):
                yield event
            return
        if prediction.status != record.state and prediction.status in ACTIVE_STATUSES:
            await self.journal.aupdate(record.row_id, TaskState(prediction.status))
        if prediction.status == PredictionStatus.PROCESSING:
            yield Processing(record.task_id, 0.0)
        else:
            yield Queued(record.task_id, 0.0)

    async def resume(self, record: TaskRecord, *, api_key: ApiKey | None) -> AsyncIterator[Event]:
        """Finish a journal row left pending by a crash, a closed tab or a timeout."""
        try:
            async for event in self._resume(record, api_key):
                yield event
        except TaskNotFound as error:
            await self.journal.aupdate(
                record.row_id, TaskState.EXPIRED, detail=error.message, error=error.message
            )
            raise

    async def _resume(self, record: TaskRecord, api_key: ApiKey | None) -> AsyncIterator[Event]:
        started = time.monotonic()
        deadline = started + self.deadline
        if record.unsent:
            # The process that would have sent it has gone: nothing was created.
            await self.journal.aupdate(record.row_id, TaskState.LOST, detail="never sent", error=NEVER_SENT)
            raise LumaPlaygroundError(NEVER_SENT)
        found: HistoryMatch | None = None
        if record.task_id is None:
            found = await self.find_lost_submit(
                record.row_id, api_key, record.submitted_at or record.created_at, 0
            )
            if found is None:
                message = "No task with this input has appeared in the WaveSpeed history yet."
                if time.time() - record.created_at > LOST_SUBMIT_GIVE_UP_SECONDS:
                    await self.journal.aupdate(
                        record.row_id,
                        TaskState.LOST,
                        error=message,
                        detail="no task with this input was ever created",
                    )
                else:
                    await self.journal.aupdate(
                        record.row_id, TaskState.UNKNOWN, detail=message, error=message
                    )
                raise SubmitOutcomeUnknown(message)
            record = self.journal.get(record.row_id)  # type: ignore[assignment]
            assert record is not None
        yield Submitted(record.task_id or "", recovered=True, match=found.note if found else "")
        if record.state == TaskState.COMPLETED and record.output_url:
            prediction = await self.client.get(record.task_id or "", api_key=api_key)
            async for event in self._finish(record.row_id, prediction, started):
                yield event
            return
        async for event in self._follow(record, api_key, started, deadline):
            yield event


async def _drain(
    progress: asyncio.Queue[Downloading], download: asyncio.Future[Path]
) -> AsyncIterator[Downloading]:
    """Yield the latest progress while `download` runs (skipping stale updates)."""
    while not download.done():
        waiter: asyncio.Future[Any] = asyncio.ensure_future(progress.get())
        pending: set[asyncio.Future[Any]] = {waiter, download}
        await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():
            waiter.cancel()
            continue
        latest = waiter.result()
        while not progress.empty():
            latest = progress.get_nowait()
        yield latest
