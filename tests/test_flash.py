"""Ray 2 Flash below the faces: its route, its price, its budget, who may use it, its own timings."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from luma_playground import ApiKey, GenerationRequest, Journal, Playground, Settings
from luma_playground._config import RAY_2, RAY_2_FLASH
from luma_playground._guard.limits import BudgetSpent, Caller, ModelNotServed
from luma_playground._journal.schema import MIGRATIONS
from luma_playground._pictures.sources import Picture
from luma_playground._run.timings import learnt_timings
from luma_playground._wavespeed.polling import AdaptiveSchedule
from luma_playground._wavespeed.retry import RetryPolicy
from luma_playground.simulator import SimulatorServer

pytestmark = pytest.mark.anyio
OWNER_KEY = "sk-owner-flash"
FLASH, RAY = RAY_2_FLASH.id, RAY_2.id
#: A visitor of a shared deployment who brought no key of their own.
VISITOR = Caller("session:visitor", layers=("session:visitor",))


def _open(sim: SimulatorServer, data_dir: Path, **changes: object) -> Playground:
    settings = Settings(data_dir=data_dir, base_url=sim.base_url, api_key=ApiKey(OWNER_KEY))
    settings = settings.with_changes(**changes)
    return Playground.open(settings, retry=RetryPolicy(attempts=2, scale=0), start_simulator=False)


@pytest.fixture
async def playground(sim: SimulatorServer, tmp_path: Path) -> AsyncIterator[Playground]:
    """The owner's playground on the simulator, private."""
    opened = _open(sim, tmp_path)
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
async def shared(sim: SimulatorServer, tmp_path: Path) -> AsyncIterator[Playground]:
    """A shared deployment whose key serves Flash only, with a budget of 0.60 USD a day."""
    settings = Settings.from_env(
        {
            "WAVESPEED_BASE_URL": sim.base_url,
            "WAVESPEED_API_KEY": OWNER_KEY,
            "LUMA_PLAYGROUND_HOME": str(tmp_path),
            "LUMA_PLAYGROUND_SHARED": "1",
            "LUMA_PLAYGROUND_MODELS": "flash",
            "LUMA_PLAYGROUND_DAILY_BUDGET": "0.6",
            "LUMA_PLAYGROUND_SESSION_RUNNING": "10",
        }
    )
    opened = Playground.open(settings, retry=RetryPolicy(attempts=2, scale=0), start_simulator=False)
    try:
        yield opened
    finally:
        await opened.aclose()


def _request(image: Path, duration: int = 5) -> GenerationRequest:
    return GenerationRequest.create(Picture.from_operator_file(image), "a drifting boat", duration=duration)


async def test_a_flash_video_goes_to_its_route_at_its_price(sim, playground, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """A Flash start submits to the Flash route, costs 0.20 per 5 s there, and its row names Flash."""
    (job,) = await playground.start(_request(landscape_image, duration=10), Caller(), model="flash")
    done = await job.wait()
    task = sim.control.task(done.task_id)
    assert (task["model"], task["price"]) == (FLASH, pytest.approx(0.40))
    assert sim.control.stats()["routes"]["submit"] == 1
    record = playground.journal.by_task_id(done.task_id)
    assert record is not None and (record.model, record.duration) == (FLASH, 10)
    client = playground.remote.client
    flash = await client.price({"size": "1280*720", "duration": 5}, model=FLASH)
    ray = await client.price({"size": "1280*720", "duration": 5})
    assert (flash["unit_price"], ray["unit_price"]) == (pytest.approx(0.2), pytest.approx(0.5))


async def test_the_simulator_serves_flash_like_ray_2(sim) -> None:  # type: ignore[no-untyped-def]
    """Flash is listed, priced on both price routes, and checks its inputs like Ray 2."""
    headers = {"Authorization": f"Bearer {OWNER_KEY}"}
    async with httpx.AsyncClient(base_url=sim.base_url, headers=headers) as http:
        listed = (await http.get("/api/v3/models")).json()["data"]
        body = {"model_id": FLASH, "inputs": {"duration": 10}}
        pricing = (await http.post("/api/v3/model/pricing", json=body)).json()["data"]
        price = (await http.post("/api/v3/model/price", json=body)).json()["data"]
        refused = await http.post(
            f"/api/v3/{FLASH}", json={"image": "https://x/a.png", "prompt": "p", "size": "1*1"}
        )
    assert {item["model_id"]: item["base_price"] for item in listed}[FLASH] == pytest.approx(0.2)
    assert pricing["unit_price"] == pytest.approx(0.4) and price["price"] == pytest.approx(0.4)
    assert refused.status_code == 400 and "size" in refused.json()["message"]


async def test_a_shared_key_reserves_flash_at_its_price(sim, shared, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """On the owner's key three Flash videos fit a 0.60 budget (three Ray 2 would not), then it is spent."""
    jobs = await shared.start(_request(landscape_image), VISITOR, count=3, model="flash")
    assert shared.spend.spent_today() == pytest.approx(0.60)
    for job in jobs:
        await job.wait()
    with pytest.raises(BudgetSpent):
        await shared.start(_request(landscape_image), VISITOR, model="flash")
    assert [task["model"] for task in sim.control.tasks()] == [FLASH] * 3


async def test_flash_only_refuses_ray_2_unless_the_visitor_pays(sim, shared, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """Models `flash`: the owner's key refuses Ray 2 in one sentence; a visitor's own key gets it."""
    assert shared.settings.models == (FLASH,)
    with pytest.raises(ModelNotServed) as refused:
        await shared.start(_request(landscape_image), VISITOR)
    assert str(refused.value) == (
        "This playground serves Ray 2 Flash only on its own key; enter your own WaveSpeed key to use Ray 2."
    )
    assert sim.control.stats()["total"] == 0 and shared.spend.spent_today() == 0
    own = Caller("session:visitor", user_key=ApiKey("sk-visitor-own"), layers=VISITOR.layers)
    (job,) = await shared.start(_request(landscape_image), own, model="ray-2")
    done = await job.wait()
    assert sim.control.task(done.task_id)["model"] == RAY and shared.spend.spent_today() == 0


def test_the_models_setting_names_models_it_knows() -> None:
    """`LUMA_PLAYGROUND_MODELS` takes short names or ids (both when unset) and refuses others."""
    assert Settings.from_env({}).models == (RAY, FLASH)
    assert Settings.from_env({"LUMA_PLAYGROUND_MODELS": f" {FLASH}, ray-2 "}).models == (FLASH, RAY)
    with pytest.raises(ValueError, match="LUMA_PLAYGROUND_MODELS must list some of ray-2, flash"):
        Settings.from_env({"LUMA_PLAYGROUND_MODELS": "ray-3"})


async def test_timings_are_learnt_per_model(sim, playground, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """Flash times teach Flash schedules only; a new pipeline reads them back per model from the journal."""
    jobs = await playground.start(_request(landscape_image), Caller(), count=4, model="flash")
    for job in jobs:
        await job.wait()
    history = playground.remote.pipeline.history
    flash = history.samples("1280*720", 5, FLASH)
    assert len(flash) == 4 and history.samples("1280*720", 5, RAY) == []
    learnt = learnt_timings(playground.journal, "wavespeed", sim.base_url)
    assert learnt.samples("1280*720", 5, FLASH) == flash and learnt.samples("1280*720", 5, RAY) == []
    ray = AdaptiveSchedule.for_task(learnt, "1280*720", 5, model=RAY)
    drafted = AdaptiveSchedule.for_task(learnt, "1280*720", 5, model=FLASH)
    for schedule in (ray, drafted):
        schedule.next_delay("processing", 1.0)
    assert ray.expected_total() is None and drafted.expected_total() is not None


def test_an_old_journal_names_its_rows_ray_2(tmp_path: Path) -> None:
    """A journal of four migrations opens with Ray 2 as its old tasks', batch rows' and shots' model."""
    path = tmp_path / "journal.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    for migration in MIGRATIONS[:4]:
        migration(db)
        db.execute("INSERT INTO migrations VALUES (?, 0)", (migration.__name__.lstrip("_"),))
    db.execute(
        "INSERT INTO tasks (model, backend, base_url, prompt, size, duration, state, created_at, updated_at) "
        "VALUES ('', 'wavespeed', 'http://x', 'p', '1280*720', 5, 'completed', 0, 0)"
    )
    db.execute("INSERT INTO batches (state, created_at, updated_at) VALUES ('done', 0, 0)")
    db.execute(
        "INSERT INTO batch_rows (batch_id, position, image, prompt, size, duration, state, updated_at) "
        "VALUES (1, 0, 'a.png', 'p', '1280*720', 5, 'done', 0)"
    )
    db.execute("INSERT INTO shots (state, planned, created_at, updated_at) VALUES ('done', 1, 0, 0)")
    db.commit()
    db.close()
    journal = Journal(path)
    try:
        assert "m005_models" in journal.applied_migrations()
        assert journal.history()[0].model == RAY
        tables = ("batch_rows", "shots")
        models = journal.query(lambda db: [db.execute(f"SELECT model FROM {t}").fetchone() for t in tables])
        assert models == [(RAY,), (RAY,)]
    finally:
        journal.close()
