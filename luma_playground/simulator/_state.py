"""What the simulator remembers: accounts, tasks and request counters, all keyed by key fingerprint."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Money is kept in integer micro-dollars so that many small charges add up exactly.
MICROS_PER_USD = 1_000_000

#: `pending` only when the pending phase is switched on (`Behaviour.pending_s`).
ACTIVE_STATUSES = frozenset({"pending", "created", "processing"})
ANONYMOUS = "anonymous"


def key_fingerprint(key: str) -> str:
    """Identify an API key without keeping it: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def to_micros(usd: float) -> int:
    """Convert USD to integer micro-dollars."""
    return round(usd * MICROS_PER_USD)


def to_usd(micros: int) -> float:
    """Convert integer micro-dollars to USD."""
    return micros / MICROS_PER_USD


@dataclass(slots=True)
class Account:
    """A key's simulated account."""

    balance_micros: int
    valid: bool


class Accounts:
    """Balances and validity per key fingerprint; an account is created when its key is first seen."""

    def __init__(self, initial_balance: float, accept_any_key: bool) -> None:
        self._initial_micros = to_micros(initial_balance)
        self._accept_any_key = accept_any_key
        self._accounts: dict[str, Account] = {}

    def get(self, fingerprint: str) -> Account:
        """The account of a key, created with the initial balance on first use."""
        account = self._accounts.get(fingerprint)
        if account is None:
            account = Account(self._initial_micros, valid=self._accept_any_key)
            self._accounts[fingerprint] = account
        return account

    def set(self, fingerprint: str, *, balance: float | None, valid: bool | None) -> Account:
        """Change a key's balance or validity."""
        account = self.get(fingerprint)
        if balance is not None:
            account.balance_micros = to_micros(balance)
        if valid is not None:
            account.valid = valid
        return account

    def charge(self, fingerprint: str, micros: int) -> bool:
        """Take `micros` from the balance unless that would make it negative."""
        account = self.get(fingerprint)
        if account.balance_micros < micros:
            return False
        account.balance_micros -= micros
        return True

    def refund(self, fingerprint: str, micros: int) -> None:
        """Give `micros` back."""
        self.get(fingerprint).balance_micros += micros

    def clear(self) -> None:
        """Forget every account."""
        self._accounts.clear()


@dataclass(slots=True, eq=False)
class Task:
    """One prediction and everything the inspection API reports about it."""

    id: str
    model: str
    key_fingerprint: str
    input: dict[str, Any]
    signature: tuple[Any, ...]
    price_micros: int
    created_at: float
    base_url: str
    webhook_url: str | None = None
    status: str = "created"
    started_at: float | None = None
    completed_at: float | None = None
    ended_at: float | None = None
    first_completed_seen_at: float | None = None
    error: str = ""
    error_code: int | None = None
    text_output: str | None = None
    output_path: Path | None = None
    has_nsfw: bool = False
    base64_output: bool = False
    inference_ms: int = 0
    polls: int = 0
    refunded: bool = False
    cancelled: bool = False
    #: A DELETE arrived and was ignored: the task went on (fault `ignored`).
    cancel_ignored: bool = False
    #: Deleted and no longer known to the API (404), though still inspectable.
    gone: bool = False
    webhook_lost: bool = False
    planned_queue_s: float = 0.0
    planned_inference_s: float = 0.0
    faults: list[str] = field(default_factory=list)
    webhook_deliveries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def active(self) -> bool:
        """Whether the task is still queued or running."""
        return self.status in ACTIVE_STATUSES


class TaskStore:
    """Tasks by id, in creation order."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}

    def add(self, task: Task) -> None:
        """Remember a new task."""
        self._tasks[task.id] = task

    def get(self, task_id: str, fingerprint: str | None = None) -> Task | None:
        """The task with this id, only if `fingerprint` (when given) owns it and it is not gone."""
        task = self._tasks.get(task_id)
        if task is None or (fingerprint is not None and (task.key_fingerprint != fingerprint or task.gone)):
            return None
        return task

    def newest_first(self, fingerprint: str | None = None) -> list[Task]:
        """All tasks, or one key's tasks (those the API still knows), newest first."""
        tasks = reversed(self._tasks.values())
        return [
            task
            for task in tasks
            if fingerprint is None or (fingerprint == task.key_fingerprint and not task.gone)
        ]

    def all(self) -> list[Task]:
        """All tasks, oldest first."""
        return list(self._tasks.values())

    def clear(self) -> None:
        """Forget every task."""
        self._tasks.clear()


class RequestCounters:
    """Requests seen per route and per key, submits per model, and identical submits per key and input."""

    def __init__(self) -> None:
        self.routes: Counter[str] = Counter()
        self.keys: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.models: Counter[str] = Counter()
        self.submits: Counter[tuple[Any, ...]] = Counter()

    def count(self, route: str, fingerprint: str | None, model: str | None = None) -> None:
        """Count one request on `route` (a submit also under the `model` its route names)."""
        self.routes[route] += 1
        self.keys[fingerprint or ANONYMOUS][route] += 1
        if model is not None:
            self.models[model] += 1

    def count_submit(self, fingerprint: str | None, signature: tuple[Any, ...]) -> None:
        """Count one submit request with this input signature."""
        self.submits[(fingerprint, *signature)] += 1

    def submits_of(self, task: Task) -> int:
        """How many submit requests carried this task's key and input."""
        return self.submits[(task.key_fingerprint, *task.signature)]

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON."""
        return {
            "routes": dict(self.routes),
            "keys": {fingerprint: dict(routes) for fingerprint, routes in self.keys.items()},
            "models": dict(self.models),
            "total": sum(self.routes.values()),
        }

    def clear(self) -> None:
        """Reset every counter."""
        self.routes.clear()
        self.keys.clear()
        self.models.clear()
        self.submits.clear()
