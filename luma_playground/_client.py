"""The async WaveSpeedAI client: one connection pool per process, one key per call."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx

from ._config import DEFAULT_BASE_URL, MODEL_ID, ApiKey, Timeouts
from ._errors import (
    AuthenticationError,
    DeadlineExceeded,
    InsufficientBalance,
    InvalidRequest,
    LumaPlaygroundError,
    NetworkError,
    OutputError,
    OutputExpired,
    RateLimited,
    ServerError,
    SubmitOutcomeUnknown,
    TaskNotFound,
)
from ._images import in_image_worker, prepare_image
from ._models import GenerationRequest, Prediction
from ._polling import FixedSchedule, PollSchedule
from ._retry import RetryPolicy
from ._version import __version__

__all__ = ["WaveSpeedClient"]

#: Idle connections kept for reuse, and for how long.
KEEPALIVE_CONNECTIONS = 32
KEEPALIVE_SECONDS = 4.0
#: Largest video we accept: a 10 s 1280x720 H.264 clip is a few MB; this stops a runaway body.
MAX_VIDEO_BYTES = 512 * 1024 * 1024
_MESSAGE_LIMIT = 300

ProgressCallback = Callable[[int, "int | None"], None]


def _retry_after_seconds(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After", "").strip()
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _server_message(payload: object, key: ApiKey | None) -> str:
    """The server's own explanation, short, single-line and never echoing the key."""
    message = ""
    if isinstance(payload, dict):
        for field in ("message", "error", "detail", "msg"):
            value = payload.get(field)
            if isinstance(value, str) and value.strip():
                message = value
                break
    message = " ".join(message.split())[:_MESSAGE_LIMIT]
    if key is not None:
        message = message.replace(key.reveal(), "[key]")
    return message


def _error_for_status(
    status: int, payload: object, key: ApiKey | None, retry_after: float | None
) -> LumaPlaygroundError:
    """Translate one error answer of the API into the playground's typed error."""
    said = _server_message(payload, key)
    said_lower = said.lower()
    suffix = f" The API said: {said}" if said else ""
    if status == 402 or "balance" in said_lower or "insufficient" in said_lower:
        return InsufficientBalance(
            "Your WaveSpeed balance is too low for this task: top up your account and try again." + suffix,
            status_code=status,
        )
    if status in (401, 403):
        return AuthenticationError(
            "The WaveSpeed API key was refused: check it (a new key works only after the "
            "account's first top-up)." + suffix,
            status_code=status,
        )
    if status == 429:
        wait = f" in {retry_after:.0f} s" if retry_after else " in a minute"
        return RateLimited(
            f"WaveSpeed is rate limiting this key: try again{wait}." + suffix,
            retry_after=retry_after,
        )
    if status == 404:
        return TaskNotFound(
            "WaveSpeed does not know this task: it may belong to another key, or have been "
            "deleted after 7 days." + suffix,
            status_code=status,
        )
    if 400 <= status < 500:
        return InvalidRequest(
            "WaveSpeed refused the request." + (f" It said: {said}" if said else ""),
        )
    return ServerError(
        f"WaveSpeed had a server error (HTTP {status}): try again shortly." + suffix,
        status_code=status,
    )


def _unreadable(response: httpx.Response) -> ServerError:
    return ServerError(
        f"WaveSpeed answered with something that is not its JSON (HTTP {response.status_code}, "
        "probably a gateway fault): try again shortly.",
        status_code=response.status_code,
    )


def _data_of(response: httpx.Response, key: ApiKey | None) -> dict[str, Any]:
    """The `data` of a success envelope, or the typed error the response stands for."""
    retry_after = _retry_after_seconds(response)
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if response.status_code >= 400:
        if payload is None and response.status_code >= 500:
            raise _unreadable(response)
        raise _error_for_status(response.status_code, payload, key, retry_after)
    if not isinstance(payload, dict):
        raise _unreadable(response)
    code = payload.get("code", 200)
    # The envelope's code is said to mirror the HTTP status; believe whichever reports an error.
    if isinstance(code, int) and code >= 400:
        raise _error_for_status(code, payload, key, retry_after)
    data = payload.get("data")
    if not isinstance(data, dict):
        raise _unreadable(response)
    return data


def _network_error(exc: httpx.TransportError, what: str) -> NetworkError:
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return NetworkError(f"Could not connect to WaveSpeed while {what}: check the network.")
    if isinstance(exc, httpx.TimeoutException):
        return NetworkError(f"WaveSpeed did not answer in time while {what}.")
    return NetworkError(f"The connection to WaveSpeed dropped while {what}.")


def _never_reached_server(exc: httpx.TransportError) -> bool:
    """True only when the request provably never left: the connection could not be opened."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


class WaveSpeedClient:
    """Talks to WaveSpeedAI (or the offline simulator, which is only another base URL).

    The key is per call (`api_key=`) with a default from the constructor; it is sent only
    in the Authorization header of API requests, never to output URLs.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | ApiKey | None = None,
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 256,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = ApiKey.parse(api_key)
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=self.timeouts.connect,
                read=self.timeouts.read,
                write=self.timeouts.write,
                pool=self.timeouts.pool,
            ),
            # Few idle connections: httpx's pool checks every pooled connection on each
            # request, which costs milliseconds per request with hundreds of them. Idle ones
            # are dropped before a server's usual 5 s keep-alive ends, so that a request is
            # never sent on a connection the server is closing (fatal for a submit).
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=min(max_connections, KEEPALIVE_CONNECTIONS),
                keepalive_expiry=KEEPALIVE_SECONDS,
            ),
            headers={"X-Client-Name": "luma_playground", "X-Client-Version": __version__},
            transport=transport,
            trust_env=False,
        )

    def __repr__(self) -> str:
        return f"WaveSpeedClient(base_url={self.base_url!r})"

    @property
    def http(self) -> httpx.AsyncClient:
        """The connection pool: pass it as `http=` so that other clients of the process share it."""
        return self._http

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> WaveSpeedClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- plumbing -----------------------------------------------------------------------

    def _key(self, api_key: str | ApiKey | None) -> ApiKey:
        key = ApiKey.parse(api_key) or self._api_key
        if key is None:
            raise AuthenticationError("No WaveSpeed API key: set WAVESPEED_API_KEY or enter your key.")
        return key

    def _url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    async def _send(self, method: str, path: str, key: ApiKey, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key.reveal()}"}
        return await self._http.request(method, self._url(path), headers=headers, **kwargs)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        api_key: str | ApiKey | None,
        what: str,
        request_kwargs: Callable[[], dict[str, Any]] = dict,
        deadline: float | None = None,
        task_id: str | None = None,
    ) -> dict[str, Any]:
        """One idempotent API call, retried on network faults, 429 and 5xx within `deadline`."""
        key = self._key(api_key)
        attempt = 0
        while True:
            attempt += 1
            try:
                try:
                    response = await self._send(method, path, key, **request_kwargs())
                except httpx.TransportError as exc:
                    raise _network_error(exc, what) from exc
                return _data_of(response, key)
            except LumaPlaygroundError as error:
                delay = self.retry.delay(attempt, error)
                if delay is None:
                    if task_id and not error.task_id:
                        error.task_id = task_id
                    raise
                if deadline is not None and time.monotonic() + delay > deadline:
                    raise DeadlineExceeded(
                        f"Gave up {what}: the time allowed ran out while WaveSpeed kept "
                        "failing. The task may still finish: fetch it later by its id.",
                        task_id=task_id,
                    ) from error
                await asyncio.sleep(delay)

    # -- the model ------------------------------------------------------------------------

    async def upload_image(self, image: str | Path, *, api_key: str | ApiKey | None = None) -> str:
        """The URL of `image` on WaveSpeed: an http(s) URL as is, a file uploaded (streamed)."""
        if str(image).startswith(("http://", "https://")):
            return str(image)
        prepared = await in_image_worker(prepare_image, Path(image))
        try:
            data = await self._call(
                "POST",
                "/api/v3/media/upload/binary",
                api_key=api_key,
                what="uploading the image",
                request_kwargs=lambda: {"files": {"file": prepared.multipart_part()}},
            )
        finally:
            prepared.close()
        url = data.get("download_url") or data.get("url")
        if not isinstance(url, str) or not url:
            raise ServerError("WaveSpeed accepted the image but returned no URL for it.")
        return url

    async def submit(
        self,
        request: GenerationRequest,
        image_url: str,
        *,
        api_key: str | ApiKey | None = None,
        webhook_url: str | None = None,
    ) -> Prediction:
        """Create the task; never sent twice unless the first attempt provably did not arrive."""
        key = self._key(api_key)
        params = {"webhook": webhook_url} if webhook_url else None
        body = request.api_input(image_url)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._send("POST", f"/api/v3/{MODEL_ID}", key, json=body, params=params)
            except httpx.TransportError as exc:
                if _never_reached_server(exc) and attempt < self.retry.attempts:
                    await asyncio.sleep(self.retry.initial * self.retry.scale)
                    continue
                if _never_reached_server(exc):
                    raise _network_error(exc, "submitting the task") from exc
                raise SubmitOutcomeUnknown(
                    "The task was sent to WaveSpeed but its answer was lost, so a task may exist "
                    "and be charged: it is not sent again. Look for it in the history before "
                    "trying again."
                ) from exc
            try:
                data = _data_of(response, key)
            except RateLimited as error:
                # A 429 is a refusal: nothing was created, so sending again is safe.
                delay = self.retry.delay(attempt, error)
                if delay is None:
                    raise
                await asyncio.sleep(delay)
                continue
            except ServerError as error:
                raise SubmitOutcomeUnknown(
                    f"WaveSpeed failed while taking the task (HTTP {error.status_code}), so a task "
                    "may or may not exist: it is not sent again. Look for it in the history "
                    "before trying again."
                ) from error
            return self._prediction(data, "submitting the task")

    @staticmethod
    def _prediction(data: dict[str, Any], what: str) -> Prediction:
        try:
            return Prediction.model_validate(data)
        except ValueError as exc:
            raise ServerError(f"WaveSpeed's answer while {what} had no task in it.") from exc

    async def get(
        self, task_id: str, *, api_key: str | ApiKey | None = None, deadline: float | None = None
    ) -> Prediction:
        """The task's current state (one GET, retried on transient faults)."""
        data = await self._call(
            "GET",
            f"/api/v3/predictions/{task_id}/result",
            api_key=api_key,
            what="checking the task",
            deadline=deadline,
            task_id=task_id,
        )
        return self._prediction(data, "checking the task")

    async def poll(
        self,
        task_id: str,
        *,
        api_key: str | ApiKey | None = None,
        schedule: PollSchedule | None = None,
        deadline: float | None = None,
        submitted_at: float | None = None,
        first_delay: float = 0.0,
        wake: asyncio.Event | None = None,
    ) -> AsyncIterator[Prediction]:
        """Yield the task's state after every GET until it is terminal (any non-active status).

        `deadline` is a `time.monotonic()` instant; `wake` (set by a webhook) cuts a wait short.
        """
        schedule = schedule or FixedSchedule()
        started = time.monotonic() if submitted_at is None else submitted_at
        delay = first_delay
        while True:
            if deadline is not None and time.monotonic() + delay > deadline:
                raise DeadlineExceeded(
                    "The task did not finish in the time allowed; it may still finish: fetch it "
                    "later by its id.",
                    task_id=task_id,
                )
            if delay > 0:
                await self._sleep(delay, wake)
            prediction = await self.get(task_id, api_key=api_key, deadline=deadline)
            yield prediction
            if prediction.is_terminal:
                return
            delay = schedule.next_delay(prediction.status, time.monotonic() - started)

    @staticmethod
    async def _sleep(delay: float, wake: asyncio.Event | None) -> None:
        if wake is None:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), delay)
        wake.clear()

    async def cancel(self, task_id: str, *, api_key: str | ApiKey | None = None) -> bool:
        """Ask WaveSpeed to stop the task (best effort); True when it accepted."""
        try:
            response = await self._send(
                "DELETE", f"/api/v3/predictions/{task_id}", self._key(api_key), timeout=5.0
            )
            _data_of(response, None)
        except (httpx.TransportError, LumaPlaygroundError):
            return False
        return True

    async def download(
        self,
        url: str,
        dest: Path,
        *,
        task_id: str | None = None,
        on_progress: ProgressCallback | None = None,
        max_bytes: int = MAX_VIDEO_BYTES,
    ) -> Path:
        """Stream the video at `url` to `dest` atomically; retried on transient faults."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._download_once(url, dest, task_id, on_progress, max_bytes)
            except OutputExpired:
                raise
            except OutputError as error:
                if attempt >= min(self.retry.attempts, 4):
                    raise
                await asyncio.sleep(self.retry.initial * attempt * self.retry.scale)
                del error

    async def _download_once(
        self,
        url: str,
        dest: Path,
        task_id: str | None,
        on_progress: ProgressCallback | None,
        max_bytes: int,
    ) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            # No Authorization header: output URLs are public and may be on another host.
            async with self._http.stream("GET", url) as response:
                if response.status_code in (403, 404, 410):
                    raise OutputExpired(
                        "The video is no longer available on WaveSpeed (outputs are kept for 7 days).",
                        task_id=task_id,
                    )
                if response.status_code >= 400:
                    raise OutputError(
                        f"Downloading the video failed (HTTP {response.status_code}).",
                        task_id=task_id,
                    )
                total = int(response.headers.get("Content-Length") or 0) or None
                received = await self._write_body(response, partial, total, on_progress, max_bytes)
            if total is not None and received != total:
                raise OutputError("The video download was cut short.", task_id=task_id)
            _check_mp4(partial, task_id)
            os.replace(partial, dest)
            return dest
        except httpx.TransportError as exc:
            raise OutputError("The video download was interrupted.", task_id=task_id) from exc
        finally:
            partial.unlink(missing_ok=True)

    @staticmethod
    async def _write_body(
        response: httpx.Response,
        partial: Path,
        total: int | None,
        on_progress: ProgressCallback | None,
        max_bytes: int,
    ) -> int:
        received = 0
        with partial.open("wb") as file:
            async for chunk in response.aiter_raw(256 * 1024):
                received += len(chunk)
                if received > max_bytes:
                    raise OutputError("The video is larger than any this model makes; refused.")
                file.write(chunk)
                if on_progress is not None:
                    on_progress(received, total)
        return received

    # -- around the model ---------------------------------------------------------------------

    async def price(
        self, request_input: dict[str, Any], *, api_key: str | ApiKey | None = None
    ) -> dict[str, Any]:
        """The pricing route's answer for one task with these inputs (`unit_price` in USD)."""
        return await self._call(
            "POST",
            "/api/v3/model/pricing",
            api_key=api_key,
            what="asking for the price",
            request_kwargs=lambda: {"json": {"model_id": MODEL_ID, "inputs": request_input}},
        )

    async def balance(self, *, api_key: str | ApiKey | None = None) -> dict[str, Any]:
        """The account's balance (`balance` in USD)."""
        return await self._call("GET", "/api/v3/balance", api_key=api_key, what="asking for the balance")

    async def history(
        self,
        *,
        api_key: str | ApiKey | None = None,
        created_after: str | None = None,
        page_size: int = 50,
        model: str = MODEL_ID,
    ) -> list[dict[str, Any]]:
        """The account's recent tasks of `model`, newest first (to find a lost submit)."""
        body: dict[str, Any] = {"page": 1, "page_size": page_size, "model": model}
        if created_after:
            body["created_after"] = created_after
        data = await self._call(
            "POST",
            "/api/v3/predictions",
            api_key=api_key,
            what="reading the task history",
            request_kwargs=lambda: {"json": body},
        )
        items = data.get("items") or data.get("predictions") or []
        return [item for item in items if isinstance(item, dict)]

    async def optimize_prompt(
        self,
        text: str,
        *,
        image_url: str | None = None,
        style: str = "default",
        api_key: str | ApiKey | None = None,
        timeout: float = 60.0,
    ) -> str:
        """A rewritten prompt from the prompt-optimizer route, in video mode."""
        body: dict[str, Any] = {"text": text, "mode": "video", "style": style, "enable_sync_mode": True}
        if image_url:
            body["image"] = image_url
        deadline = time.monotonic() + timeout
        data = await self._call(
            "POST",
            "/api/v3/wavespeed-ai/prompt-optimizer",
            api_key=api_key,
            what="improving the prompt",
            request_kwargs=lambda: {"json": body},
            deadline=deadline,
        )
        prediction = self._prediction(data, "improving the prompt")
        if not prediction.is_terminal:
            async for update in self.poll(
                prediction.id,
                api_key=api_key,
                deadline=deadline,
                first_delay=0.3,
                schedule=FixedSchedule(0.5),
            ):
                prediction = update
        if prediction.status != "completed" or not prediction.outputs:
            raise ServerError("The prompt optimizer gave no suggestion; try again.")
        return str(prediction.outputs[0])

    async def webhook_secret(self, *, api_key: str | ApiKey | None = None) -> str:
        """The account's webhook signing secret (`whsec_...`)."""
        data = await self._call(
            "GET", "/api/v3/webhook/secret", api_key=api_key, what="reading the webhook secret"
        )
        secret = data.get("secret") or data.get("webhook_secret")
        if not isinstance(secret, str) or not secret:
            raise ServerError("WaveSpeed returned no webhook secret.")
        return secret


def _check_mp4(path: Path, task_id: str | None) -> None:
    with path.open("rb") as file:
        head = file.read(12)
    if len(head) < 12 or head[4:8] != b"ftyp":
        raise OutputError("The downloaded file is not an MP4 video.", task_id=task_id)
