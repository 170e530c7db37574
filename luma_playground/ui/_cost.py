"""Cost before you click: the price of the current settings, and the balance that would pay.

The price comes from WaveSpeed's pricing route, asked for one 5 second clip and multiplied out:
billing is per 5 s of video, and whether the route's `unit_price` prices the given duration or
one 5 s block is not documented, so a 5 s input reads the same under both. Prices are cached per
backend, key and size; balances for a short while. Where a figure cannot be had, the line says
so instead of guessing. On the simulator every figure is marked as simulated.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

import gradio as gr

from .._config import MODEL_ID, model_named
from .._errors import LumaPlaygroundError
from .._playground import Backend, Playground
from .._request import Size
from ._format import summary_html
from ._generate import video_count
from ._parts import QUIET, Form, Keys
from ._session import SessionStore, Visit

if TYPE_CHECKING:
    from gradio.events import Dependency

__all__ = ["CostBook", "Quote", "cost_html", "wire"]

#: How long a price is reused before the pricing route is asked again.
PRICE_TTL = 10 * 60.0
#: How long a balance is reused; a finished run asks again at once.
BALANCE_TTL = 60.0
#: A failed look-up is not repeated for this long (the line says the figure is unavailable).
FAILURE_TTL = 15.0
#: The most a price or balance look-up may take before the line gives up on it.
LOOKUP_TIMEOUT = 8.0
#: Settings changes closer together than this are answered once, for the last of them.
DEBOUNCE = 0.3


@dataclass(frozen=True, slots=True)
class Quote:
    """What the next run would cost, and whether the balance covers it."""

    duration: int
    videos: int = 1
    #: USD for one 5 s block of video; None when the price could not be had.
    unit_price: float | None = None
    balance: float | None = None
    simulated: bool = False
    price_problem: str | None = None
    balance_problem: str | None = None
    #: The balance belongs to the playground's owner and is not shown to visitors.
    balance_private: bool = False
    #: USD left of the owner's daily budget for visitors (None when there is no budget).
    budget_left: float | None = None

    @property
    def blocks(self) -> int:
        """How many 5 s blocks one video is billed for."""
        return max(1, -(-self.duration // 5))

    @property
    def per_video(self) -> float | None:
        return None if self.unit_price is None else self.unit_price * self.blocks

    @property
    def total(self) -> float | None:
        return None if self.per_video is None else self.per_video * self.videos

    @property
    def covered(self) -> bool | None:
        """False when the balance is known to be short of the total."""
        if self.total is None or self.balance is None:
            return None
        return self.balance + 1e-9 >= self.total


def _usd(amount: float) -> str:
    return f"{amount:.3f} USD" if 0 < amount < 0.1 else f"{amount:.2f} USD"


def cost_html(quote: Quote) -> str:
    """The cost part of the summary line: total, how it adds up, balance, and any notice."""
    sim = ' <span class="lp-sim-mark">simulated</span>' if quote.simulated else ""
    if quote.total is None or quote.unit_price is None:
        price = (
            '<span class="lp-cost-total">Price unavailable</span>'
            f'<span class="lp-cost-why">{escape(quote.price_problem or "")} '
            "No estimate is shown rather than a guess.</span>"
        )
    else:
        steps = []
        if quote.videos > 1:
            steps.append(f"{quote.videos} videos × {_usd(quote.per_video or 0)}")
        steps.append(f"{_usd(quote.unit_price)} per 5 s")
        price = (
            f'<span class="lp-cost-total">{_usd(quote.total)}</span>'
            f'<span class="lp-cost-how">{escape(" · ".join(steps))}</span>'
        )
    if quote.balance_private:
        left = "" if quote.budget_left is None else f" · {_usd(quote.budget_left)} left today"
        balance = f'<span class="lp-cost-balance">paid by this playground{left}</span>'
    elif quote.balance is not None:
        balance = f'<span class="lp-cost-balance">balance {_usd(quote.balance)}</span>'
    else:
        balance = '<span class="lp-cost-balance">balance unavailable</span>'
    notice = ""
    if quote.covered is False:
        notice = (
            f'<div class="lp-cost-notice" role="alert">Your balance ({_usd(quote.balance or 0)}) '
            f"does not cover this run ({_usd(quote.total or 0)}): top up your WaveSpeed account, "
            "or ask for fewer or shorter videos.</div>"
        )
    covered = {None: "unknown", True: "yes", False: "no"}[quote.covered]
    total = "" if quote.total is None else f"{quote.total:.4f}"
    return (
        f'<div class="lp-cost" data-total="{total}" data-covered="{covered}" '
        f'data-simulated="{str(quote.simulated).lower()}">'
        f'<div class="lp-cost-line">{price}{balance}{sim}</div>{notice}</div>'
    )


def _number(data: dict[str, Any], *names: str) -> float | None:
    for name in names:
        value = data.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
        if isinstance(value, str):
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
    return None


def _problem(error: BaseException, what: str) -> str:
    if isinstance(error, TimeoutError):
        return f"WaveSpeed did not give the {what} in time."
    if isinstance(error, LumaPlaygroundError):
        return f"The {what} could not be fetched: {error.message.rstrip('.')}."
    return f"The {what} could not be read."


class CostBook:
    """Prices and balances as the summary line shows them, cached per backend and key."""

    def __init__(
        self,
        playground: Playground,
        store: SessionStore,
        *,
        clock: Callable[[], float] = time.monotonic,
        debounce: float = DEBOUNCE,
    ) -> None:
        self.playground = playground
        self.store = store
        self.debounce = debounce
        self._clock = clock
        self._prices: dict[tuple[str, ...], tuple[float | None, bool, str | None, float]] = {}
        self._balances: dict[tuple[str, ...], tuple[float | None, bool, str | None, float]] = {}

    # -- handlers -------------------------------------------------------------------------------

    async def summary(
        self,
        size: str | None,
        duration: int | None,
        videos: int | None,
        model: str | None,
        request: gr.Request,
    ) -> str:
        """The summary line with the cost of these settings in this model (after a short debounce)."""
        await asyncio.sleep(self.debounce)
        return await self._summary(size, duration, videos, model, request, fresh_balance=False)

    async def after_run(
        self,
        size: str | None,
        duration: int | None,
        videos: int | None,
        model: str | None,
        request: gr.Request,
    ) -> str:
        """The summary line once a run has ended: the balance is asked for again."""
        return await self._summary(size, duration, videos, model, request, fresh_balance=True)

    async def _summary(
        self,
        size: str | None,
        duration: int | None,
        videos: int | None,
        model: str | None,
        request: gr.Request,
        *,
        fresh_balance: bool,
    ) -> str:
        count = video_count(videos)
        try:
            size_value = Size.parse(size).value
            seconds = int(duration or 5)
            model_id = model_named(model or MODEL_ID).id
        except (LumaPlaygroundError, TypeError, ValueError):
            return summary_html(size, duration, videos=count)
        visit = self.store.visit(request)
        fresh = fresh_balance
        quote = await self.quote(visit, size_value, seconds, count, fresh_balance=fresh, model=model_id)
        return summary_html(size_value, seconds, videos=count, cost=cost_html(quote))

    # -- figures --------------------------------------------------------------------------------

    async def quote(
        self,
        visit: Visit,
        size: str,
        duration: int,
        videos: int = 1,
        *,
        fresh_balance: bool = False,
        model: str = MODEL_ID,
    ) -> Quote:
        """The cost of `videos` videos of this size, duration and model, for whoever pays for `visit`."""
        backend, key = self.playground.backend_for(visit.user_key)
        if key is None:
            return Quote(
                duration,
                videos,
                price_problem="Enter your WaveSpeed key to see prices.",
                balance_problem="no key",
            )
        owner = key.fingerprint
        private = self.store.spends_owner_credits(visit)
        price_task = self._price(backend, owner, key, size, model)
        if private:
            unit_price, sim_price, price_problem = await price_task
            balance, sim_balance, balance_problem = None, False, None
        else:
            (
                (unit_price, sim_price, price_problem),
                (balance, sim_balance, balance_problem),
            ) = await asyncio.gather(price_task, self._balance(backend, owner, key, fresh_balance))
        return Quote(
            duration,
            videos,
            unit_price,
            balance,
            simulated=backend.simulated or sim_price or sim_balance,
            price_problem=price_problem,
            balance_problem=balance_problem,
            balance_private=private,
            budget_left=self.playground.spend.left_today() if private else None,
        )

    async def _price(
        self, backend: Backend, owner: str, key: Any, size: str, model: str
    ) -> tuple[float | None, bool, str | None]:
        slot = (backend.name, backend.client.base_url, owner, size, model)

        async def ask() -> tuple[float | None, bool, str | None]:
            data = await backend.client.price({"size": size, "duration": 5}, api_key=key, model=model)
            price = _number(data, "unit_price", "price")
            if price is None:
                return None, False, "WaveSpeed's pricing answer had no price in it."
            if not backend.simulated:  # the spend guard reserves what the line shows
                self.playground.spend.note_price(size, price, model)
            return price, bool(data.get("simulated")), None

        return await self._cached(self._prices, slot, ask, PRICE_TTL, "price")

    async def _balance(
        self, backend: Backend, owner: str, key: Any, fresh: bool
    ) -> tuple[float | None, bool, str | None]:
        slot = (backend.name, backend.client.base_url, owner)
        if fresh:
            self._balances.pop(slot, None)

        async def ask() -> tuple[float | None, bool, str | None]:
            data = await backend.client.balance(api_key=key)
            amount = _number(data, "balance", "amount")
            if amount is None:
                return None, False, "WaveSpeed's balance answer had no amount in it."
            return amount, bool(data.get("simulated")), None

        return await self._cached(self._balances, slot, ask, BALANCE_TTL, "balance")

    async def _cached(
        self,
        book: dict[tuple[str, ...], tuple[float | None, bool, str | None, float]],
        slot: tuple[str, ...],
        ask: Callable[[], Any],
        ttl: float,
        what: str,
    ) -> tuple[float | None, bool, str | None]:
        now = self._clock()
        if slot in book:
            value, simulated, problem, at = book[slot]
            if now - at <= (ttl if problem is None else FAILURE_TTL):
                return value, simulated, problem
        try:
            value, simulated, problem = await asyncio.wait_for(ask(), LOOKUP_TIMEOUT)
        except (LumaPlaygroundError, TimeoutError) as error:
            value, simulated, problem = None, False, _problem(error, what)
        book[slot] = (value, simulated, problem, self._clock())
        return value, simulated, problem


def wire(
    demo: gr.Blocks,
    cost: CostBook,
    form: Form,
    count: gr.Radio,
    keys: Keys,
    *,
    runs: list[Dependency],
) -> None:
    """Keep the summary line's cost up to date with the settings, the key and finished runs."""
    settings = [form.size, form.duration, count, form.model]
    changes = (form.size.change, form.duration.change, count.change, form.model.change)
    for trigger in (*changes, keys.badge.change, keys.key.blur):
        trigger(cost.summary, settings, [form.summary], trigger_mode="always_last", **QUIET)
    demo.load(cost.summary, settings, [form.summary], **QUIET)
    # A finished run (of one video or several) has changed the balance.
    for run in runs:
        run.then(cost.after_run, settings, [form.summary], **QUIET)
