"""Task lifecycles scheduled on the event loop: [pending ->] created -> processing -> completed | failed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._envelopes import prediction
from ._limits import AccountLimits
from ._state import Accounts, Task
from ._timing import TaskPlan, TimingModel
from ._webhooks import WebhookSender

FETCH_FAILED = (1402, "Failed to download image from the provided URL.")
EXECUTION_FAILED = (1403, "Task execution failed.")
MODERATED = (1200, "Content moderation: the input was flagged by the safety system.")
INTERNAL_ERROR = (5000, "Internal server error.")
CANCELLED_ERROR = "Task cancelled."


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a task will end, as decided by outcome faults when it was created."""

    failure: tuple[int, str] | None = None
    fail_at_start: bool = False
    nsfw: bool = False
    #: Seconds (before scaling) the task reports `pending` before `created`.
    pending_s: float = 0.0
    #: Wall-clock seconds the task runs instead of its planned (scaled) inference time.
    run_s: float | None = None


class TaskRunner:
    """Drives each task through its states at exact instants, and notifies webhooks."""

    def __init__(
        self, accounts: Accounts, timing: TimingModel, webhooks: WebhookSender, limits: AccountLimits
    ) -> None:
        self._accounts = accounts
        self._limits = limits
        self._timing = timing
        self._webhooks = webhooks
        self._runs: dict[str, asyncio.Task[None]] = {}
        self._done: dict[str, asyncio.Event] = {}
        self._deliveries: set[asyncio.Task[None]] = set()

    def start_video(self, task: Task, plan: TaskPlan, render: Future[Path] | None, outcome: Outcome) -> None:
        """Schedule a video task; `render` is None when its image cannot be fetched."""
        self._start(task, self._run_video(task, plan, render, outcome))

    def start_text(self, task: Task, plan: TaskPlan, text: str) -> None:
        """Schedule a text task (the prompt optimizer)."""
        self._start(task, self._run_text(task, plan, text))

    def finish_now(self, task: Task, plan: TaskPlan, text: str) -> None:
        """Complete a text task at once (sync mode), reporting its planned inference time (scaled)."""
        self._done[task.id] = asyncio.Event()
        task.started_at = task.created_at
        task.inference_ms = self._timing.inference_ms(plan)
        self._complete(task, text_output=text)

    async def wait(self, task: Task, timeout: float | None) -> bool:
        """Wait until the task has ended; False if `timeout` seconds pass first."""
        done = self._done.get(task.id)
        if done is None:
            return not task.active
        try:
            await asyncio.wait_for(done.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def cancel(self, task: Task, status: str = "cancelled") -> bool:
        """Stop a queued or running task, end it with `status` and refund it; False if it had ended."""
        if not task.active:
            return False
        run = self._runs.pop(task.id, None)
        if run is not None:
            run.cancel()
        task.cancelled = True
        self._end(task, status, error=CANCELLED_ERROR)
        self._refund(task)
        return True

    def stop_all(self) -> None:
        """Cancel every scheduled run and pending delivery (reset, shutdown)."""
        for run in [*self._runs.values(), *self._deliveries]:
            run.cancel()
        # Wake anyone waiting in sync mode rather than leave them hanging on a forgotten task.
        for done in self._done.values():
            done.set()
        self._runs.clear()
        self._done.clear()
        self._deliveries.clear()

    def _start(self, task: Task, run: Coroutine[Any, Any, None]) -> None:
        self._done[task.id] = asyncio.Event()
        guarded = self._guarded(task, run)
        scheduled = asyncio.get_running_loop().create_task(guarded, name=f"luma-sim-task-{task.id}")
        self._runs[task.id] = scheduled
        scheduled.add_done_callback(lambda _: self._runs.pop(task.id, None))

    async def _guarded(self, task: Task, run: Coroutine[Any, Any, None]) -> None:
        try:
            await run
        except Exception:
            # A bug in a run must end the task like a server fault would, not leave it running.
            if task.active:
                self._fail(task, INTERNAL_ERROR)
            raise

    async def _run_video(
        self, task: Task, plan: TaskPlan, render: Future[Path] | None, outcome: Outcome
    ) -> None:
        if outcome.pending_s:
            task.status = "pending"
            await self._sleep(outcome.pending_s)
            task.status = "created"
        # Beyond the key's concurrency the task is accepted and waits, still created.
        await self._limits.acquire(task.id, task.key_fingerprint)
        await self._sleep(plan.queue_s)
        self._processing(task)
        if render is None:
            return self._fail(task, FETCH_FAILED)
        if outcome.failure and outcome.fail_at_start:
            return self._fail(task, outcome.failure)
        if outcome.failure:
            await self._sleep(plan.inference_s / 2)
            return self._fail(task, outcome.failure)
        if outcome.run_s is None:
            await self._sleep(plan.inference_s)
        else:
            await asyncio.sleep(outcome.run_s)
        try:
            # Shielded: cancelling this task must not cancel a render other tasks share.
            path = await asyncio.shield(asyncio.wrap_future(render))
        except Exception:
            return self._fail(task, EXECUTION_FAILED)
        task.inference_ms = self._timing.inference_ms(plan)
        self._complete(task, output_path=path, nsfw=outcome.nsfw)

    async def _run_text(self, task: Task, plan: TaskPlan, text: str) -> None:
        await self._sleep(plan.queue_s)
        self._processing(task)
        await self._sleep(plan.inference_s)
        task.inference_ms = self._timing.inference_ms(plan)
        self._complete(task, text_output=text)

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(self._timing.scaled(seconds))

    def _processing(self, task: Task) -> None:
        task.status = "processing"
        task.started_at = time.time()

    def _complete(
        self,
        task: Task,
        *,
        output_path: Path | None = None,
        text_output: str | None = None,
        nsfw: bool = False,
    ) -> None:
        task.output_path, task.text_output, task.has_nsfw = output_path, text_output, nsfw
        self._end(task, "completed")
        task.completed_at = task.ended_at
        self._notify(task)

    def _fail(self, task: Task, failure: tuple[int, str]) -> None:
        code, text = failure
        task.error_code = code
        prefix = f"{code}:"
        self._end(task, "failed", error=text if text.startswith(prefix) else f"{prefix} {text}")
        self._refund(task)
        self._notify(task)

    def _end(self, task: Task, status: str, *, error: str = "") -> None:
        task.status, task.error, task.ended_at = status, error, time.time()
        self._limits.ended(task.id, task.key_fingerprint)
        done = self._done.get(task.id)
        if done is not None:
            done.set()

    def _refund(self, task: Task) -> None:
        # The real service refunds a failed task within hours; the simulator does it at once.
        if not task.refunded:
            self._accounts.refund(task.key_fingerprint, task.price_micros)
            task.refunded = True

    def _notify(self, task: Task) -> None:
        if task.webhook_url is None or task.webhook_lost:
            return
        payload = prediction(task, task.base_url, with_input=True)
        delivery = asyncio.get_running_loop().create_task(self._webhooks.deliver(task, payload))
        self._deliveries.add(delivery)
        delivery.add_done_callback(self._deliveries.discard)
