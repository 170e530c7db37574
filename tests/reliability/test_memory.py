"""Eight 59 MP pictures sent at once keep the launched app's memory bounded."""

from __future__ import annotations

import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from .conftest import close_all, key_calls, new_caller

pytestmark = pytest.mark.slow

#: 7700 x 7700: under the pixel ceiling, a few hundred KB on disk, 226 MB once decoded.
SIDE = 7700


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for process {pid}")


def _huge_pngs(folder: Path, count: int) -> list[Path]:
    """`count` different files of one 59 MP picture: each names its number in a text chunk.

    Each is a file of its own to the app (read, checked and decoded apart); encoding one costs
    the test most of a second of CPU, and the simulator renders the same prepared picture once.
    """
    picture = Image.new("RGB", (SIDE, SIDE), (220, 40, 20))
    picture.paste((20, 40, 220), (SIDE // 2, 0, SIDE, SIDE))
    first = folder / "huge-0.png"
    picture.save(first, compress_level=1)
    data = first.read_bytes()
    end_of_header = 8 + 4 + 4 + 13 + 4  # signature, then IHDR's length, type, fields and CRC
    paths = [first]
    for number in range(1, count):
        text = b"tEXt" + b"Comment\0" + f"picture {number}".encode()
        chunk = struct.pack(">I", len(text) - 4) + text + struct.pack(">I", zlib.crc32(text))
        path = folder / f"huge-{number}.png"
        path.write_bytes(data[:end_of_header] + chunk + data[end_of_header:])
        paths.append(path)
    return paths


def test_eight_59_megapixel_pngs_at_once_grow_the_app_by_under_300_mb(
    launch, sim, evidence, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Eight scripts each send a 59 MP PNG at once: all become videos, the app's peak grows < 300 MB."""
    pictures = _huge_pngs(tmp_path, 8)
    app = launch("memory")
    assert app.process is not None
    callers = [new_caller(app, evidence, f"script {n}") for n in range(8)]
    before = _status_mb(app.process.pid, "VmRSS")
    try:
        with ThreadPoolExecutor(8) as pool:
            outcomes = list(
                pool.map(
                    lambda pair: pair[0].generate(pair[1], "the light moves", timeout=240),
                    zip(callers, pictures, strict=True),
                )
            )
    finally:
        close_all(callers)
    peak = _status_mb(app.process.pid, "VmHWM")
    assert [outcome.error for outcome in outcomes] == [None] * 8
    assert key_calls(sim, callers[0].key, "submit") == 8  # one paid submit each, no more
    print(f"memory: {before:.0f} MB before, peak {peak:.0f} MB")
    assert peak - before < 300, f"the app grew from {before:.0f} MB to a peak of {peak:.0f} MB"
