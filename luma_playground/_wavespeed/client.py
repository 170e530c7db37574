"""The async WaveSpeedAI client: one connection pool per process, one key per call."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from .._config import DEFAULT_BASE_URL, MODEL_ID, ApiKey, Timeouts, __version__, model_named
from .._errors import AuthenticationError, DeadlineExceeded, LumaPlaygroundError, RateLimited, ServerError
from .._pictures.checks import in_image_worker, prepare_image
from .._request import GenerationRequest, Prediction, PredictionStatus
from .account import AccountCalls
from .connections import FairLanes, pooled_transport
from .pacing import Pace, Pacing
from .polling import FixedSchedule, PollSchedule, Wake
from .retry import RetryPolicy, retry_call, retryable_download, retryable_request, retryable_submit
from .transfer import MAX_VIDEO_BYTES, ProgressCallback, download_once
from .wire import data_of, submit_error, transport_error

__all__ = ["WaveSpeedClient"]

logger = logging.getLogger("luma_playground")

#: How long an idle connection is kept for reuse: well under a server's usual 5 s keep-alive, so
#: that a request is never sent on a connection the server is closing (fatal for a submit), even
#: when a busy event loop puts a connection back, or sends on it, a second late.
KEEPALIVE_SECONDS = 2.5
#: Most attempts at one video download.
DOWNLOAD_ATTEMPTS = 4
#: Most API calls (a poll, a price, a cancel) of one client in flight at once; the rest wait
#: their turn before any work is done for them. With a thousand tasks polling, an unbounded
#: number of answers would land in the same turn of the event loop and keep everything else
#: on it (the page, the other visitors) waiting; this many keep it under 50 ms late.
API_LANES = 32
#: Most image uploads, video downloads and prompt rewrites (seconds each) of one client at
#: once, in lanes of their own so that a slow one never holds up a poll.
TRANSFER_LANES = 16
#: Both kinds of lane are shared between keys in turn (`FairLanes`): another key's batch of
#: 500 never stands in front of a visitor's one video.


class WaveSpeedClient(AccountCalls):
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
        pacing: Pacing | None = None,
        api_lanes: int = API_LANES,
        transfer_lanes: int = TRANSFER_LANES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_lanes = FairLanes(api_lanes)
        self._transfer_lanes = FairLanes(transfer_lanes)
        #: The account's allowance per key; submits wait their turn in it. None: unpaced.
        self.pacing = pacing
        self._api_key = ApiKey.parse(api_key)
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self._owns_http = http is None
        if http is None and transport is None:
            transport = pooled_transport(
                max_connections=max_connections,
                max_keepalive=max_connections,
                keepalive_expiry=KEEPALIVE_SECONDS,
            )
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=self.timeouts.connect,
                read=self.timeouts.read,
                write=self.timeouts.write,
                pool=self.timeouts.pool,
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

    async def _request(self, method: str, path: str, key: ApiKey, what: str, **kwargs: Any) -> dict[str, Any]:
        """One attempt: the answer's `data`, or the typed error it stands for."""
        try:
            response = await self._send(method, path, key, **kwargs)
        except httpx.TransportError as exc:
            raise transport_error(exc, what) from exc
        return data_of(response, key)

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
        slow: bool = False,
    ) -> dict[str, Any]:
        """One idempotent API call, retried on network faults, 429 and 5xx within `deadline`.

        Each attempt waits for a lane (`slow`: the transfer lanes) but no backoff holds one.
        """
        key = self._key(api_key)
        lane = self._transfer_lanes if slow else self._api_lanes

        def out_of_time(error: BaseException) -> DeadlineExceeded:
            return DeadlineExceeded(
                f"Gave up {what}: the time allowed ran out while WaveSpeed kept "
                "failing. The task may still finish: fetch it later by its id.",
                task_id=task_id,
            )

        async def attempt() -> dict[str, Any]:
            async with lane.lane(key.fingerprint):
                return await self._request(method, path, key, what, **request_kwargs())

        try:
            return await retry_call(
                attempt,
                on=retryable_request,
                policy=self.retry,
                deadline=deadline,
                out_of_time=out_of_time,
            )
        except DeadlineExceeded:
            raise
        except LumaPlaygroundError as error:
            if task_id and not error.task_id:
                error.task_id = task_id
            raise

    # -- the model ------------------------------------------------------------------------

    async def upload_image(self, image: str | Path, *, api_key: str | ApiKey | None = None) -> str:
        """The URL of `image` on WaveSpeed: an http(s) URL as is, a file uploaded (streamed)."""
        if str(image).startswith(("http://", "https://")):
            return str(image)
        # Preparing a picture (a re-encode, in the image workers) takes its key's turn too, so that
        # another key's hundreds of uploads never queue in front of it there.
        turn = self._key(api_key).fingerprint
        async with self._transfer_lanes.lane(turn):
            prepared = await in_image_worker(prepare_image, Path(image), turn=turn)
        try:
            data = await self._call(
                "POST",
                "/api/v3/media/upload/binary",
                api_key=api_key,
                what="uploading the image",
                request_kwargs=lambda: {"files": {"file": prepared.multipart_part()}},
                slow=True,
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
        sending: Callable[[], Awaitable[None]] | None = None,
        model: str = MODEL_ID,
    ) -> Prediction:
        """Create a task of `model`; never sent twice unless the first attempt provably did not arrive.

        With `pacing`, every attempt waits for the key's allowance, and a 429 slows it.
        `sending` is awaited just before each attempt goes out (after that wait), so that the
        caller can record that the submit may have reached WaveSpeed from then on.
        """
        key = self._key(api_key)
        path = f"/api/v3/{model_named(model).id}"
        params = {"webhook": webhook_url} if webhook_url else None
        body = request.api_input(image_url)
        what = "submitting the task"
        pace = self.pacing.pace(key.fingerprint) if self.pacing else None

        async def attempt() -> dict[str, Any]:
            if pace is None:
                return await self._submit_once(key, path, body, params, sending)
            return await self._paced(pace, key, path, body, params, sending)

        try:
            data = await retry_call(attempt, on=retryable_submit, policy=self.retry)
        except LumaPlaygroundError as error:
            mapped = submit_error(error)
            if mapped is error:
                raise
            raise mapped from error
        return self._prediction(data, what)

    async def _paced(
        self,
        pace: Pace,
        key: ApiKey,
        path: str,
        body: dict[str, Any],
        params: dict[str, str] | None,
        sending: Callable[[], Awaitable[None]] | None,
    ) -> dict[str, Any]:
        await pace.before_submit()
        try:
            data = await self._submit_once(key, path, body, params, sending)
        except RateLimited as error:
            pace.after_submit(rate_limited=True, retry_after=error.retry_after)
            raise
        except BaseException:
            pace.after_submit()  # it may have reached the server, which then counted it
            raise
        pace.after_submit()
        return data

    async def _submit_once(
        self,
        key: ApiKey,
        path: str,
        body: dict[str, Any],
        params: dict[str, str] | None,
        sending: Callable[[], Awaitable[None]] | None,
    ) -> dict[str, Any]:
        """One submit attempt to the model's route. Its lane is taken before it is recorded as sent:
        a wait after that would be a gap in which the journal says "sent" of a request that has not left."""
        async with self._api_lanes.lane(key.fingerprint):
            if sending is not None:
                await sending()
            return await self._request("POST", path, key, "submitting the task", json=body, params=params)

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
        wake: Wake | None = None,
    ) -> AsyncIterator[Prediction]:
        """Yield the task's state after every GET until it reaches a documented end state.

        A status WaveSpeed's docs do not name (`pending`, or a new one) keeps the wait going,
        as it does in the official clients; it is logged once. `deadline` is a
        `time.monotonic()` instant; `wake` (set by a webhook) cuts a wait short.
        """
        schedule = schedule or FixedSchedule()
        started = time.monotonic() if submitted_at is None else submitted_at
        delay = first_delay
        unknown: set[str] = set()
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
            if not prediction.is_known and prediction.status not in unknown:
                unknown.add(prediction.status)
                logger.info(
                    "task %s reports status %r, not a documented end state: still waiting",
                    task_id,
                    prediction.status[:40],
                )
            yield prediction
            if prediction.is_terminal:
                return
            delay = schedule.next_delay(prediction.status, time.monotonic() - started)

    @staticmethod
    async def _sleep(delay: float, wake: Wake | None) -> None:
        if wake is None:
            await asyncio.sleep(delay)
        else:
            await wake.sleep(delay)
            wake.clear()

    async def cancel(self, task_id: str, *, api_key: str | ApiKey | None = None) -> bool:
        """Ask WaveSpeed to delete the task; True when it took the request.

        Taking it is not stopping it: the docs say "cancellation may not stop generation
        immediately", so only the task's later status tells how it ended.
        """
        try:
            key = self._key(api_key)
            async with self._api_lanes.lane(key.fingerprint):
                response = await self._send("DELETE", f"/api/v3/predictions/{task_id}", key, timeout=5.0)
            data_of(response, None)
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
        key_fingerprint: str = "",
    ) -> Path:
        """Stream the video at `url` to `dest` atomically; retried on transient faults.

        No key is sent to an output URL; `key_fingerprint` names the key whose turn it takes in
        the transfer lanes.
        """

        async def attempt() -> Path:
            async with self._transfer_lanes.lane(key_fingerprint):
                return await download_once(
                    self._http, url, dest, task_id=task_id, on_progress=on_progress, max_bytes=max_bytes
                )

        return await retry_call(
            attempt,
            on=retryable_download,
            policy=self.retry,
            attempts=DOWNLOAD_ATTEMPTS,
        )

    # -- around the model ---------------------------------------------------------------------

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
            slow=True,  # answered in sync mode: seconds of work on the other end
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
        if prediction.status != PredictionStatus.COMPLETED or not prediction.outputs:
            raise ServerError("The prompt optimizer gave no suggestion; try again.")
        return str(prediction.outputs[0])
