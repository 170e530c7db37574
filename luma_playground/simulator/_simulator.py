"""The simulated service: accounts, tasks, uploads, renders and faults behind one object."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import secrets
import tempfile
import time
import uuid
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from ._config import SimulatorConfig
from ._envelopes import ApiError
from ._lifecycle import EXECUTION_FAILED, MODERATED, Outcome, TaskRunner
from ._limits import AccountLimits
from ._optimizer import optimize_prompt
from ._render import RenderSpec, motion_from_prompt
from ._render_cache import RenderCache
from ._state import Accounts, RequestCounters, Task, TaskStore, key_fingerprint, to_micros, to_usd
from ._timing import TimingModel
from ._uploads import Upload, UploadStore
from ._validation import FLASH_MODEL, OPTIMIZER_MODEL, VIDEO_MODEL, HistoryQuery, OptimizerInput, VideoInput
from ._webhooks import SECRET_PREFIX, WebhookSender
from .harness.faults import CANCEL_KINDS, OUTCOME_KINDS, FaultBook, FaultRule

#: 0.50 USD per started 5 seconds of Ray 2 video, 0.20 of Ray 2 Flash (their model pages); the
#: optimizer is a flat fee (its model page: 0.001 USD).
VIDEO_PRICE_PER_5S_USD = 0.50
VIDEO_PRICES_PER_5S_USD = {VIDEO_MODEL: VIDEO_PRICE_PER_5S_USD, FLASH_MODEL: 0.20}
OPTIMIZER_PRICE_USD = 0.001

#: In sync mode the gateway gives up after about 90 s (real-world seconds, scaled).
SYNC_TIMEOUT_S = 90.0


def video_price(duration_s: int, model: str = VIDEO_MODEL) -> float:
    """The price of one clip of a video model (Ray 2 unless told), in USD."""
    return VIDEO_PRICES_PER_5S_USD[model] * -(-duration_s // 5)


class Simulator:
    """Everything the routes act on; used only from the event loop that serves the app."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        #: The open questions' answers now (`/_simulator/behaviour` changes them until a reset).
        self.behaviour = config.behaviour
        self._tempdir = (
            None
            if config.output_dir
            else tempfile.TemporaryDirectory(prefix="luma-sim-", ignore_cleanup_errors=True)
        )
        self.root = Path(config.output_dir or self._tempdir.name)  # type: ignore[union-attr]
        self.accounts = Accounts(config.initial_balance, config.accept_any_key)
        self.tasks = TaskStore()
        self.counters = RequestCounters()
        self.faults = FaultBook()
        self.timing = TimingModel(config.seed, config.time_scale)
        self.uploads = UploadStore(self.root / "uploads", config.max_upload_bytes)
        self.renders = RenderCache(config.render_dir or self.root / "renders")
        self.webhooks = WebhookSender(self.webhook_secret, self.timing)
        self.limits = AccountLimits(
            config.time_scale, config.submits_per_minute, config.concurrent_tasks, config.rate_window_s
        )
        self.runner = TaskRunner(self.accounts, self.timing, self.webhooks, self.limits)
        # Secrets derive from a per-process key, so they stay the same across resets.
        self._secret_key = secrets.token_bytes(32)

    def authenticate(self, authorization: str | None) -> str:
        """The fingerprint of the request's Bearer key, or a 401."""
        key = bearer_key(authorization)
        if not key:
            raise ApiError(401, "Invalid authentication: missing API key")
        fingerprint = key_fingerprint(key)
        if not self.accounts.get(fingerprint).valid:
            raise ApiError(401, "Invalid authentication: the API key was rejected")
        return fingerprint

    def webhook_secret(self, fingerprint: str) -> str:
        """The key's webhook signing secret, stable for the life of the process."""
        digest = hmac.new(self._secret_key, fingerprint.encode(), hashlib.sha256).hexdigest()
        return SECRET_PREFIX + digest[:32]

    def balance(self, fingerprint: str) -> float:
        """The key's balance in USD."""
        return to_usd(self.accounts.get(fingerprint).balance_micros)

    def submit_video(
        self, fingerprint: str, video: VideoInput, base_url: str, model: str = VIDEO_MODEL
    ) -> Task:
        """Charge, create and schedule a task of a video model; its render starts right away."""
        # An inline picture is checked before any charge, so a bad one costs nothing.
        source = self._source_image(video)
        price = to_micros(video_price(video.duration, model))
        self.limits.admit(fingerprint)
        task = self._new_task(fingerprint, model, video.as_input(), price, base_url)
        self.limits.started(task.id, fingerprint)
        task.signature = (model, video.prompt, video.image, video.size, video.duration)
        task.webhook_url = video.webhook_url
        task.base64_output = video.enable_base64_output
        outcome = self._outcome(task, self.faults.take_all("submit", fingerprint, OUTCOME_KINDS))
        outcome = dataclasses.replace(outcome, pending_s=self.behaviour.pending_s)
        plan = self.timing.plan_video(video.duration, flash=model == FLASH_MODEL)
        task.planned_queue_s, task.planned_inference_s = plan.queue_s, plan.inference_s
        self.runner.start_video(task, plan, self._render(video, source), outcome)
        return task

    def submit_optimizer(self, fingerprint: str, request: OptimizerInput, base_url: str) -> Task:
        """Charge, create and schedule (or, in sync mode, finish) a prompt optimizer task."""
        price = to_micros(OPTIMIZER_PRICE_USD)
        task = self._new_task(fingerprint, OPTIMIZER_MODEL, request.as_input(), price, base_url)
        text = optimize_prompt(
            request.text, mode=request.mode, style=request.style, image=request.image is not None
        )
        plan = self.timing.plan_optimizer()
        task.planned_queue_s, task.planned_inference_s = plan.queue_s, plan.inference_s
        if request.enable_sync_mode:
            self.runner.finish_now(task, plan, text)
        else:
            self.runner.start_text(task, plan, text)
        return task

    async def wait_sync(self, task: Task) -> bool:
        """Wait for a sync-mode task; False when the simulated gateway would have timed out."""
        if task.planned_queue_s + task.planned_inference_s <= SYNC_TIMEOUT_S:
            return await self.runner.wait(task, None)
        return await self.runner.wait(task, self.timing.scaled(SYNC_TIMEOUT_S))

    def delete(self, task: Task) -> None:
        """A DELETE of one of the key's tasks: stop it unless a fault says it goes on anyway.

        An ended task is left as it is: its outputs stay until the 7-day retention ends.
        """
        if not task.active:
            return
        if self.faults.take("cancel", task.key_fingerprint, CANCEL_KINDS) is not None:
            task.cancel_ignored = True
            return
        deleted_as = self.behaviour.deleted_as
        self.runner.cancel(task, "deleted" if deleted_as == "gone" else deleted_as)
        task.gone = deleted_as == "gone"

    def history_inputs(self, asked: bool) -> bool:
        """Whether history items carry their input, as the behaviour says, for a query that asked."""
        return self.behaviour.history_inputs == "always" or (
            asked and self.behaviour.history_inputs == "asked"
        )

    def history(self, fingerprint: str, query: HistoryQuery) -> tuple[list[Task], int]:
        """One page of the key's tasks matching the query, newest first, and the total count."""
        matching = [t for t in self.tasks.newest_first(fingerprint) if _matches(t, query)]
        start = (query.page - 1) * query.page_size
        return matching[start : start + query.page_size], len(matching)

    def mark_seen(self, task: Task) -> None:
        """Record the first time a client is sent this task as completed."""
        if task.status == "completed" and task.first_completed_seen_at is None:
            task.first_completed_seen_at = time.time()

    def count_request(
        self, route: str, fingerprint: str | None, task_id: str | None, model: str | None = None
    ) -> None:
        """Count a request as it arrives, before any fault answers it (a submit under its `model`)."""
        self.counters.count(route, fingerprint, model)
        if route == "result" and task_id is not None:
            task = self.tasks.get(task_id, fingerprint)
            if task is not None:
                task.polls += 1

    def reset(self) -> None:
        """Forget tasks, counters, faults and accounts; keep uploads, renders and secrets."""
        self.runner.stop_all()
        self.tasks.clear()
        self.counters.clear()
        self.faults.clear()
        self.accounts.clear()
        self.limits.clear()
        self.behaviour = self.config.behaviour

    def stats(self) -> dict[str, Any]:
        """Request counters, task counts by status and render cache counters."""
        by_status: dict[str, int] = {}
        for task in self.tasks.all():
            by_status[task.status] = by_status.get(task.status, 0) + 1
        return {
            **self.counters.snapshot(),
            "tasks": by_status,
            "renders": self.renders.snapshot(),
            "limits": self.limits.snapshot(),
        }

    async def close(self) -> None:
        """Stop runs, close the webhook client and the render pool."""
        self.runner.stop_all()
        await self.webhooks.close()
        self.renders.close()
        # Let cancelled runs unwind before the loop goes away.
        await asyncio.sleep(0)
        if self._tempdir is not None:
            self._tempdir.cleanup()

    def _new_task(
        self, fingerprint: str, model: str, echoed: dict[str, Any], price: int, base_url: str
    ) -> Task:
        if not self.accounts.charge(fingerprint, price):
            raise ApiError(
                402,
                f"Insufficient balance: this task costs {to_usd(price):.3f} USD "
                f"and the balance is {self.balance(fingerprint):.3f} USD",
            )
        task = Task(
            id=uuid.uuid4().hex,
            model=model,
            key_fingerprint=fingerprint,
            input=echoed,
            signature=(),
            price_micros=price,
            created_at=time.time(),
            base_url=base_url,
        )
        self.tasks.add(task)
        return task

    def _source_image(self, video: VideoInput) -> Upload | None:
        """The stored picture a submission renders from; None when the simulator cannot fetch it."""
        if video.image_bytes is not None:
            return self.uploads.save_inline(video.image_bytes)
        return self.uploads.find_by_url(video.image)

    def _render(self, video: VideoInput, upload: Upload | None) -> Future[Path] | None:
        if upload is None:
            return None
        spec = RenderSpec(
            video.width,
            video.height,
            video.duration,
            self.config.render_fps,
            motion_from_prompt(video.prompt),
        )
        return self.renders.render(upload.path, upload.sha256, spec)

    @staticmethod
    def _outcome(task: Task, rules: list[FaultRule]) -> Outcome:
        kinds = {rule.kind: rule for rule in rules}
        task.faults.extend(kinds)
        task.webhook_lost = "webhook_lost" in kinds
        run_s = float(kinds["slow"].options.get("seconds", 120)) if "slow" in kinds else None
        if "moderation" in kinds:
            failure = (1200, kinds["moderation"].options.get("error", MODERATED[1]))
            return Outcome(failure=failure, fail_at_start=True, nsfw="nsfw" in kinds)
        if "task_failed" in kinds:
            options = kinds["task_failed"].options
            code = options.get("error_code", EXECUTION_FAILED[0])
            return Outcome(failure=(code, options.get("error", EXECUTION_FAILED[1])), nsfw="nsfw" in kinds)
        return Outcome(nsfw="nsfw" in kinds, run_s=run_s)


def bearer_key(authorization: str | None) -> str:
    """The key in an `Authorization: Bearer <key>` header, or "" when there is none."""
    if not authorization:
        return ""
    scheme, _, key = authorization.strip().partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


def _matches(task: Task, query: HistoryQuery) -> bool:
    if query.model is not None and task.model != query.model:
        return False
    if query.status is not None and task.status != query.status:
        return False
    if query.created_after is not None and task.created_at < query.created_after:
        return False
    return query.created_before is None or task.created_at <= query.created_before
