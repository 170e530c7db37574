"""One process's playground: the backends, the journal and the runners, built from Settings."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._client import WaveSpeedClient
from ._config import ApiKey, Settings
from ._errors import LumaPlaygroundError
from ._jobs import Job, Runner
from ._journal import Journal, TaskRecord
from ._pipeline import Pipeline
from ._retry import RetryPolicy

if TYPE_CHECKING:
    from .simulator import SimulatorServer

__all__ = ["SIMULATOR_KEY", "Backend", "Playground"]

logger = logging.getLogger("luma_playground")

#: The key the playground uses with its own offline simulator (any key works there).
SIMULATOR_KEY = "offline-simulator"


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

    @classmethod
    def open(cls, settings: Settings | None = None, *, retry: RetryPolicy | None = None,
             start_simulator: bool | None = None) -> Playground:
        """Open the journal and clients; start the offline simulator when no key is configured."""
        settings = settings or Settings.from_env()
        journal = Journal(settings.journal_path)
        remote = _backend("wavespeed", settings, journal, settings.base_url,
                          settings.api_key, retry)
        playground = cls(settings, journal, remote)
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
            "simulator", self.settings, self.journal, self.simulator.base_url,
            ApiKey(SIMULATOR_KEY), retry, tasks_per_key=1000,
        )

    async def aclose(self) -> None:
        for backend in self.backends:
            await backend.client.aclose()
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

    def start(self, request: object, *, user_key: ApiKey | None, owner: str) -> Job:
        """Start a generation on the right backend."""
        backend, key = self.backend_for(user_key)
        return backend.runner.start(request, api_key=key, owner=owner)  # type: ignore[arg-type]

    def resume_pending(self, user_key: ApiKey | None = None) -> list[Job]:
        """Finish, in the background, every pending task this process has a key for."""
        jobs: list[Job] = []
        backend, key = self.backend_for(user_key)
        if key is None:
            return jobs
        for record in self.journal.pending(key.fingerprint):
            if record.backend != backend.name:
                continue
            if record.base_url != backend.client.base_url:
                self._forget_if_simulated(record)
                continue
            if any(job.row_id == record.row_id for job in backend.runner.jobs.values()):
                continue
            jobs.append(backend.runner.resume(record, api_key=key))
        return jobs

    def _forget_if_simulated(self, record: TaskRecord) -> None:
        if record.backend == "simulator":
            self.journal.update(
                record.row_id, "lost",
                detail="the offline simulator that ran this task has stopped",
                error="The offline simulator that ran this task has stopped.",
            )


def _backend(name: str, settings: Settings, journal: Journal, base_url: str,
             key: ApiKey | None, retry: RetryPolicy | None, *, tasks_per_key: int | None = None
             ) -> Backend:
    client = WaveSpeedClient(base_url, key, timeouts=settings.timeouts, retry=retry)
    pipeline = Pipeline.create(client, journal, settings.outputs_dir, backend=name,
                               deadline=settings.timeouts.deadline)
    runner = Runner(pipeline, tasks_per_key=tasks_per_key or settings.tasks_per_key)
    return Backend(name, client, pipeline, runner, key)


async def finish_record(playground: Playground, record: TaskRecord,
                        key: ApiKey | None) -> TaskRecord:
    """Resume one row in the foreground (for `resume` and `get`); the updated row."""
    backend = playground.simulator_backend if record.backend == "simulator" else playground.remote
    if backend is None:
        raise LumaPlaygroundError("This task ran on the offline simulator, which is not running.")
    job = backend.runner.resume(record, api_key=key or backend.default_key)
    with contextlib.suppress(LumaPlaygroundError):  # the row says what happened
        await job.wait()
    updated = playground.journal.get(record.row_id)
    assert updated is not None
    return updated
