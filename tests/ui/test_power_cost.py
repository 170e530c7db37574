"""Cost before you click: prices multiplied out, balances, notices, caching, and no guessing."""

from __future__ import annotations

from pathlib import Path

import pytest

from luma_playground import ApiKey, Playground, Settings
from luma_playground._wavespeed.retry import RetryPolicy
from luma_playground.ui._cost import CostBook, Quote, cost_html
from luma_playground.ui._generate import Handlers
from luma_playground.ui._session import SessionStore

from .conftest import SERVER_KEY, fake_request

pytestmark = pytest.mark.anyio


def book_for(handlers: Handlers) -> CostBook:
    return CostBook(handlers.playground, handlers.store, debounce=0)


def test_price_is_multiplied_by_blocks_and_videos() -> None:
    """10 s is two 5 s blocks; three videos triple it; the balance check uses the total."""
    quote = Quote(duration=10, videos=3, unit_price=0.5, balance=2.0)
    assert (quote.blocks, quote.per_video, quote.total) == (2, 1.0, 3.0)
    assert quote.covered is False
    assert Quote(duration=5, unit_price=0.5, balance=0.5).covered is True
    assert Quote(duration=5, unit_price=None, balance=0.1).covered is None


def test_the_line_says_what_it_cannot_know() -> None:
    """No price: no number at all, a reason instead; a short balance: a clear notice."""
    unknown = cost_html(Quote(duration=5, price_problem="The price could not be fetched."))
    assert "Price unavailable" in unknown and "USD" not in unknown.split("lp-cost-balance")[0]
    short = cost_html(Quote(duration=10, videos=2, unit_price=0.5, balance=1.5, simulated=True))
    assert "2.00 USD" in short and "2 videos × 1.00 USD" in short and "0.50 USD per 5 s" in short
    assert "does not cover this run" in short and 'data-covered="no"' in short
    assert "simulated" in short


async def test_summary_from_the_pricing_route(handlers: Handlers, sim) -> None:  # type: ignore[no-untyped-def]
    """The summary line carries the route's price times duration and videos, and the balance."""
    book = book_for(handlers)
    line = await book.summary("720*1280", 10, 2, None, fake_request())
    assert "720×1280 portrait · 10 s · 2 videos" in line
    assert 'data-total="2.0000"' in line and "balance 100.00 USD" in line
    assert 'data-simulated="true"' in line  # the simulator marks its figures


async def test_prices_are_cached_per_key_and_size(handlers: Handlers, sim) -> None:  # type: ignore[no-untyped-def]
    """Changing duration or videos asks nothing new; a new size or key asks once more."""
    book = book_for(handlers)
    for duration, videos in [(5, 1), (10, 1), (10, 4), (5, 2)]:
        await book.summary("1280*720", duration, videos, None, fake_request())
    assert sim.control.stats()["routes"]["price"] == 1
    assert sim.control.stats()["routes"]["balance"] == 1
    await book.summary("720*1280", 5, 1, None, fake_request())
    handlers.store.set_key("tab-2", "sk-someone-else-000001")
    await book.summary("720*1280", 5, 1, None, fake_request("tab-2"))
    assert sim.control.stats()["routes"]["price"] == 3
    await book.after_run("720*1280", 5, 1, None, fake_request("tab-2"))  # a run ended: balance again
    assert sim.control.stats()["routes"]["balance"] == 3


async def test_low_balance_is_noticed(handlers: Handlers, sim) -> None:  # type: ignore[no-untyped-def]
    """A balance below the total gets a notice before anything is clicked."""
    sim.control.set_account(SERVER_KEY, balance=0.75)
    line = await book_for(handlers).summary("1280*720", 5, 2, None, fake_request())
    assert "Your balance (0.75 USD) does not cover this run (1.00 USD)" in line


async def test_a_failing_pricing_route_is_said(handlers: Handlers, sim) -> None:  # type: ignore[no-untyped-def]
    """The pricing route answers 500s: the line says the price is unavailable, guesses nothing."""
    for route in ("price", "pricing"):  # both pricing routes fail
        sim.control.add_fault(route, "status", status=500, count=50)
    line = await book_for(handlers).summary("1280*720", 10, 3, None, fake_request())
    assert "Price unavailable" in line and 'data-total=""' in line
    assert "balance 100.00 USD" in line


async def test_owner_balance_stays_private_on_shared_deployments(sim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Visitors of a shared playground see the price but never the owner's balance."""
    settings = Settings(base_url=sim.base_url, api_key=ApiKey(SERVER_KEY), data_dir=tmp_path, share=True)
    playground = Playground.open(settings, retry=RetryPolicy(scale=0), start_simulator=False)
    try:
        assert settings.shared
        line = await CostBook(playground, SessionStore(playground), debounce=0).summary(
            "1280*720", 5, 1, None, fake_request()
        )
    finally:
        await playground.aclose()
    assert "0.50 USD" in line and "paid by this playground" in line and "100.00" not in line
    assert sim.control.stats()["routes"].get("balance", 0) == 0
