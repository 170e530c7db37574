"""Memory benchmark (target 9): eight 59-megapixel PNGs analysed at once, as the UI does.

Eight 7700 x 7700 pictures, mostly flat (about 170 KB each on disk, under the pixel ceiling),
go through what the page runs for a new picture, all eight at once: the size suggestion, the
crop preview, the check before a generation and the upload's preparation. The figure is the
growth of the process's peak resident memory (VmHWM) over its memory before; the baseline,
in a process of its own, opens each picture the usual way (`Image.open(...).convert("RGB")`).
`python benchmarks/memory.py`
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import Figure, arguments, report
from PIL import Image, ImageDraw

PICTURES = 8
SIDE = 7700
TARGET_MB = 300


def make_pictures(folder: Path) -> list[Path]:
    """Flat pictures with a few shapes: tiny files that decode to 178 MB each."""
    paths = []
    for number in range(PICTURES):
        image = Image.new("RGB", (SIDE, SIDE), (20 + number * 20, 90, 160))
        draw = ImageDraw.Draw(image)
        draw.ellipse([SIDE // 4, SIDE // 3, 3 * SIDE // 4, 2 * SIDE // 3], fill=(240, 200, 40))
        draw.rectangle([0, SIDE - 600, SIDE, SIDE], fill=(30, 30, 40))
        path = folder / f"flat-{number}.png"
        image.save(path, "PNG", optimize=True)
        paths.append(path)
    return paths


def _status(field: str) -> float:
    """A field of /proc/self/status, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    """Start the peak (VmHWM) afresh from the current resident memory (Linux 4.0+)."""
    Path("/proc/self/clear_refs").write_text("5")


def naive(paths: list[Path]) -> None:
    def analyse(path: Path) -> tuple[int, int]:
        with Image.open(path) as image:
            return image.convert("RGB").size

    with ThreadPoolExecutor(len(paths)) as pool:
        list(pool.map(analyse, paths))


def playground(paths: list[Path]) -> None:
    from luma_playground._pictures.checks import check_image, in_image_worker, prepare_image, suggested_size
    from luma_playground.ui._crop import crop_preview

    async def one(path: Path) -> None:
        # As the page does: the suggestion in Gradio's thread pool, the rest in the image workers.
        await asyncio.to_thread(suggested_size, path)
        await in_image_worker(crop_preview, str(path), "1280*720")
        await in_image_worker(check_image, path)
        prepared = await in_image_worker(prepare_image, path)
        assert prepared.data is not None  # scaled down to 2560 px

    async def everything() -> None:
        await asyncio.gather(*(one(path) for path in paths))

    asyncio.run(everything())


def measure(kind: str, folder: Path) -> None:
    """In this (child) process: the peak growth while `kind` analyses the pictures, as JSON."""
    import luma_playground.ui._crop  # noqa: F401  (imports are not part of the figure)

    paths = sorted(folder.glob("flat-*.png"))
    before = _status("VmRSS")
    _reset_peak()
    {"naive": naive, "playground": playground}[kind](paths)
    print(json.dumps({"growth": _status("VmHWM") - before}))


def child(kind: str, folder: Path) -> float:
    result = subprocess.run(
        [sys.executable, __file__, "--measure", kind, str(folder)],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    return float(json.loads(result.stdout.strip().splitlines()[-1])["growth"])


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--measure":
        measure(sys.argv[2], Path(sys.argv[3]))
        return 0
    args = arguments(__doc__.splitlines()[0])
    with tempfile.TemporaryDirectory(prefix="luma-memory-") as folder:
        paths = make_pictures(Path(folder))
        on_disk = sum(path.stat().st_size for path in paths) / len(paths) / 1024
        ours, baseline = child("playground", Path(folder)), child("naive", Path(folder))
    figure = Figure(
        "9",
        f"peak memory growth, {PICTURES} x 59 MP PNG at once",
        ours,
        "MB",
        baseline,
        f"value < {TARGET_MB}",
        f"{PICTURES} pictures of {SIDE}x{SIDE}, {on_disk:.0f} KB each on disk; suggest size, crop "
        "preview, check and upload preparation at once (baseline: Image.open(...).convert('RGB'))",
    )
    return report("Memory (target 9)", [figure], args.json)


if __name__ == "__main__":
    raise SystemExit(main())
