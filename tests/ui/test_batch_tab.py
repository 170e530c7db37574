"""The Batch tab's handlers on the simulator: preview and price, 12 rows 3 at once, the zip, a restart."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from luma_playground import ApiKey, Playground, Settings
from luma_playground._config import RAY_2, RAY_2_FLASH
from luma_playground._wavespeed.retry import RetryPolicy
from luma_playground.simulator import key_fingerprint
from luma_playground.ui._batch_tab import HEADERS, BatchHandlers
from luma_playground.ui._gradio_compat import upload_folder
from luma_playground.ui._session import SessionStore

from .conftest import SERVER_KEY, fake_request

VISITOR_KEY = "sk-visitor-batch-key-0002"

pytestmark = pytest.mark.anyio
STATE, NOTE, MODEL = HEADERS.index("state"), HEADERS.index("note"), HEADERS.index("model")
RAY, FLASH = RAY_2.id, RAY_2_FLASH.id


def _handlers(sim, data_dir: Path) -> BatchHandlers:  # type: ignore[no-untyped-def]
    settings = Settings(base_url=sim.base_url, api_key=ApiKey(SERVER_KEY), data_dir=data_dir, tasks_per_key=3)
    playground = Playground.open(settings, retry=RetryPolicy(scale=0), start_simulator=False)
    return BatchHandlers(playground, SessionStore(playground), tick=0.05)


def _pictures(folder: Path, image: Path, count: int) -> list[str]:
    """`count` copies of `image` where Gradio keeps a visitor's uploads (the tab takes only those)."""
    folder = upload_folder() / folder.parent.name
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for n in range(count):
        path = folder / f"picture-{n:02d}.png"
        path.write_bytes(image.read_bytes())
        names.append(str(path))
    return names


async def _until(updates: Any, done: Any) -> tuple[Any, ...]:
    async for update in updates:
        if done(update):
            return tuple(update)
    raise AssertionError("the batch ended before the awaited update")


async def test_twelve_pictures_run_three_at_once_and_zip_up(sim, tmp_path, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """Preview shows 12 rows at 6.00 USD; confirmed, at most 3 run at once; the zip holds all 12."""
    sim.control.set_limits(submits_per_minute=None, concurrent_tasks=3)
    handlers = _handlers(sim, tmp_path / "home")
    try:
        pictures = _pictures(tmp_path / "in", landscape_image, 12)
        table, price, confirm = await handlers.preview(
            pictures, None, "slow zoom", "1280*720", 5, fake_request()
        )
        assert [row[0] for row in table] == list(range(1, 13)) and table[0][STATE] == "to start"
        assert "12 videos, 12 x 5 s at 0.50 USD = 6.00 USD" in price and confirm["visible"] is True
        updates = [update async for update in handlers.confirm(fake_request())]
    finally:
        await handlers.playground.aclose()
    status, table, gallery, download, *_ = updates[-1]
    assert "Batch done: 12 videos" in status and 'data-tone="done"' in status
    assert [row[STATE] for row in table] == ["done"] * 12 and len(gallery) == 12
    assert any("waiting" in update[0] and "9 waiting" in update[0] for update in updates)
    with zipfile.ZipFile(download["value"]) as bundle:
        names = bundle.namelist()
        assert len(names) == 12 and all(bundle.getinfo(name).file_size > 1000 for name in names)
    usage = sim.control.limits()["keys"][key_fingerprint(SERVER_KEY)]
    assert usage["peak_active"] == 3 and usage["submits"] == 12


async def test_the_preview_prices_at_the_contract_when_pricing_fails(sim, tmp_path, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """With the pricing route down, the preview still shows a total: the contract's, as an estimate."""
    for route in ("price", "pricing"):  # both pricing routes fail
        sim.control.add_fault(route, "status", status=503, count=-1)
    handlers = _handlers(sim, tmp_path / "home")
    try:
        pictures = _pictures(tmp_path / "in", landscape_image, 3)
        _, price, confirm = await handlers.preview(pictures, None, "zoom", "720*1280", 10, fake_request())
    finally:
        await handlers.playground.aclose()
    assert "3 videos, 6 x 5 s at 0.50 USD = 3.00 USD" in price and 'data-total="3.0"' in price
    assert "estimated, the pricing route gave no price" in price and confirm["visible"] is True
    assert sim.control.faults()[0]["applied"] > 0


async def test_confirm_without_a_preview_is_refused(sim, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Confirm with nothing previewed says so, and nothing starts."""
    handlers = _handlers(sim, tmp_path)
    try:
        with pytest.raises(gr.Error, match="Press Preview first"):
            [update async for update in handlers.confirm(fake_request())]
        with pytest.raises(gr.Error, match="The batch has no rows"):
            await handlers.preview([], None, "a prompt", "1280*720", 5, fake_request())
    finally:
        await handlers.playground.aclose()
    assert sim.control.tasks() == []


async def test_a_restarted_server_resumes_the_batch_as_it_starts(sim, tmp_path, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """Stopped with rows running and waiting, the batch goes on at start-up; the page shows it: 12 submits."""
    sim.control.set_limits(submits_per_minute=None, concurrent_tasks=3)
    first = _handlers(sim, tmp_path / "home")
    await first.preview(
        _pictures(tmp_path / "in", landscape_image, 12), None, "again", "1280*720", 10, fake_request()
    )
    following = first.confirm(fake_request())
    await _until(
        following, lambda update: sum(1 for row in update[1] if row[STATE] == "running" and row[NOTE]) == 3
    )
    await following.aclose()
    await first.playground.aclose()
    assert 3 <= sim.control.limits()["keys"][key_fingerprint(SERVER_KEY)]["submits"] < 12

    second = _handlers(sim, tmp_path / "home")
    try:
        await second.playground.resume_at_startup()
        [run] = second.playground.batches.runs.values()
        assert not run.finished  # going on with no page open
        updates = [update async for update in second.on_load(fake_request("tab-2"))]
    finally:
        await second.playground.aclose()
    assert any("Batch: " in update[0] for update in updates)
    assert "Batch done: 12 videos" in updates[-1][0] and len(updates[-1][2]) == 12
    tasks = [t for t in sim.control.tasks() if t["key_fingerprint"] == key_fingerprint(SERVER_KEY)]
    # The pictures and prompt are alike, so the simulator's submits per input would count all 12.
    assert len(tasks) == 12 and sim.control.limits()["keys"][key_fingerprint(SERVER_KEY)]["submits"] == 12


async def test_a_visitors_batch_waits_for_their_key_after_a_restart(sim, tmp_path, landscape_image) -> None:  # type: ignore[no-untyped-def]
    """A batch of a visitor's key is left paused at start-up, and goes on once that key is entered."""
    first = _handlers(sim, tmp_path / "home")
    first.store.set_key("tab-1", VISITOR_KEY)
    await first.preview(
        _pictures(tmp_path / "in", landscape_image, 5), None, "mine", "1280*720", 10, fake_request()
    )
    following = first.confirm(fake_request())
    await _until(following, lambda update: any(row[STATE] == "running" and row[NOTE] for row in update[1]))
    await following.aclose()
    await first.playground.aclose()
    submitted = sim.control.limits()["keys"][key_fingerprint(VISITOR_KEY)]["submits"]

    second = _handlers(sim, tmp_path / "home")
    try:
        await second.playground.resume_at_startup()
        assert second.playground.batches.runs == {}
        [paused] = [update async for update in second.on_load(fake_request("tab-2"))]
        assert "Batch paused" in paused[0] and "key that started it" in paused[0]
        assert sim.control.limits()["keys"][key_fingerprint(VISITOR_KEY)]["submits"] == submitted
        updates = [update async for update in second.resume_for_key(VISITOR_KEY, fake_request("tab-2"))]
    finally:
        await second.playground.aclose()
    # The rows' table (state and note of each) says what became of a row that did not end done.
    assert "Batch done: 5 videos" in updates[-1][0] and len(updates[-1][2]) == 5, updates[-1][1]
    assert sim.control.limits()["keys"][key_fingerprint(VISITOR_KEY)]["submits"] == 5


async def test_the_tabs_model_makes_every_row_but_where_a_csv_names_one(
    sim, tmp_path, landscape_image
) -> None:  # type: ignore[no-untyped-def]
    """Flash on the tab: pictures preview and run in Flash at its price; a CSV's model cell overrides it."""
    handlers = _handlers(sim, tmp_path / "home")
    pictures = _pictures(tmp_path / "in", landscape_image, 2)
    rows_csv = upload_folder() / tmp_path.name / "rows.csv"
    rows_csv.parent.mkdir(parents=True, exist_ok=True)
    first, second = (Path(picture).name for picture in pictures)
    rows_csv.write_text(f"image,prompt,model\n{first},in Ray 2,{RAY}\n{second},as the tab says,\n")
    try:
        table, price, _ = await handlers.preview(pictures, None, "zoom", "1280*720", 5, fake_request(), FLASH)
        updates = [update async for update in handlers.confirm(fake_request())]
        mixed, _, _ = await handlers.preview(
            pictures, str(rows_csv), "", "1280*720", 5, fake_request("tab-csv"), FLASH
        )
    finally:
        await handlers.playground.aclose()
    assert [row[MODEL] for row in table] == ["Ray 2 Flash"] * 2
    assert "2 videos, 2 x 5 s at 0.20 USD = 0.40 USD" in price
    assert "Batch done: 2 videos" in updates[-1][0] and sim.control.stats()["models"] == {FLASH: 2}
    assert [(row[4], row[MODEL]) for row in mixed] == [
        ("in Ray 2", "Ray 2"),
        ("as the tab says", "Ray 2 Flash"),
    ]
