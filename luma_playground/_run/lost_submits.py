"""Which task in WaveSpeed's history a submit whose answer was lost created, and how sure that is.

The documented history items carry no inputs (`{id, model, outputs, urls, has_nsfw_contents,
status, created_at, error, executionTime, timings}`); WaveSpeed's desktop app asks for them with
`include_inputs: true`, which may or may not be honoured. An item with inputs is matched on them
exactly. Without inputs, a task is matched on what the item does carry: the model, and a creation
time close to the moment the submit was sent; tasks this journal already holds are never taken.
The match says how sure it is, so that a task that may be another client's is never taken as
ours without saying so.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .._config import MODEL_ID
from .._wavespeed.wire import parse_api_time

__all__ = ["Certainty", "HistoryMatch", "match_lost_submit"]

#: How far a task's creation time may lie from the moment its submit was sent (clocks differ).
TIME_WINDOW_SECONDS = 60.0


class Certainty(enum.StrEnum):
    """How sure a match between a lost submit and a history item is."""

    #: The item's inputs are this submit's.
    EXACT = "exact"
    #: No inputs given; the only unclaimed task of the model created around the submit.
    BY_TIME = "by time"
    #: No inputs given; the nearest of several such tasks: it may be another client's.
    GUESS = "guess"


@dataclass(frozen=True, slots=True)
class HistoryMatch:
    """The task a lost submit most likely created, how sure that is, and among how many."""

    task_id: str
    certainty: Certainty
    candidates: int = 1

    @property
    def note(self) -> str:
        """One sentence for the journal and the user: what was found and how sure it is."""
        if self.certainty is Certainty.EXACT:
            return "Found in the task history by its exact input."
        if self.certainty is Certainty.BY_TIME:
            return (
                "Found in the task history by model and creation time (WaveSpeed's history gave "
                "no inputs): it is the only new task of this key at that moment, so almost surely this one."
            )
        return (
            f"Matched by creation time alone to the nearest of {self.candidates} tasks of this key "
            "made at that moment (WaveSpeed's history gave no inputs): it may be another client's task."
        )


def match_lost_submit(
    items: Iterable[Mapping[str, Any]],
    wanted: Mapping[str, object],
    sent_at: float,
    claimed: Callable[[str], bool],
    model: str = MODEL_ID,
) -> HistoryMatch | None:
    """The history item a submit of `wanted` input to `model`, sent at `sent_at` (Unix s), likely created.

    `claimed(task_id)` tells a task some journal row already holds: those are never taken. An
    item of another model is never this submit's task, whatever its input.
    """
    exact: list[tuple[float, str]] = []
    by_time: list[tuple[float, str]] = []
    for item in items:
        task_id = item.get("id")
        if not isinstance(task_id, str) or not task_id or claimed(task_id):
            continue
        if item.get("model") not in (None, "", model):
            continue
        created = parse_api_time(item.get("created_at"))
        distance = abs(created - sent_at) if created is not None else TIME_WINDOW_SECONDS
        given = item.get("input")
        if isinstance(given, Mapping):
            if same_input(given, wanted):
                exact.append((distance, task_id))
        elif created is not None and distance <= TIME_WINDOW_SECONDS:
            by_time.append((distance, task_id))
    if exact:
        return HistoryMatch(min(exact)[1], Certainty.EXACT, len(exact))
    if not by_time:
        return None
    certainty = Certainty.BY_TIME if len(by_time) == 1 else Certainty.GUESS
    return HistoryMatch(min(by_time)[1], certainty, len(by_time))


def same_input(candidate: Mapping[str, Any], wanted: Mapping[str, object]) -> bool:
    """Whether a task's input is the wanted one (the API's defaults filled in)."""
    try:
        return (
            candidate.get("prompt") == wanted["prompt"]
            and candidate.get("image") == wanted["image"]
            and str(candidate.get("size", "1280*720")) == wanted["size"]
            and int(candidate.get("duration", 5)) == wanted["duration"]
        )
    except (TypeError, ValueError):
        return False
