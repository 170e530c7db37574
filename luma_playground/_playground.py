"""One process's playground: the backends, the journal and the runners, built from Settings.

`Playground.start` is the one way to start work, for every face: it checks the request and its
image, applies the visitor limits, uploads the image once and starts the jobs.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from ._config import ApiKey, Model, Settings, model_of
from ._errors import AuthenticationError, LumaPlaygroundError, TaskNotFound
from ._features.batch import Batches
from ._features.shots import Shots
from ._guard.admission import Gate
from ._guard.limits import Caller, Owned, VisitorLimits
from ._guard.spend import SpendGuard
from ._journal.journal import Journal, TaskRecord
from ._pictures.checks import check_image, in_image_worker
from ._pictures.sources import Picture, picture_from_text
from ._request import GenerationRequest
from ._run.events import Validated
from ._run.jobs import Job, Runner
from ._run.pipeline import Pipeline
from ._run.uploads import UploadCache
from ._wavespeed.client import WaveSpeedClient
from ._wavespeed.pacing import Pacing
from ._wavespeed.retry import RetryPolicy
from ._wavespeed.webhooks import WebhookRegistry

if TYPE_CHECKING:
    from .simulator import SimulatorServer

__all__ = ["SIMULATOR_KEY", "Backend", "Playground"]

logger = logging.getLogger("luma_playground")

#: The key the playground uses with its own offline simulator (any key works there). It is in
#: the public source, so it never makes anyone the owner of anything.
SIMULATOR_KEY = "offline-simulator"
_SIMULATOR_FINGERPRINT = ApiKey(SIMULATOR_KEY).fingerprint


@dataclass
class Backend:
    """Where tasks go: WaveSpeed (or whatever `WAVESPEED_BASE_URL` names), or the simulator."""

    name: str
    client: WaveSpeedClient
    pipeline: Pipeline
    runner: Runner
    default_key: ApiKey | None

    @property
    def simulated(self) -> bool:
        return self.name == "simulator"


@dataclass
class Playground:
    """Everything a face needs; `open` builds it, `aclose` releases it."""

    settings: Settings
    journal: Journal
    remote: Backend
    simulator_backend: Backend | None = None
    simulator: SimulatorServer | None = field(default=None, repr=False)
    #: Completion callbacks, when the app has a public URL; mount `webhook_routes(webhooks)`.
    webhooks: WebhookRegistry | None = field(default=None, repr=False)
    #: Each picture is uploaded once per backend and key, whoever needs its URL.
    uploads: UploadCache = field(default_factory=UploadCache, repr=False)
    limits: VisitorLimits = field(default_factory=VisitorLimits, repr=False)
    #: The daily budget of the server's key on a shared deployment (built from the settings).
    spend: SpendGuard = field(init=False, repr=False)
    #: The jobs started per identity layer (login, address, session), for the running limit.
    _started: dict[str, list[Job]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.spend = SpendGuard(self.journal, self.settings.daily_budget)

    @property
    def gate(self) -> Gate:
        """What lets paid calls on the owner's key through: sign-in, the budget, the limits."""
        return Gate(self.spend, self.limits, self.running_as)

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        retry: RetryPolicy | None = None,
        start_simulator: bool | None = None,
        webhooks: WebhookRegistry | None = None,
    ) -> Playground:
        """Open the journal and clients; start the offline simulator when no key is configured.

        With `settings.public_url` (https) tasks are submitted with a completion callback;
        `webhooks` gives a registry explicitly instead (an http URL for loopback tests).
        """
        settings = settings or Settings.from_env()
        webhooks = webhooks or _webhooks_for(settings)
        journal = Journal(settings.journal_path)
        remote = _backend(
            "wavespeed", settings, journal, settings.base_url, settings.api_key, retry, notifier=webhooks
        )
        playground = cls(settings, journal, remote, webhooks=webhooks)
        if start_simulator is None:
            start_simulator = settings.api_key is None
        if start_simulator:
            playground._start_simulator(retry)
        return playground

    def _start_simulator(self, retry: RetryPolicy | None) -> None:
        from .simulator import SimulatorConfig, SimulatorServer

        scale = float(os.environ.get("LUMA_PLAYGROUND_SIMULATOR_TIME_SCALE", "0.1"))
        self.simulator = SimulatorServer(
            SimulatorConfig(time_scale=scale, output_dir=self.settings.data_dir / "simulator")
        ).start()
        self.simulator_backend = _backend(
            "simulator",
            self.settings,
            self.journal,
            self.simulator.base_url,
            ApiKey(SIMULATOR_KEY),
            retry,
            tasks_per_key=1000,
            notifier=self.webhooks,
            http=self.remote.client.http,  # one connection pool per process
        )

    @functools.cached_property
    def shots(self) -> Shots:
        """The shots: videos extended from their last frame (see `_shots`)."""
        return Shots(self)

    @functools.cached_property
    def batches(self) -> Batches:
        """The batches: many videos run in turn, paced to the key (see `_batch`)."""
        return Batches(self)

    async def aclose(self) -> None:
        """Stop the jobs (their tasks stay pending for `resume`), then close the clients."""
        if "batches" in self.__dict__:
            await self.batches.aclose()
        if "shots" in self.__dict__:
            await self.shots.aclose()
        for backend in self.backends:
            await backend.runner.aclose()
        for backend in self.backends:
            await backend.client.aclose()
        if self.webhooks is not None:
            await self.webhooks.aclose()
        if self.simulator is not None:
            self.simulator.stop()
        self.journal.close()

    @property
    def backends(self) -> list[Backend]:
        return [b for b in (self.remote, self.simulator_backend) if b is not None]

    @property
    def simulated(self) -> bool:
        """True when people without a key of their own get the simulator."""
        return self.remote.default_key is None and self.simulator_backend is not None

    def backend_for(self, user_key: ApiKey | None) -> tuple[Backend, ApiKey | None]:
        """The backend and key for a call: the user's key, else the server's, else the simulator."""
        if user_key is not None:
            return self.remote, user_key
        if self.remote.default_key is not None or self.simulator_backend is None:
            return self.remote, self.remote.default_key
        return self.simulator_backend, self.simulator_backend.default_key

    def pays_owner(self, user_key: ApiKey | None) -> bool:
        """True when a call with this key spends the server's key on a deployment others reach."""
        return self.settings.shared and user_key is None and self.remote.default_key is not None

    def running(self, owner: str) -> list[Job]:
        """The jobs of this owner that are still running, on every backend."""
        return [job for backend in self.backends for job in backend.runner.running(owner)]

    def owns(self, caller: Caller, record: Owned) -> bool:
        """True when the caller may see and act on this row.

        On a private playground its owner sees everything; on a shared one a visitor sees the
        tasks they started and those of a key they gave. An anonymous caller's name is shared
        by strangers, so it is no proof: only a key grants them anything.
        """
        if not self.settings.shared or (record.owner == caller.owner and not caller.anonymous):
            return True
        return self.grants(caller.user_key, record)

    @staticmethod
    def grants(key: ApiKey | None, record: Owned) -> bool:
        """True when a key the visitor gave makes this row theirs: the real key that created it.

        The simulator's key is public and any value works there, so no key grants a row of the
        simulator, and the simulator's key grants nothing anywhere.
        """
        if key is None or record.backend == "simulator" or key.fingerprint == _SIMULATOR_FINGERPRINT:
            return False
        return bool(record.key_fingerprint) and record.key_fingerprint == key.fingerprint

    def may_adopt(self, caller: Caller) -> bool:
        """True when the caller may bring in, by its id, a task this journal does not hold.

        The owner of a private playground may; on a shared one only a visitor's own real key
        fetches a task from WaveSpeed: the server's key, or the simulator's public one, would
        hand any visitor the tasks made with it elsewhere (by the CLI, or another deployment).
        """
        if not self.settings.shared:
            return True
        key = caller.user_key
        return key is not None and key.fingerprint != _SIMULATOR_FINGERPRINT

    def running_as(self, layer: str) -> int:
        """How many jobs an identity layer (or an owner) has running now."""
        started = [job for job in self._started.get(layer, []) if not job.finished]
        self._started[layer] = started
        return len({*started, *self.running(layer)})

    async def cancel_task(self, task_id: str, caller: Caller) -> str:
        """Cancel the caller's task by its id: stop its job, if any, and the task on WaveSpeed."""
        record = self.journal.by_task_id(task_id)
        if record is None or not self.owns(caller, record):
            raise TaskNotFound("There is no task with this id in your history.", task_id=task_id)
        for backend in self.backends:
            for job in list(backend.runner.jobs.values()):
                if job.task_id == task_id and not job.finished:
                    return await job.cancel()
        if not record.pending:
            return f"Nothing to cancel: the task has already ended ({record.state})."
        backend, key = self.runner_for(record, caller.user_key)
        return await backend.runner.cancel_task(task_id, api_key=key)

    async def prepare(self, request: GenerationRequest, *, turn: str = "") -> GenerationRequest:
        """The request with its picture as a checked local file, before anything is paid.

        A URL is fetched by the playground itself (its address checked and pinned) and a data
        URI decoded, so that no unchecked address reaches WaveSpeed; a local file is read only
        when the request carries a `Picture` (a checked way in made it), never from a path's
        text. Then the file is checked.
        """
        picture = await self.prepare_picture(request.picture or request.image, turn=turn)
        return request.with_picture(picture)

    async def prepare_picture(self, image: str | Picture, *, turn: str = "") -> Picture:
        """A picture (a URL, a data URI or a `Picture`) as a checked local file (see `prepare`).

        `turn`: whose turn the check takes in the image workers (the paying key's fingerprint).
        """
        picture = await picture_from_text(image, self.settings.data_dir / "pictures")
        await in_image_worker(check_image, picture.path, turn=turn)
        return picture

    async def start(
        self,
        request: GenerationRequest,
        caller: Caller,
        *,
        count: int = 1,
        model: str | Model | None = None,
        draft: TaskRecord | None = None,
    ) -> list[Job]:
        """Start `count` videos of one request: checked, within the limits, the image uploaded once.

        Raises before anything is spent when the request, its model (`model`, else the request's,
        else Ray 2) or the limits refuse it; otherwise returns the jobs at once (each cancellable
        with `Job.cancel()`), which upload the image (one upload for all), submit and follow their
        tasks in the background. With `draft` (a finished task this request renders again, see
        `_features.drafts`), its upload is the picture, not fetched or sent again, and the rows name it.
        """
        chosen = model_of(request, model)
        _, paying = self.backend_for(caller.user_key)
        if draft is None:
            request = await self.prepare(request, turn=paying.fingerprint if paying else caller.owner)
        reservations = []
        if self.pays_owner(caller.user_key):
            reservations = await self.gate.admit_videos(self.settings, request, caller, count, chosen.id)
        backend, key = self.backend_for(caller.user_key)

        async def upload() -> str:
            if draft is not None and draft.image_url:
                return draft.image_url
            return await self.uploads.url_for(backend.client, key, request.image)

        first = Validated(request)
        start = functools.partial(
            backend.runner.start,
            api_key=key,
            owner=caller.owner,
            model=chosen.id,
            draft_task_id=draft.task_id if draft else None,
        )
        jobs = [start(request, upload=upload, first=first) for _ in range(count)]
        for layer in caller.limited_as:
            self._started.setdefault(layer, []).extend(jobs)
        for job, reservation in zip(jobs, reservations, strict=False):
            job.when_finished(self.spend.settler(reservation))
        return jobs

    def runner_for(self, record: TaskRecord, key: ApiKey | None) -> tuple[Backend, ApiKey | None]:
        """The backend and key that can follow this row, or an error that says why none can."""
        backend = self.backend_of(record)
        if backend is None:
            if record.backend == "simulator":
                raise LumaPlaygroundError(
                    "This task ran on an offline simulator that is not running any more.",
                    task_id=record.task_id,
                )
            raise LumaPlaygroundError(
                f"This task was created on {record.base_url}; set WAVESPEED_BASE_URL to it to follow it.",
                task_id=record.task_id,
            )
        key = key or backend.default_key
        if record.key_fingerprint and (key is None or key.fingerprint != record.key_fingerprint):
            raise AuthenticationError(
                "This task was created with another API key; only that key can follow it.",
                task_id=record.task_id,
            )
        return backend, key

    def backend_of(self, record: TaskRecord) -> Backend | None:
        """The backend that ran this row (same name and base URL), if this process has it."""
        for backend in self.backends:
            if backend.name == record.backend and backend.client.base_url == record.base_url:
                return backend
        return None

    def resumable(self, user_key: ApiKey | None = None) -> list[TaskRecord]:
        """The pending rows this key created on a backend of this process, oldest first.

        Rows of an offline simulator that has stopped since are marked lost on the way.
        """
        backend, key = self.backend_for(user_key)
        if key is None:
            return []
        records = []
        for record in self.journal.pending(key.fingerprint):
            if record.backend != backend.name:
                continue
            if record.base_url != backend.client.base_url:
                self._forget_if_simulated(record)
                continue
            records.append(record)
        return records

    def resume_pending(self, user_key: ApiKey | None = None) -> list[Job]:
        """Finish, in the background, every pending task this key created (see `resumable`).

        Call it on the event loop that serves the faces; a row already being followed is skipped.
        """
        backend, key = self.backend_for(user_key)
        followed = {job.row_id for job in backend.runner.jobs.values()}
        return [
            backend.runner.resume(record, api_key=key)
            for record in self.resumable(user_key)
            if record.row_id not in followed
        ]

    async def resume_at_startup(self) -> list[Job]:
        """At a server's start-up: finish every pending task of the server's key in the background.

        The shots and batches of that key go on too. Await it on the server's event loop
        (`lifespan` does). It never fails the start-up: what cannot be resumed now is logged
        and stays in the journal for the next try.
        """
        try:
            jobs = self.resume_pending()
            self.shots.resume()
            self.batches.resume()
        except Exception:
            logger.exception("resuming the pending tasks failed; they stay in the journal")
            return []
        if jobs:
            logger.info("resuming %d pending task(s)", len(jobs))
        return jobs

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[None]:
        """A web server lifespan that resumes the pending tasks at start-up.

        For Gradio: `demo.launch(app_kwargs={"lifespan": playground.lifespan})`.
        """
        await self.resume_at_startup()
        yield

    def _forget_if_simulated(self, record: TaskRecord) -> None:
        if record.backend == "simulator":
            self.journal.update(
                record.row_id,
                "lost",
                detail="the offline simulator that ran this task has stopped",
                error="The offline simulator that ran this task has stopped.",
            )


def _webhooks_for(settings: Settings) -> WebhookRegistry | None:
    if not settings.public_url:
        return None
    try:
        return WebhookRegistry(settings.public_url)
    except ValueError:
        logger.warning("the public URL is not https, so completion callbacks are off")
        return None


def _backend(
    name: str,
    settings: Settings,
    journal: Journal,
    base_url: str,
    key: ApiKey | None,
    retry: RetryPolicy | None,
    *,
    tasks_per_key: int | None = None,
    notifier: WebhookRegistry | None = None,
    http: httpx.AsyncClient | None = None,
) -> Backend:
    # WaveSpeed is paced to the account's tier; the built-in simulator only to its slots.
    pacing = Pacing(settings.pace_limits) if tasks_per_key is None else None
    client = WaveSpeedClient(base_url, key, timeouts=settings.timeouts, retry=retry, http=http, pacing=pacing)
    pipeline = Pipeline.create(
        client,
        journal,
        settings.outputs_dir,
        backend=name,
        deadline=settings.timeouts.deadline,
        notifier=notifier,
    )
    runner = Runner(pipeline, tasks_per_key=tasks_per_key or settings.tasks_per_key)
    return Backend(name, client, pipeline, runner, key)
