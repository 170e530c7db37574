"""Sample pictures that ship with the playground (drawn for it, free to use), with a prompt each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["EXAMPLES", "FOLDER", "Example"]

FOLDER = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class Example:
    """One sample: its picture, a prompt that suits it, and the size and duration to try."""

    filename: str
    prompt: str
    size: str
    duration: int

    @property
    def path(self) -> Path:
        return FOLDER / self.filename


EXAMPLES = (
    Example(
        "mountain-lake.jpg",
        "A slow cinematic push-in over a calm mountain lake at sunset; gentle ripples spread "
        "across the water and the sun sinks behind the peaks.",
        "1280*720",
        5,
    ),
    Example(
        "aurora-forest.jpg",
        "The green aurora ripples and sways across the starry sky while the camera tilts up "
        "slowly from the pine trees.",
        "720*1280",
        5,
    ),
    Example(
        "desert-dunes.jpg",
        "Wind lifts fine sand off the crests of the dunes; a smooth aerial glide towards the "
        "low golden sun, with long shadows shifting.",
        "1280*720",
        10,
    ),
)
