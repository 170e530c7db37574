"""The connection pool: requests beyond the limit wait their turn, connections are reused, none leak."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from luma_playground._wavespeed.connections import ConnectionStack, pooled_transport

pytestmark = pytest.mark.anyio
STATS = "/_simulator/stats"


def _stack(transport: httpx.AsyncHTTPTransport) -> ConnectionStack:
    stack = transport._pool
    assert isinstance(stack, ConnectionStack), "httpx's transport no longer keeps its pool in `_pool`"
    return stack


async def test_no_more_than_the_limit_are_on_the_wire_and_connections_are_reused(sim) -> None:
    """Forty requests through a limit of three: three connections opened, all answered, none left busy."""
    transport = pooled_transport(max_connections=3, max_keepalive=3, keepalive_expiry=4.0)
    stack = _stack(transport)
    most = 0

    async def get() -> int:
        nonlocal most
        response = await http.get(STATS)
        most = max(most, len(stack.connections))
        return response.status_code

    async with httpx.AsyncClient(transport=transport, base_url=sim.base_url) as http:
        assert await asyncio.gather(*(get() for _ in range(40))) == [200] * 40
        assert most == 3 and stack.opened == 3
        assert all(connection.is_idle() for connection in stack.connections)
    assert stack.connections == []


async def test_a_streamed_body_holds_its_place_until_closed(sim) -> None:
    """With one place, a second request waits for the open stream, then reuses its connection."""
    transport = pooled_transport(max_connections=1, max_keepalive=1, keepalive_expiry=4.0)
    stack = _stack(transport)
    async with httpx.AsyncClient(transport=transport, base_url=sim.base_url) as http:
        async with http.stream("GET", STATS) as response:
            waiting = asyncio.ensure_future(http.get(STATS))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            await response.aread()
        assert (await waiting).status_code == 200
        assert stack.opened == 1


async def test_idle_connections_beyond_the_keepalive_limit_are_closed(sim) -> None:
    """Keeping none, every request opens its own connection and none stays open."""
    transport = pooled_transport(max_connections=4, max_keepalive=0, keepalive_expiry=4.0)
    stack = _stack(transport)
    async with httpx.AsyncClient(transport=transport, base_url=sim.base_url) as http:
        for _ in range(3):
            assert (await http.get(STATS)).status_code == 200
        assert stack.opened == 3 and stack.connections == []


async def test_a_refused_connection_gives_its_place_back() -> None:
    """A connect that fails frees its place: the next request is not stuck behind it."""
    transport = pooled_transport(max_connections=1, max_keepalive=1, keepalive_expiry=4.0)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:9") as http:
        for _ in range(2):
            with pytest.raises(httpx.ConnectError):
                await asyncio.wait_for(http.get("/"), 10)
        assert _stack(transport).connections == []
