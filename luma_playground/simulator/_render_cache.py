"""Renders run on a small thread pool, and identical inputs are rendered once.

The clips are kept on disk by what they show, so that simulators sharing the folder (in this
process or in others) find a clip another one rendered.
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ._render import RENDER_VERSION, RenderSpec, render_clip

#: Two renders at once keep both cores busy; more would only slow each of them down.
MAX_RENDER_WORKERS = 2


class RenderCache:
    """Maps (image digest, size, duration, fps, motion) to one MP4 on disk, rendering it on demand."""

    def __init__(self, cache_dir: Path, max_workers: int = MAX_RENDER_WORKERS) -> None:
        self._dir = cache_dir
        self._dir.mkdir(parents=True, exist_ok=True)
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="luma-sim-render")
        self._futures: dict[str, Future[Path]] = {}
        self._lock = threading.Lock()
        self.rendered = 0
        self.hits = 0

    def render(self, image_path: Path, image_sha256: str, spec: RenderSpec) -> Future[Path]:
        """A future of the MP4 for this image and spec, shared by every caller asking the same."""
        key = _cache_key(image_sha256, spec)
        with self._lock:
            future = self._futures.get(key)
            if future is not None and not _failed(future):
                self.hits += 1
                return future
            future = self._pool.submit(self._render_once, image_path, spec, self._dir / f"{key}.mp4")
            self._futures[key] = future
            return future

    def _render_once(self, image_path: Path, spec: RenderSpec, out_path: Path) -> Path:
        if not out_path.exists():
            # Named for the process and thread: simulators of other processes may share the folder.
            partial = out_path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.part")
            render_clip(image_path, spec, partial)
            # The rename is atomic, so a reader never sees a half-written file.
            os.replace(partial, out_path)
            with self._lock:
                self.rendered += 1
        return out_path

    def snapshot(self) -> dict[str, Any]:
        """Counters for the stats endpoint."""
        with self._lock:
            running = sum(1 for future in self._futures.values() if not future.done())
            return {"rendered": self.rendered, "cache_hits": self.hits, "in_progress": running}

    def close(self) -> None:
        """Stop the pool without waiting for renders nobody will collect."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def _cache_key(image_sha256: str, spec: RenderSpec) -> str:
    shape = f"{spec.width}x{spec.height}:{spec.duration_s}s:{spec.fps}:{spec.motion}"
    parts = f"v{RENDER_VERSION}:{image_sha256}:{shape}"
    return hashlib.sha256(parts.encode()).hexdigest()[:32]


def _failed(future: Future[Path]) -> bool:
    return future.done() and (future.cancelled() or future.exception() is not None)
