"""The simulator's configuration."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Whether history items carry the task's input: only when asked with `include_inputs: true`
#: (as WaveSpeed's desktop app asks), never (the documented items), or always.
HISTORY_INPUTS = ("asked", "never", "always")
#: Names a folder where every simulator keeps its rendered clips, so that a clip is rendered once
#: for all the simulators (and runs) that share it.
RENDERS_ENV = "LUMA_PLAYGROUND_SIMULATOR_RENDERS"
#: What a task stopped by a DELETE reports afterwards: a status, or `gone` (404 from then on).
DELETED_AS = ("cancelled", "deleted", "gone")


@dataclass(frozen=True, slots=True)
class Behaviour:
    """The parts of WaveSpeed that its docs leave open, as switches a test turns either way."""

    history_inputs: str = "asked"
    deleted_as: str = "cancelled"
    #: Seconds (before `time_scale`) a new video task reports `pending` before `created`; 0: never.
    pending_s: float = 0.0
    #: The discount `/model/price` offers (0.2: 20 % off); 0: none.
    discount_rate: float = 0.0

    def __post_init__(self) -> None:
        if self.history_inputs not in HISTORY_INPUTS:
            raise ValueError(f"history_inputs must be one of {', '.join(HISTORY_INPUTS)}")
        if self.deleted_as not in DELETED_AS:
            raise ValueError(f"deleted_as must be one of {', '.join(DELETED_AS)}")
        if (
            isinstance(self.pending_s, bool)
            or not isinstance(self.pending_s, int | float)
            or self.pending_s < 0
        ):
            raise ValueError("pending_s must be a number of seconds >= 0")
        rate = self.discount_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate < 1:
            raise ValueError("discount_rate must be a number from 0 up to (not including) 1")

    def to_json(self) -> dict[str, Any]:
        """The switches as the control API shows them."""
        return {
            "history_inputs": self.history_inputs,
            "deleted_as": self.deleted_as,
            "pending_s": self.pending_s,
            "discount_rate": self.discount_rate,
        }


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
    #: Where rendered clips are kept by what they show (picture, size, length, fps, camera move):
    #: simulators given one folder render each clip once between them. None: in `output_dir`.
    #: Taken from LUMA_PLAYGROUND_SIMULATOR_RENDERS unless given.
    render_dir: Path | None = field(default_factory=lambda: _folder_from_env(RENDERS_ENV))
    max_upload_bytes: int = 20 * 1024 * 1024
    #: Video submits accepted per key in any (scaled) minute, as a tier allows; None: no limit.
    submits_per_minute: int | None = None
    #: Video tasks a key runs at once; more are accepted and wait. None: no limit.
    concurrent_tasks: int | None = None
    #: Wall-clock seconds of the rate's minute; None: 60 s times `time_scale`.
    rate_window_s: float | None = None
    #: Where the docs leave WaveSpeed's behaviour open (see `Behaviour`); reset restores these.
    behaviour: Behaviour = field(default_factory=Behaviour)

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


def _folder_from_env(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value) if value else None
