"""Prompt suggestions from WaveSpeed's prompt optimizer (video mode), for every face.

A suggestion is a paid call like a video: on a shared deployment the owner's key answers only
through the `Gate` (sign-in when required, the daily budget, each identity's daily count). The
picture, when there is one, is fetched and checked like a generation's and uploaded once; the
same upload serves the generation that follows.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._errors import InvalidRequest
from .._guard.limits import Caller
from .._pictures.sources import Picture
from .._playground import Playground
from .._request import check_prompt

__all__ = ["STYLES", "Suggestion", "check_words", "suggest_prompt"]

#: The optimizer's styles, as its route names them.
STYLES = ("default", "artistic", "photographic", "technical", "anime", "realistic")


@dataclass(frozen=True, slots=True)
class Suggestion:
    """What the optimizer suggested, in which style, and from what."""

    text: str
    style: str
    used_picture: bool
    simulated: bool


def check_words(prompt: str | None) -> str:
    """The prompt to improve, trimmed; `InvalidRequest` when there is nothing to start from."""
    if not prompt or not prompt.strip():
        raise InvalidRequest(
            "Write a few words first: the optimizer improves your prompt, it does not start from nothing.",
            field="prompt",
        )
    return check_prompt(prompt).strip()


async def suggest_prompt(
    playground: Playground,
    prompt: str | None,
    caller: Caller,
    *,
    image: str | Picture | None = None,
    style: str | None = "default",
) -> Suggestion:
    """A fuller prompt for the caller, from their words and (optionally) a picture.

    `image` is a URL, a data URI or a `Picture`. Bad input is refused before anything is
    paid; on the owner's key the gate admits the call first and a failed call is not counted
    against the day's budget.
    """
    text = check_words(prompt)
    style = style if isinstance(style, str) and style in STYLES else "default"
    picture = await playground.prepare_picture(image) if image else None
    async with playground.gate.suggestion(
        playground.settings, caller, paid=playground.pays_owner(caller.user_key)
    ):
        backend, key = playground.backend_for(caller.user_key)
        image_url = (
            await playground.uploads.url_for(backend.client, key, str(picture.path)) if picture else None
        )
        words = await backend.client.optimize_prompt(text, image_url=image_url, style=style, api_key=key)
    return Suggestion(" ".join(words.split()), style, image_url is not None, backend.simulated)
