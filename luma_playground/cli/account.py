"""The command line's account commands: `price`, `enhance` and `cancel`, as the API has them."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .._errors import InvalidRequest
from .._features.suggestions import STYLES, suggest_prompt
from .._guard.limits import Caller
from .._request import GenerationRequest, check_task_id
from .common import (
    DURATION_DEFAULT,
    MODEL_DEFAULT,
    SIZE_DEFAULT,
    DurationOption,
    ModelOption,
    SizeOption,
    operator_picture,
)
from .tasks import EXIT_OK, OWNER, AsJson, Simulate, Verbose, _playground, _print_json, _run

__all__ = ["cancel", "enhance", "price"]


def _number(data: dict[str, Any], *names: str) -> float | None:
    for name in names:
        value = data.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def price(
    size: SizeOption = SIZE_DEFAULT,
    duration: DurationOption = DURATION_DEFAULT,
    count: Annotated[int, typer.Option(help="How many videos (1 to 4).", min=1, max=4)] = 1,
    model: ModelOption = MODEL_DEFAULT,
    as_json: AsJson = False,
    simulate: Simulate = False,
    verbose: Verbose = False,
) -> None:
    """Show what a run would cost, and the key's balance, before anything is spent."""

    async def main() -> int:
        # Checked like a request, with a stand-in picture: nothing is fetched.
        settings = GenerationRequest.create(
            "https://example.com/picture.jpg", "price", size=size, duration=duration, model=model
        )
        async with _playground(simulate) as playground:
            backend, key = playground.backend_for(None)
            asked = {"size": settings.size.value, "duration": 5}
            quote = await backend.client.price(asked, api_key=key, model=settings.model)
            balance = await backend.client.balance(api_key=key)
        unit = _number(quote, "unit_price", "price")
        if unit is None:
            raise InvalidRequest("WaveSpeed's pricing answer had no price in it.")
        per_video = unit * (settings.duration // 5)
        answer = {
            "model": settings.model,
            "size": settings.size.value,
            "duration": settings.duration,
            "count": count,
            "usd_per_video": per_video,
            "usd_total": per_video * count,
            "balance_usd": _number(balance, "balance", "amount"),
            "simulated": backend.simulated,
        }
        if as_json:
            _print_json(answer)
        else:
            balance_text = "unknown" if answer["balance_usd"] is None else f"{answer['balance_usd']:.2f} USD"
            print(
                f"{count} x {settings.duration} s at {settings.size.value}: {per_video * count:.2f} USD "
                f"({per_video:.2f} USD a video); balance {balance_text}"
                + (" (simulated)" if backend.simulated else "")
            )
        return EXIT_OK

    _run(main, verbose)


def enhance(
    prompt: Annotated[str, typer.Argument(help="Your prompt, a few words at least.")],
    image: Annotated[
        str | None, typer.Option("--image", "-i", help="A picture (file or public URL) the prompt is for.")
    ] = None,
    style: Annotated[str, typer.Option(help=f"One of {', '.join(STYLES)}.")] = "default",
    as_json: AsJson = False,
    simulate: Simulate = False,
    verbose: Verbose = False,
) -> None:
    """Ask WaveSpeed's prompt optimizer for a fuller video prompt; print the suggestion."""
    if style not in STYLES:
        raise typer.BadParameter(f"the style must be one of {', '.join(STYLES)}")

    async def main() -> int:
        words = " ".join(prompt.split())
        async with _playground(simulate) as playground:
            # The picture is fetched (a URL) and checked like a generation's, then uploaded once.
            picture = operator_picture(image) if image else None
            suggestion = await suggest_prompt(playground, words, Caller(OWNER), image=picture, style=style)
        if as_json:
            _print_json({"prompt": suggestion.text, "style": style, "used_picture": suggestion.used_picture})
        else:
            print(suggestion.text)
        return EXIT_OK

    _run(main, verbose)


def cancel(
    task_id: Annotated[str, typer.Argument(help="The task to cancel.")],
    as_json: AsJson = False,
    simulate: Simulate = False,
    verbose: Verbose = False,
) -> None:
    """Ask WaveSpeed to cancel a running task and say how it ended (a request, not a refund).

    WaveSpeed may finish the task anyway: then it is charged and its video is saved.
    """

    async def main() -> int:
        wanted = check_task_id(task_id)
        async with _playground(simulate) as playground:
            note = await playground.cancel_task(wanted, Caller(OWNER))
            record = playground.journal.by_task_id(wanted)
        state = record.state if record is not None else None
        if as_json:
            _print_json({"task_id": wanted, "note": note, "state": state})
        else:
            print(note)
        return EXIT_OK

    _run(main, verbose)
