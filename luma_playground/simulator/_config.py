"""The simulator's configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """How the offline WaveSpeed simulator behaves: timing, money, keys, rendering, limits."""

    #: Multiplies every simulated wait (queue, inference, webhook retries); 0.01 makes a 48 s task 0.48 s.
    time_scale: float = 1.0
    #: Seeds the timing model, so that a run can be replayed.
    seed: int = 0
    #: Simulated USD on a key's account when the key is first seen.
    initial_balance: float = 100.0
    #: Any non-empty Bearer key is valid unless rejected through the control API; when False,
    #: only keys marked valid through the control API are accepted.
    accept_any_key: bool = True
    render_fps: int = 24
    #: Where uploads and rendered MP4s live; a temporary folder when None.
    output_dir: Path | None = None
    max_upload_bytes: int = 20 * 1024 * 1024
    #: Video submits accepted per key in any (scaled) minute, as a tier allows; None: no limit.
    submits_per_minute: int | None = None
    #: Video tasks a key runs at once; more are accepted and wait. None: no limit.
    concurrent_tasks: int | None = None
    #: Wall-clock seconds of the rate's minute; None: 60 s times `time_scale`.
    rate_window_s: float | None = None

    def __post_init__(self) -> None:
        if self.time_scale < 0:
            raise ValueError(f"time_scale must be >= 0, got {self.time_scale}")
        if self.render_fps <= 0:
            raise ValueError(f"render_fps must be > 0, got {self.render_fps}")
        if self.max_upload_bytes <= 0:
            raise ValueError(f"max_upload_bytes must be > 0, got {self.max_upload_bytes}")
        for name in ("submits_per_minute", "concurrent_tasks"):
            limit = getattr(self, name)
            if limit is not None and limit < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {limit}")
        if self.initial_balance < 0:
            raise ValueError(f"initial_balance must be >= 0, got {self.initial_balance}")
