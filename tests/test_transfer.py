"""The bounded transport: requests beyond the limit wait in a plain queue, not in httpx's pool."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from luma_playground._transfer import BoundedTransport


class CountingTransport(httpx.AsyncBaseTransport):
    """Answers every request with a body that stays open until read; counts what is on the wire."""

    def __init__(self) -> None:
        self.open = 0
        self.most = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.open += 1
        self.most = max(self.most, self.open)
        await asyncio.sleep(0.01)
        return httpx.Response(200, stream=Body(self))


class Body(httpx.AsyncByteStream):
    def __init__(self, transport: CountingTransport) -> None:
        self.transport = transport

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        yield b"ok"

    async def aclose(self) -> None:
        self.transport.open -= 1


@pytest.mark.anyio
async def test_no_more_than_the_limit_are_on_the_wire_and_every_place_is_given_back() -> None:
    """Twenty requests through a limit of three: three at most at once, all answered, none stuck."""
    inner = CountingTransport()
    async with httpx.AsyncClient(transport=BoundedTransport(inner, 3), base_url="http://test") as http:
        answers = await asyncio.gather(*(http.get(f"/{n}") for n in range(20)))
        assert [answer.text for answer in answers] == ["ok"] * 20
        assert inner.most == 3 and inner.open == 0
        async with http.stream("GET", "/streamed") as response:  # a streamed body holds its place
            assert inner.open == 1
            await response.aread()
        assert (await http.get("/after")).text == "ok"
