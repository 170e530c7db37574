"""Completion callbacks: WaveSpeed calls the app when a task ends, so that nobody waits on a poll.

When the app has a public address, each submit carries a callback URL of its own
(`/webhooks/wavespeed/<token>`, the token unguessable and valid only while the task runs).
A callback is believed only when its signature is right (HMAC-SHA256 with the account's
webhook secret, over `{webhook-id}.{webhook-timestamp}.{body}`), its timestamp is within
five minutes and its id was not seen before; even then it only wakes the task's poller,
whose next GET is what the pipeline trusts.

The push path has to prove itself: callbacks replace dense polling only for a key (of this
deployment) from which a believed callback has already arrived. Until then its tasks poll
as they would without callbacks, woken early when a callback does come. When a poll finds a
task ended and its callback does not follow within a grace period, the key is distrusted
again (a proxy that drops callbacks, a secret that does not match), and its tasks waiting on
a slow safety poll are woken to poll densely again.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._config import ApiKey
from .._errors import LumaPlaygroundError
from .._request import TERMINAL_STATUSES
from .polling import Wake

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from .client import WaveSpeedClient

__all__ = [
    "CALLBACK_PATH",
    "CallbackTrust",
    "Subscription",
    "WebhookRegistry",
    "WebhookRejected",
    "mount_webhooks",
    "verify_signature",
    "webhook_routes",
]

logger = logging.getLogger("luma_playground")

#: Where callbacks arrive; `{token}` names one submit.
CALLBACK_PATH = "/webhooks/wavespeed/{token}"
#: Answers a GET with this process's id, so the app can check that its public URL reaches it.
PROBE_PATH = "/webhooks/wavespeed"
SECRET_PREFIX = "whsec_"
#: Callbacks whose timestamp is further than this from now are refused (replays).
TOLERANCE_SECONDS = 300
MAX_BODY_BYTES = 256 * 1024
#: How long a fetched signing secret, or the failure to fetch one, is remembered.
SECRET_TTL_SECONDS = 3600.0
SECRET_RETRY_SECONDS = 60.0
#: A submit waits this long at most for the secret or the probe before it falls back to polling.
SECRET_WAIT_SECONDS = 5.0
PROBE_WAIT_SECONDS = 3.0
#: How long the answer of the reachability probe is believed.
PROBE_TTL_SECONDS = 600.0
PROBE_RETRY_SECONDS = 60.0
#: How long after a poll saw a task end its callback may still come before the key is distrusted.
CALLBACK_GRACE_SECONDS = 5.0


class WebhookRejected(Exception):
    """A callback that is not believed; `status` is the HTTP answer it gets."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _signatures(header: str) -> list[bytes]:
    """The digests in a `webhook-signature` header: `v3,<hex>`, space-separated if several."""
    found = []
    for entry in header.split():
        _, _, value = entry.partition(",")
        value = value or entry
        with contextlib.suppress(ValueError):
            found.append(bytes.fromhex(value))
        with contextlib.suppress(ValueError):
            found.append(base64.b64decode(value, validate=True))
    return found


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: float = TOLERANCE_SECONDS,
) -> str:
    """The callback's `webhook-id` if its signature and timestamp are right; else WebhookRejected."""
    webhook_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    signature = headers.get("webhook-signature", "")
    if not (webhook_id and stamp and signature):
        raise WebhookRejected(400, "missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent_at = int(stamp)
    except ValueError:
        raise WebhookRejected(400, "webhook-timestamp is not a Unix time") from None
    now = time.time() if now is None else now
    if abs(now - sent_at) > tolerance:
        raise WebhookRejected(400, "webhook-timestamp is too far from now")
    # The secret is used as text, without its prefix (not base64-decoded).
    key = secret.removeprefix(SECRET_PREFIX).encode()
    expected = hmac.new(key, f"{webhook_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    if not any(hmac.compare_digest(expected, given) for given in _signatures(signature)):
        raise WebhookRejected(401, "bad signature")
    return webhook_id


@dataclass(eq=False, slots=True)
class CallbackTrust:
    """Whether callbacks for one key of this deployment have proven to arrive."""

    trusted: bool = False
    #: Believed callbacks received, and times a poll found a task ended with no callback after it.
    received: int = 0
    missed: int = 0


@dataclass(eq=False, slots=True)
class Subscription:
    """One submit's callback: its URL, and the event that wakes its poller when the callback comes."""

    token: str
    callback_url: str
    wake: Wake = field(repr=False)
    secret: str = field(repr=False)
    loop: asyncio.AbstractEventLoop = field(repr=False)
    #: How often the task is still polled while no callback has come.
    safety_interval: float = 30.0
    task_id: str | None = None
    #: True once a believed callback said the task ended.
    arrived: bool = False
    #: Shared by the subscriptions of one key: until trusted, the task polls as without callbacks.
    trust: CallbackTrust = field(default_factory=CallbackTrust)
    #: True once a poll saw the task end before any callback for it.
    polled_first: bool = False

    def notify(self) -> None:
        """Wake the poller, from whichever thread and loop the callback was served on."""
        self.arrived = True
        self.rouse()

    def rouse(self) -> None:
        """Cut the poller's current wait short (its schedule then decides again)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.wake.set()
        else:
            with contextlib.suppress(RuntimeError):  # the task's loop has ended
                self.loop.call_soon_threadsafe(self.wake.set)


class WebhookRegistry:
    """The callbacks this process waits for; the pipeline's `CompletionNotifier`.

    `public_url` is where WaveSpeed reaches the app; it must be https unless `allow_http`
    is given (loopback tests and benchmarks). Until the routes are mounted on the app that
    serves that URL, and a probe through that URL reaches this process, `open` gives None
    and tasks are polled as usual.
    """

    def __init__(
        self, public_url: str, *, allow_http: bool = False, probe: bool = True, safety_interval: float = 30.0
    ) -> None:
        parts = urlsplit(public_url.strip())
        if parts.scheme not in (("https", "http") if allow_http else ("https",)) or not parts.netloc:
            raise ValueError(f"webhooks need a public https URL, not {public_url!r}")
        self.public_url = public_url.strip().rstrip("/")
        self.instance = secrets.token_hex(8)
        self.safety_interval = safety_interval
        self.callback_grace = CALLBACK_GRACE_SECONDS
        self.mounted = False
        self._probe = probe
        self._reachable: tuple[bool, float] | None = None
        self._subscriptions: dict[str, Subscription] = {}
        self._secrets: dict[tuple[str, str], tuple[str | None, float]] = {}
        self._seen: dict[str, float] = {}
        self._trust: dict[tuple[str, str], CallbackTrust] = {}
        self._http: Any = None
        # One secret fetch or probe at a time: a crowd of submits waits for the first answer.
        self._lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"WebhookRegistry({self.public_url!r}, open={len(self._subscriptions)})"

    @property
    def open_count(self) -> int:
        return sum(not s.polled_first for s in self._subscriptions.values())

    def trust_of(self, client: WaveSpeedClient, api_key: ApiKey) -> CallbackTrust:
        """Whether callbacks for this key, on this API, have proven to reach this deployment."""
        return self._trust.setdefault((client.base_url, api_key.fingerprint), CallbackTrust())

    # -- the pipeline's side ------------------------------------------------------------------

    async def open(self, client: WaveSpeedClient, api_key: ApiKey | None) -> Subscription | None:
        """A callback URL for one submit, or None when callbacks cannot reach this process now."""
        if not self.mounted or api_key is None:
            return None
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            secret = await self._secret(client, api_key)
            if secret is None or not await self.reachable():
                return None
        token = secrets.token_urlsafe(32)
        subscription = Subscription(
            token=token,
            callback_url=f"{self.public_url}{CALLBACK_PATH.format(token=token)}",
            wake=Wake(),
            secret=secret,
            loop=asyncio.get_running_loop(),
            safety_interval=self.safety_interval,
            trust=self.trust_of(client, api_key),
        )
        self._subscriptions[token] = subscription
        return subscription

    def bind(self, token: str, task_id: str) -> None:
        """Tie the token to the task the submit created; callbacks for other tasks are refused."""
        subscription = self._subscriptions.get(token)
        if subscription is not None:
            subscription.task_id = task_id

    def missed(self, token: str) -> None:
        """A poll saw the task end before its callback: the callback has a grace period to come."""
        subscription = self._subscriptions.get(token)
        if subscription is not None and not subscription.arrived:
            subscription.polled_first = True

    def close(self, token: str) -> None:
        """Forget the token: later callbacks to it are refused (after the grace, if one runs)."""
        subscription = self._subscriptions.get(token)
        if subscription is None:
            return
        if subscription.polled_first and not subscription.arrived:
            subscription.loop.call_later(self.callback_grace, self._judge, token)
        else:
            del self._subscriptions[token]

    def _judge(self, token: str) -> None:
        subscription = self._subscriptions.pop(token, None)
        if subscription is None or subscription.arrived:
            return
        trust = subscription.trust
        trust.missed += 1
        if trust.trusted:
            trust.trusted = False
            logger.warning("a completion callback did not arrive: polling densely again")
            # Tasks sleeping until a slow safety poll go back to polling as without callbacks.
            for other in self._subscriptions.values():
                if other.trust is trust and not other.arrived:
                    other.rouse()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _secret(self, client: WaveSpeedClient, api_key: ApiKey) -> str | None:
        cache_key = (client.base_url, api_key.fingerprint)
        cached = self._secrets.get(cache_key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        try:
            secret: str | None = await asyncio.wait_for(
                client.webhook_secret(api_key=api_key), SECRET_WAIT_SECONDS
            )
            ttl = SECRET_TTL_SECONDS
        except (LumaPlaygroundError, TimeoutError) as error:
            reason = error.message if isinstance(error, LumaPlaygroundError) else "no answer"
            logger.warning("no webhook secret, polling instead: %s", reason)
            secret, ttl = None, SECRET_RETRY_SECONDS
        self._secrets[cache_key] = (secret, time.monotonic() + ttl)
        return secret

    async def reachable(self) -> bool:
        """True when a GET through the public URL reaches this very process."""
        if not self._probe:
            return True
        if self._reachable is not None and self._reachable[1] > time.monotonic():
            return self._reachable[0]
        import httpx

        if self._http is None:
            self._http = httpx.AsyncClient(timeout=PROBE_WAIT_SECONDS, follow_redirects=True)
        try:
            response = await self._http.get(f"{self.public_url}{PROBE_PATH}")
            reached = response.status_code == 200 and response.json().get("instance") == self.instance
        except (httpx.HTTPError, ValueError, AttributeError):
            reached = False
        if not reached:
            logger.warning("webhooks off: %s does not reach this app; polling instead", self.public_url)
        ttl = PROBE_TTL_SECONDS if reached else PROBE_RETRY_SECONDS
        self._reachable = (reached, time.monotonic() + ttl)
        return reached

    # -- the callback's side ------------------------------------------------------------------

    def receive(self, token: str, headers: Mapping[str, str], body: bytes) -> Subscription:
        """Check one callback and wake its task; WebhookRejected says why it is refused."""
        subscription = self._subscriptions.get(token)
        if subscription is None:
            raise WebhookRejected(404, "unknown or finished task")
        webhook_id = verify_signature(subscription.secret, headers, body)
        self._forget_old_ids()
        if webhook_id in self._seen:
            raise WebhookRejected(409, "already received")
        try:
            payload = json.loads(body)
        except ValueError:
            raise WebhookRejected(400, "the body is not JSON") from None
        if not isinstance(payload, dict):
            raise WebhookRejected(400, "the body is not a JSON object")
        task_id, status = payload.get("id"), str(payload.get("status", "")).lower()
        if subscription.task_id is not None and task_id != subscription.task_id:
            raise WebhookRejected(400, "the callback is for another task")
        self._seen[webhook_id] = time.monotonic() + 2 * TOLERANCE_SECONDS
        subscription.trust.received += 1
        subscription.trust.trusted = True
        if status in TERMINAL_STATUSES:
            subscription.notify()
        return subscription

    def _forget_old_ids(self) -> None:
        if len(self._seen) < 1024:
            return
        now = time.monotonic()
        for webhook_id in [i for i, until in self._seen.items() if until < now]:
            del self._seen[webhook_id]


async def _read_body(request: Request) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise WebhookRejected(413, "the body is too large")
    return bytes(body)


def webhook_routes(registry: WebhookRegistry) -> list[BaseRoute]:
    """The callback and probe routes, for `FastAPI(routes=...)` or `launch(app_kwargs=...)`."""
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def callback(request: Request) -> Response:
        try:
            body = await _read_body(request)
            registry.receive(request.path_params["token"], request.headers, body)
        except WebhookRejected as rejected:
            return JSONResponse({"received": False, "reason": rejected.reason}, status_code=rejected.status)
        return JSONResponse({"received": True})

    async def probe(request: Request) -> Response:
        return JSONResponse({"receiver": "luma_playground", "instance": registry.instance})

    registry.mounted = True
    return [
        Route(CALLBACK_PATH, callback, methods=["POST"]),
        Route(PROBE_PATH, probe, methods=["GET"]),
    ]


def mount_webhooks(app: Starlette, registry: WebhookRegistry) -> None:
    """Serve the callback routes on `app` (before its own routes), even after it started."""
    app.router.routes[:0] = webhook_routes(registry)
