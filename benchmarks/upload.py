"""Upload benchmark (target 7): bytes on the wire and memory for a 10 MB image.

The playground streams the file from disk as one multipart part. The baseline is what older
tools did: the picture as a base64 `data:` URI inside a JSON body. Bytes are counted by a
transport that sees every byte httpx sends (request line, headers and body); memory is the
peak of Python allocations while the upload runs (tracemalloc).
`python benchmarks/upload.py`
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
from _common import KEY, Figure, SimulatorProcess, arguments, photo, report

from luma_playground import WaveSpeedClient


class CountingStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, counter: CountingTransport) -> None:
        self._inner = inner
        self._counter = counter

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._counter.sent += len(chunk)
            yield chunk


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts the bytes of every request: request line, headers and body."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        line = f"{request.method} {request.url.raw_path.decode()} HTTP/1.1\r\n"
        headers = sum(len(name) + len(value) + 4 for name, value in request.headers.raw)
        self.sent += len(line) + headers + 2
        request.stream = CountingStream(request.stream, self)  # type: ignore[arg-type]
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def ten_megabyte_image(folder: Path) -> Path:
    """A noisy 2560x1600 PNG of at least 10 MB, uploaded as it is (no re-encode needed)."""
    for noise in (16, 20, 24, 28, 32):
        image = photo(folder / "big.png", (2560, 1600), noise=noise, fmt="PNG")
        if image.stat().st_size >= 10_000_000:
            return image
    return image


async def measured(run: Callable[[], Awaitable[object]]) -> int:
    """The peak of Python allocations while `run` runs, in bytes."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    await run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - before


async def measure(work: Path) -> list[Figure]:
    image = ten_megabyte_image(work)
    size = image.stat().st_size
    with SimulatorProcess(time_scale=0.01) as simulator:
        counter = CountingTransport()
        client = WaveSpeedClient(simulator.base_url, KEY, transport=counter)
        await client.upload_image(image)  # warm: connection, imports
        counter.sent = 0
        urls: list[str] = []

        async def streamed() -> None:
            urls.append(await client.upload_image(image))

        streamed_peak = await measured(streamed)
        streamed_bytes = counter.sent
        stored = urls[0].rsplit("/", 1)[-1]
        await client.aclose()

        naive_counter = CountingTransport()
        async with httpx.AsyncClient(transport=naive_counter, timeout=60) as http:

            async def naive() -> None:
                encoded = base64.b64encode(image.read_bytes()).decode()
                body = json.dumps({"image": f"data:image/png;base64,{encoded}", "prompt": "zoom in"})
                await http.post(
                    f"{simulator.base_url}/api/v3/luma/ray-2-i2v",
                    content=body,
                    headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
                )

            naive_peak = await measured(naive)
        naive_bytes = naive_counter.sent
    mb = 1_000_000
    return [
        Figure(
            "7",
            "bytes sent per byte of a 10 MB image",
            streamed_bytes / size,
            "x",
            naive_bytes / size,
            "value <= 1.01",
            f"file {size / mb:.2f} MB, sent {streamed_bytes / mb:.2f} MB (base64 JSON: "
            f"{naive_bytes / mb:.2f} MB); stored as {stored}",
        ),
        Figure(
            "7",
            "peak Python memory / file size",
            streamed_peak / size,
            "x",
            naive_peak / size,
            "value <= 1.0",
            f"{streamed_peak / mb:.2f} MB while uploading (base64 JSON: {naive_peak / mb:.1f} MB)",
        ),
    ]


def main() -> int:
    args = arguments(__doc__.splitlines()[0])
    with tempfile.TemporaryDirectory(prefix="luma-upload-") as folder:
        figures = asyncio.run(measure(Path(folder)))
    return report("Upload (target 7)", figures, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
