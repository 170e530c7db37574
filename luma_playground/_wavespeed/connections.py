"""The connection pool: keep-alive connections reused newest first, cheap with a thousand tasks polling.

httpcore's own pool looks at every connection and every waiting request whenever a request
starts or ends, with a socket check (a system call) per idle connection, and in httpcore 1.0 it
closes an idle connection whenever more than `max_keepalive_connections` exist in all, busy ones
counted. With hundreds of tasks polling at once, nearly every request then opened a connection of
its own (a TLS handshake on the real service), and the event loop spent its time in the pool.

`ConnectionStack` takes its place inside httpx's transport: a request takes the idle connection of
its origin used last (the only one checked), or opens one; at most `max_connections` are on the
wire and the rest wait in a plain queue; a connection is put back when its response is closed,
and the idle ones beyond `max_keepalive` or older than `keepalive_expiry` are closed then.

`FairLanes` bounds what a client has on the wire above the pool, and serves the keys waiting for
a lane in turn, so that one key's thousand requests never stand in front of another key's one.
`FairWorkers` does the same for a thread pool (picture checks, uploads' digests, video tags).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import ssl
import time
import weakref
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import httpcore
import httpx

__all__ = ["ConnectionStack", "FairLanes", "FairWorkers", "pooled_transport", "tls_context"]

_T = TypeVar("_T", int, float)
_R = TypeVar("_R")


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every client of the process: building one loads the CA store (tens of ms)."""
    return httpx.create_ssl_context(trust_env=False)


def pooled_transport(
    *, max_connections: int, max_keepalive: int, keepalive_expiry: float
) -> httpx.AsyncHTTPTransport:
    """httpx's transport (its TLS and socket settings, its errors) with a `ConnectionStack` as pool."""
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_keepalive,
        keepalive_expiry=keepalive_expiry,
    )
    transport = httpx.AsyncHTTPTransport(limits=limits, verify=tls_context(), trust_env=False)
    # The one place that reaches into httpx: its pool is what is replaced (tests/test_connections.py).
    transport._pool = ConnectionStack(transport._pool, limits)  # type: ignore[assignment]
    return transport


Connection = httpcore.AsyncConnectionInterface


class ConnectionStack:
    """What httpcore's pool does (`handle_async_request`, `aclose`), at a cost that does not grow."""

    def __init__(self, factory: httpcore.AsyncConnectionPool, limits: httpx.Limits) -> None:
        #: Makes each new connection, with the transport's TLS context and socket options.
        self._factory = factory
        unbounded = 1 << 30  # None in `limits`: no bound
        self.max_keepalive = _or(limits.max_keepalive_connections, unbounded)
        self.keepalive_expiry = _or(limits.keepalive_expiry, math.inf)
        self._permits = asyncio.Semaphore(_or(limits.max_connections, unbounded))
        #: Per origin (scheme, host, port), (when it was put back, connection), the oldest first.
        self._idle: dict[tuple[bytes, bytes, int], deque[tuple[float, Connection]]] = {}
        self._open: set[Connection] = set()
        #: Connections opened in all.
        self.opened = 0

    @property
    def connections(self) -> list[Connection]:
        """Every open connection, busy or idle."""
        return list(self._open)

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        origin = request.url.origin
        await self._permits.acquire()
        connection: Connection | None = None
        try:
            connection = await self._connection_for(origin)
            response = await connection.handle_async_request(request)
        except BaseException:
            try:
                if connection is not None:
                    await self._put_back(connection, origin)
            finally:
                self._permits.release()
            raise
        assert isinstance(response.stream, AsyncIterable)
        return httpcore.Response(
            status=response.status,
            headers=response.headers,
            content=_Returning(response.stream, self, connection, origin),
            extensions=response.extensions,
        )

    async def _connection_for(self, origin: httpcore.Origin) -> Connection:
        """The idle connection used last, if the server has not closed it; else a new one."""
        idle = self._idle.get(_key(origin))
        while idle:
            _, connection = idle.pop()
            if connection.is_available() and not connection.has_expired():
                return connection
            await self._close(connection)
        connection = self._factory.create_connection(origin)
        self._open.add(connection)
        self.opened += 1
        return connection

    async def _put_back(self, connection: Connection, origin: httpcore.Origin) -> None:
        """Keep a connection whose exchange ended cleanly; close the idle ones kept too long."""
        if connection.is_closed() or not connection.is_idle():
            await self._close(connection)
            return
        now = time.monotonic()
        idle = self._idle.setdefault(_key(origin), deque())
        idle.append((now, connection))
        while idle and (len(idle) > self.max_keepalive or now - idle[0][0] > self.keepalive_expiry):
            await self._close(idle.popleft()[1])

    async def _close(self, connection: Connection) -> None:
        self._open.discard(connection)
        await connection.aclose()

    async def aclose(self) -> None:
        connections, self._open = self._open, set()
        self._idle.clear()
        for connection in connections:
            await connection.aclose()

    async def __aenter__(self) -> ConnectionStack:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _or(value: _T | None, default: _T) -> _T:
    return default if value is None else value


def _key(origin: httpcore.Origin) -> tuple[bytes, bytes, int]:
    return origin.scheme, origin.host, origin.port


class _Returning:
    """A response body that puts its connection back and gives its place up, once, when closed."""

    def __init__(
        self,
        stream: AsyncIterable[bytes],
        stack: ConnectionStack,
        connection: Connection,
        origin: httpcore.Origin,
    ) -> None:
        self._stream = stream
        self._stack: ConnectionStack | None = stack
        self._connection = connection
        self._origin = origin

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        stack, self._stack = self._stack, None
        if stack is None:
            return
        try:
            aclose = getattr(self._stream, "aclose", None)
            if aclose is not None:
                await aclose()
            await stack._put_back(self._connection, self._origin)
        finally:
            stack._permits.release()


class FairLanes:
    """At most `size` holders at once; the waiters are served one key at a time, in turn.

    Each key (an API key's fingerprint) has a queue of its own, first come first served; when a
    lane frees up it goes to the first waiter of the next key in the round. A key with one
    request waiting therefore waits for at most one request of each other key, however many
    those keys have queued.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"lanes need a size of at least 1, got {size}")
        self.size = size
        self._free = size
        #: The keys with waiters, in the order of their turns.
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}

    @property
    def in_use(self) -> int:
        return self.size - self._free

    @contextlib.asynccontextmanager
    async def lane(self, key: str) -> AsyncIterator[None]:
        """Hold one lane for the block, after the waiters of every other key have had their turn."""
        await self._acquire(key)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, key: str) -> None:
        if self._free and not self._waiting:
            self._free -= 1
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, deque()).append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # given a lane while being cancelled: hand it on
            else:
                self._forget(key, turn)
            raise

    def _forget(self, key: str, turn: asyncio.Future[None]) -> None:
        queue = self._waiting.get(key)
        if queue is not None:
            with contextlib.suppress(ValueError):
                queue.remove(turn)
            if not queue:
                del self._waiting[key]

    def _release(self) -> None:
        """Give the lane to the first waiter of the key whose turn it is, else free it."""
        while self._waiting:
            key = next(iter(self._waiting))
            queue = self._waiting.pop(key)
            turn = queue.popleft()
            if queue:
                self._waiting[key] = queue  # to the back of the round
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1


class FairWorkers:
    """A thread pool whose callers wait for a worker one key at a time (`FairLanes`, per event loop).

    A plain executor serves its queue first come, first served: another key's batch of hundreds
    would stand in front of a visitor's one picture or video there.
    """

    def __init__(self, workers: int, name: str) -> None:
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FairLanes] = (
            weakref.WeakKeyDictionary()
        )

    async def run(self, turn: str, function: Callable[..., _R], *args: object) -> _R:
        """`function(*args)` on a worker, once the waiters of every other `turn` have had theirs."""
        loop = asyncio.get_running_loop()
        lanes = self._lanes.get(loop)
        if lanes is None:
            lanes = self._lanes[loop] = FairLanes(self.workers)
        async with lanes.lane(turn):
            return await loop.run_in_executor(self._executor, function, *args)
