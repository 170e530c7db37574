"""A small synchronous client for the /_simulator/ routes, for tests and benchmarks."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

CONTROL_TIMEOUT_S = 30.0


class SimulatorControl:
    """Inspect a running simulator, reset it, set accounts and inject faults."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=CONTROL_TIMEOUT_S, trust_env=False)

    def tasks(self) -> list[dict[str, Any]]:
        """Every task the simulator knows, oldest first, as the inspection API reports them."""
        tasks: list[dict[str, Any]] = self._call("GET", "/_simulator/tasks")
        return tasks

    def task(self, task_id: str) -> dict[str, Any]:
        """One task's inspection record."""
        task: dict[str, Any] = self._call("GET", f"/_simulator/tasks/{task_id}")
        return task

    def stats(self) -> dict[str, Any]:
        """Request counters per route and key, tasks by status, render cache counters."""
        stats: dict[str, Any] = self._call("GET", "/_simulator/stats")
        return stats

    def reset(self) -> None:
        """Forget tasks, counters, faults and accounts (renders and uploads stay)."""
        self._call("POST", "/_simulator/reset")

    def add_fault(self, route: str, kind: str, **options: Any) -> dict[str, Any]:
        """Add a fault rule; `count`, `skip` and `key` are options like the kind's own."""
        rule: dict[str, Any] = self._call(
            "POST", "/_simulator/faults", json={"route": route, "kind": kind, **options}
        )
        return rule

    def faults(self) -> list[dict[str, Any]]:
        """The fault rules and how often each was applied."""
        rules: list[dict[str, Any]] = self._call("GET", "/_simulator/faults")
        return rules

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self._call("DELETE", "/_simulator/faults")

    def set_account(self, key: str, *, balance: float | None = None, valid: bool | None = None) -> None:
        """Set a key's balance in USD, or mark it valid or rejected."""
        payload: dict[str, Any] = {"key": key}
        if balance is not None:
            payload["balance"] = balance
        if valid is not None:
            payload["valid"] = valid
        self._call("POST", "/_simulator/accounts", json=payload)

    def set_limits(
        self,
        *,
        submits_per_minute: int | None,
        concurrent_tasks: int | None,
        window_s: float | None = None,
    ) -> dict[str, Any]:
        """Set the per-key tier limits (None: off) and the minute's length, until the next reset."""
        payload = {
            "submits_per_minute": submits_per_minute,
            "concurrent_tasks": concurrent_tasks,
            "window_s": window_s,
        }
        limits: dict[str, Any] = self._call("POST", "/_simulator/limits", json=payload)
        return limits

    def limits(self) -> dict[str, Any]:
        """The limits, and per key fingerprint the most tasks active at once and submits per window."""
        limits: dict[str, Any] = self._call("GET", "/_simulator/limits")
        return limits

    def set_behaviour(self, **switches: Any) -> dict[str, Any]:
        """Change behaviour switches (`history_inputs`, `deleted_as`, `pending_s`, `discount_rate`)
        until the next reset; the switches now."""
        behaviour: dict[str, Any] = self._call("POST", "/_simulator/behaviour", json=switches)
        return behaviour

    def behaviour(self) -> dict[str, Any]:
        """The behaviour switches now."""
        behaviour: dict[str, Any] = self._call("GET", "/_simulator/behaviour")
        return behaviour

    def webhook_secret(self, key: str) -> str:
        """The key's webhook secret, as `GET /api/v3/webhook/secret` gives it."""
        headers = {"Authorization": f"Bearer {key}"}
        secret: str = self._call("GET", "/api/v3/webhook/secret", headers=headers)["secret"]
        return secret

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> SimulatorControl:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.is_error:
            # The body names what was wrong (an unknown fault kind, a missing key).
            raise ValueError(f"{method} {path} -> {response.status_code}: {response.text}")
        return response.json()["data"]
