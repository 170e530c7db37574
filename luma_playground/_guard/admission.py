"""What the server's key lets through on a shared deployment: sign-in, the daily budget, the limits.

Every paid call on the owner's key passes the `Gate` first, whatever face it comes from: the
videos of a start (`admit_videos`) and a prompt suggestion (`suggestion`). Each refusal is one
sentence that says a visitor's own key goes on; a visitor who brings their own key never comes
here.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from .._config import MODEL_ID, Settings, model_named
from .._request import GenerationRequest
from .limits import Caller, LimitReached, LoginRequired, ModelNotServed, VisitorLimits
from .spend import OPTIMIZER_PRICE, SpendGuard

__all__ = ["Gate"]


class Gate:
    """Admits paid calls on the owner's key: sign-in first, then the budget, then the limits."""

    def __init__(self, spend: SpendGuard, limits: VisitorLimits, running_as: Callable[[str], int]) -> None:
        self.spend = spend
        self.limits = limits
        #: How many jobs an identity layer has running now.
        self.running_as = running_as

    @staticmethod
    def require_login(settings: Settings, caller: Caller) -> None:
        """Refuse a visitor who is not signed in when the owner's key serves signed-in visitors only."""
        if settings.require_login and caller.login is None:
            raise LoginRequired(
                "This playground's own key serves signed-in visitors only: sign in, or enter your "
                "own WaveSpeed key."
            )

    @staticmethod
    def require_model(settings: Settings, model: str) -> None:
        """Refuse a model the owner's key does not serve to visitors (`LUMA_PLAYGROUND_MODELS`)."""
        if settings.serves(model):
            return
        served = " and ".join(model_named(served).label for served in settings.models) or "no model"
        raise ModelNotServed(
            f"This playground serves {served} only on its own key; enter your own WaveSpeed key "
            f"to use {model_named(model).label}."
        )

    async def admit_videos(
        self,
        settings: Settings,
        request: GenerationRequest,
        caller: Caller,
        count: int,
        model: str = MODEL_ID,
    ) -> list[int]:
        """Let `count` videos of `model` through, or raise; returns the budget's reservations for them."""
        self.require_login(settings, caller)
        self.require_model(settings, model)
        reservations = []
        if self.spend.active:
            price = self.spend.price(request.size.value, request.duration, model)
            reservations = await self.spend.reserve(price, count)
        try:
            # No pause between the checks and the records: two starts at once cannot both pass.
            for layer in caller.limited_as:
                self.limits.check(settings, layer, self.running_as(layer), count)
        except LimitReached:
            self.spend.release(reservations)
            raise
        for layer in caller.limited_as:
            self.limits.record(layer, count)
        return reservations

    @contextlib.asynccontextmanager
    async def suggestion(self, settings: Settings, caller: Caller, *, paid: bool) -> AsyncIterator[None]:
        """Around one prompt suggestion: admitted first when the owner's key pays (`paid`).

        Its price is reserved for today and kept when the optimizer answers; a call that fails
        or is cancelled gives it back. The day's count of suggestions is kept either way.
        """
        if not paid:
            yield
            return
        self.require_login(settings, caller)
        reservations = await self.spend.reserve(OPTIMIZER_PRICE, 1) if self.spend.active else []
        try:
            self.limits.take_suggestion(settings, caller.limited_as)
            yield
        except BaseException:
            self.spend.release(reservations)
            raise
