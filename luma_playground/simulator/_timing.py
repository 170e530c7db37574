"""How long simulated tasks wait in the queue and run, drawn from a seeded model."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

#: Queue wait before a task starts: lognormal around a median of 3 s.
QUEUE_MEDIAN_S = 3.0
QUEUE_SIGMA = 0.5

#: Inference time of a Ray 2 video task by clip duration, the same for landscape and portrait.
INFERENCE_MEDIAN_S = {5: 45.0, 10: 85.0}
#: Ray 2 Flash, Luma's draft model: about three times as fast as Ray 2.
FLASH_INFERENCE_MEDIAN_S = {5: 15.0, 10: 28.0}
INFERENCE_SIGMA = 0.09

#: The prompt optimizer is a short text task of about a second.
OPTIMIZER_QUEUE_MEDIAN_S = 0.2
OPTIMIZER_INFERENCE_MEDIAN_S = 0.8
OPTIMIZER_SIGMA = 0.2


@dataclass(frozen=True, slots=True)
class TaskPlan:
    """A task's simulated queue wait and inference time, in real-world seconds (unscaled)."""

    queue_s: float
    inference_s: float

    @property
    def total_s(self) -> float:
        """Submit to completion, in real-world seconds."""
        return self.queue_s + self.inference_s


class TimingModel:
    """Draws task plans from lognormal distributions with a seeded RNG, and scales waits."""

    def __init__(self, seed: int = 0, time_scale: float = 1.0) -> None:
        self._rng = random.Random(seed)
        self.time_scale = time_scale

    def plan_video(self, duration_s: int, flash: bool = False) -> TaskPlan:
        """Plan a Ray 2 (or, with `flash`, Ray 2 Flash) task producing a clip of `duration_s` seconds."""
        medians = FLASH_INFERENCE_MEDIAN_S if flash else INFERENCE_MEDIAN_S
        median = medians.get(duration_s, medians[5] * duration_s / 5)
        return TaskPlan(
            queue_s=self._lognormal(QUEUE_MEDIAN_S, QUEUE_SIGMA),
            inference_s=self._lognormal(median, INFERENCE_SIGMA),
        )

    def plan_optimizer(self) -> TaskPlan:
        """Plan a prompt optimizer task."""
        return TaskPlan(
            queue_s=self._lognormal(OPTIMIZER_QUEUE_MEDIAN_S, OPTIMIZER_SIGMA),
            inference_s=self._lognormal(OPTIMIZER_INFERENCE_MEDIAN_S, OPTIMIZER_SIGMA),
        )

    def scaled(self, seconds: float) -> float:
        """Turn real-world seconds into the wall-clock seconds the simulator actually waits."""
        return seconds * self.time_scale

    def inference_ms(self, plan: TaskPlan) -> int:
        """The inference time as `timings.inference` reports it: the time the run really took."""
        return round(self.scaled(plan.inference_s) * 1000)

    def _lognormal(self, median: float, sigma: float) -> float:
        return self._rng.lognormvariate(math.log(median), sigma)
