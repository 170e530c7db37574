"""Following one journal row in the foreground, to its end or for one look (the CLI's `resume` and
`get`, History's "check"): what became of it, and what stopped it."""

from __future__ import annotations

from dataclasses import dataclass

from .._config import ApiKey
from .._errors import LumaPlaygroundError
from .._journal.journal import TaskRecord
from .._playground import Playground

__all__ = ["Outcome", "check_record", "finish_record"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a row followed in the foreground: the row now, and what stopped it."""

    record: TaskRecord
    error: LumaPlaygroundError | None = None


async def finish_record(playground: Playground, record: TaskRecord, key: ApiKey | None) -> Outcome:
    """Follow one row to its end in the foreground (for `resume` and `get --wait`)."""
    backend, key = playground.runner_for(record, key)
    job = backend.runner.resume(record, api_key=key)
    try:
        await job.wait()
    except LumaPlaygroundError as error:
        return _outcome(playground, record, error)
    return _outcome(playground, record)


async def check_record(playground: Playground, record: TaskRecord, key: ApiKey | None) -> Outcome:
    """Look at one row's task once (for `get`): its state now, and its video if complete."""
    backend, key = playground.runner_for(record, key)
    try:
        async for _ in backend.pipeline.check(record, api_key=key):
            pass
    except LumaPlaygroundError as error:
        return _outcome(playground, record, error)
    return _outcome(playground, record)


def _outcome(playground: Playground, record: TaskRecord, error: LumaPlaygroundError | None = None) -> Outcome:
    updated = playground.journal.get(record.row_id)
    assert updated is not None
    return Outcome(updated, error)
