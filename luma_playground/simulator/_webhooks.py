"""Webhook callbacks, signed the way WaveSpeed signs them, delivered from the simulator's loop."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from ._state import Task
from ._timing import TimingModel

SECRET_PREFIX = "whsec_"

#: Waits before the second and third attempt, in real-world seconds (scaled like every wait).
RETRY_DELAYS_S = (5.0, 30.0)
DELIVERY_TIMEOUT_S = 10.0


def sign_webhook(secret: str, webhook_id: str, timestamp: int | str, body: bytes) -> str:
    """The `webhook-signature` header value: `v3,` and the hex HMAC-SHA256 of id, timestamp and body."""
    # The secret is used as text without its prefix, not base64-decoded.
    key = secret.removeprefix(SECRET_PREFIX).encode()
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v3," + hmac.new(key, signed, hashlib.sha256).hexdigest()


class WebhookSender:
    """Posts a task's final state to its webhook URL, retrying a failed delivery twice."""

    def __init__(self, secret_for: Callable[[str], str], timing: TimingModel) -> None:
        self._secret_for = secret_for
        self._timing = timing
        self._http: httpx.AsyncClient | None = None

    async def deliver(self, task: Task, payload: dict[str, Any]) -> None:
        """Deliver one message; every attempt is recorded on the task."""
        assert task.webhook_url is not None
        body = json.dumps(payload, separators=(",", ":")).encode()
        # Retries of one message keep its id, so that a receiver can drop duplicates.
        webhook_id = f"msg_{uuid.uuid4().hex}"
        secret = self._secret_for(task.key_fingerprint)
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS_S), start=1):
            await asyncio.sleep(self._timing.scaled(delay))
            record = await self._attempt(task.webhook_url, webhook_id, secret, body)
            task.webhook_deliveries.append({"attempt": attempt, **record})
            if record["status"] is not None and 200 <= record["status"] < 300:
                return

    async def _attempt(self, url: str, webhook_id: str, secret: str, body: bytes) -> dict[str, Any]:
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign_webhook(secret, webhook_id, timestamp, body),
        }
        sent_at = time.time()
        try:
            response = await self._client().post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return {"webhook_id": webhook_id, "sent_at": sent_at, "status": None, "error": repr(exc)}
        return {"webhook_id": webhook_id, "sent_at": sent_at, "status": response.status_code, "error": None}

    def _client(self) -> httpx.AsyncClient:
        # Created on first use, so that it belongs to the loop that serves the app.
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=DELIVERY_TIMEOUT_S, trust_env=False)
        return self._http

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None
