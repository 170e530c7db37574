"""The simulator's own routes under /_simulator/: inspection, reset, accounts and faults.

No key is needed, and every answer is the API's envelope `{"code": 200, "message": "success", "data": ...}`:

- `GET /_simulator/tasks`, `GET /_simulator/tasks/{id}`: inspection records (see `inspect_task`).
- `GET /_simulator/stats`: `{"routes": {route: n}, "keys": {fingerprint: {route: n}}, "models":
  {model: submits}, "total": n, "tasks": {status: n}, "renders": {"rendered": n, "cache_hits": n,
  "in_progress": n}}`.
- `POST /_simulator/reset`: forget tasks, counters, faults and accounts (uploads, renders and webhook
  secrets stay).
- `POST /_simulator/accounts` `{"key": "...", "balance": 0.0, "valid": false}` (or `key_fingerprint`).
- `POST /_simulator/faults` `{route, kind, count=1, skip=0, key=null, ...options}` (see `_faults`),
  `GET /_simulator/faults`, `DELETE /_simulator/faults`.
- `POST /_simulator/limits` `{"submits_per_minute": 5, "concurrent_tasks": 3, "window_s": 60}`
  (null: off; `window_s`, the minute's wall-clock length, is optional; reset
  restores the configured ones), `GET /_simulator/limits`: the limits, the window in seconds and per
  key `{active, peak_active, peak_submits_per_window, submits, rate_limited}` (see `_limits`).
- `POST /_simulator/behaviour` `{"history_inputs": "never", "deleted_as": "gone", "pending_s": 5,
  "discount_rate": 0.2}` (any of them; reset restores the configured ones), `GET /_simulator/behaviour`:
  the answers to what WaveSpeed's docs leave open (see `SimulatorConfig.behaviour`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from .._api import json_body, simulator_of
from .._envelopes import ApiError, success
from .._simulator import Simulator
from .._state import Task, key_fingerprint, to_usd
from .._validation import InvalidInput
from .faults import InvalidFault


def inspect_task(simulator: Simulator, task: Task) -> dict[str, Any]:
    """Everything the simulator knows about a task; instants are Unix seconds."""
    return {
        "id": task.id,
        "model": task.model,
        "key_fingerprint": task.key_fingerprint,
        "status": task.status,
        "input": dict(task.input),
        "submits": simulator.counters.submits_of(task),
        "polls": task.polls,
        "created_at": task.created_at,
        "started_at": task.started_at,
        "completed_at": task.completed_at,
        "ended_at": task.ended_at,
        "first_completed_seen_at": task.first_completed_seen_at,
        "webhook_url": task.webhook_url,
        "webhook_deliveries": list(task.webhook_deliveries),
        "webhook_lost": task.webhook_lost,
        "cancelled": task.cancelled,
        "cancel_ignored": task.cancel_ignored,
        "gone": task.gone,
        "error": task.error,
        "error_code": task.error_code,
        "price": to_usd(task.price_micros),
        "refunded": task.refunded,
        "faults": list(task.faults),
        "planned": {"queue_s": task.planned_queue_s, "inference_s": task.planned_inference_s},
    }


async def list_tasks(request: Request) -> JSONResponse:
    """GET /_simulator/tasks: every task, oldest first."""
    simulator = simulator_of(request)
    return success([inspect_task(simulator, task) for task in simulator.tasks.all()])


async def get_task(request: Request) -> JSONResponse:
    """GET /_simulator/tasks/{id}: one task, whoever owns it."""
    simulator = simulator_of(request)
    task = simulator.tasks.get(request.path_params["task_id"])
    if task is None:
        raise ApiError(404, f"Task not found: {request.path_params['task_id']}")
    return success(inspect_task(simulator, task))


async def stats(request: Request) -> JSONResponse:
    """GET /_simulator/stats: requests per route and per key, tasks by status, render counters."""
    return success(simulator_of(request).stats())


async def reset(request: Request) -> JSONResponse:
    """POST /_simulator/reset: forget tasks, counters, faults and accounts."""
    simulator_of(request).reset()
    return success({"reset": True})


async def set_account(request: Request) -> JSONResponse:
    """POST /_simulator/accounts: set a key's balance or mark it valid or rejected."""
    body = await json_body(request)
    fingerprint = _fingerprint(body)
    balance, valid = body.get("balance"), body.get("valid")
    if balance is not None and (isinstance(balance, bool) or not isinstance(balance, int | float)):
        raise InvalidInput("balance must be a number")
    if valid is not None and not isinstance(valid, bool):
        raise InvalidInput("valid must be a boolean")
    account = simulator_of(request).accounts.set(fingerprint, balance=balance, valid=valid)
    return success(
        {
            "key_fingerprint": fingerprint,
            "balance": to_usd(account.balance_micros),
            "valid": account.valid,
        }
    )


async def add_fault(request: Request) -> JSONResponse:
    """POST /_simulator/faults: add a fault rule."""
    try:
        rule = simulator_of(request).faults.add(await json_body(request))
    except InvalidFault as exc:
        raise InvalidInput(str(exc)) from exc
    return success(rule.to_json())


async def list_faults(request: Request) -> JSONResponse:
    """GET /_simulator/faults: the rules and how often each matched and applied."""
    return success([rule.to_json() for rule in simulator_of(request).faults.rules()])


async def clear_faults(request: Request) -> JSONResponse:
    """DELETE /_simulator/faults: remove every rule."""
    simulator_of(request).faults.clear()
    return success({"cleared": True})


async def set_limits(request: Request) -> JSONResponse:
    """POST /_simulator/limits: set the per-key submit rate and concurrency (null: off)."""
    body = await json_body(request)
    limits = [body.get(name) for name in ("submits_per_minute", "concurrent_tasks")]
    for limit in limits:
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise InvalidInput("submits_per_minute and concurrent_tasks must be positive integers or null")
    window = body.get("window_s")
    if window is not None and (
        isinstance(window, bool) or not isinstance(window, int | float) or window <= 0
    ):
        raise InvalidInput("window_s must be a positive number of seconds or null")
    simulator = simulator_of(request)
    simulator.limits.configure(limits[0], limits[1], window_s=window)
    return success(simulator.limits.snapshot())


async def get_limits(request: Request) -> JSONResponse:
    """GET /_simulator/limits: the limits and what each key did against them."""
    return success(simulator_of(request).limits.snapshot())


async def set_behaviour(request: Request) -> JSONResponse:
    """POST /_simulator/behaviour: change some of the behaviour switches until the next reset."""
    body = await json_body(request)
    simulator = simulator_of(request)
    known = set(simulator.behaviour.to_json())
    if unknown := sorted(set(body) - known):
        raise InvalidInput(f"unknown behaviour switch {unknown[0]}; known: {', '.join(sorted(known))}")
    try:
        simulator.behaviour = dataclasses.replace(simulator.behaviour, **body)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    return success(simulator.behaviour.to_json())


async def get_behaviour(request: Request) -> JSONResponse:
    """GET /_simulator/behaviour: the behaviour switches now."""
    return success(simulator_of(request).behaviour.to_json())


def _fingerprint(body: dict[str, Any]) -> str:
    key, fingerprint = body.get("key"), body.get("key_fingerprint")
    if isinstance(key, str) and key:
        return key_fingerprint(key)
    if isinstance(fingerprint, str) and fingerprint:
        return fingerprint
    raise InvalidInput("key is required")


routes: list[BaseRoute] = [
    Route("/_simulator/tasks", list_tasks, methods=["GET"]),
    Route("/_simulator/tasks/{task_id}", get_task, methods=["GET"]),
    Route("/_simulator/stats", stats, methods=["GET"]),
    Route("/_simulator/reset", reset, methods=["POST"]),
    Route("/_simulator/accounts", set_account, methods=["POST"]),
    Route("/_simulator/faults", add_fault, methods=["POST"]),
    Route("/_simulator/faults", list_faults, methods=["GET"]),
    Route("/_simulator/faults", clear_faults, methods=["DELETE"]),
    Route("/_simulator/limits", set_limits, methods=["POST"]),
    Route("/_simulator/limits", get_limits, methods=["GET"]),
    Route("/_simulator/behaviour", set_behaviour, methods=["POST"]),
    Route("/_simulator/behaviour", get_behaviour, methods=["GET"]),
]
