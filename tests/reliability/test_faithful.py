"""The launched app against the simulator in each reading of WaveSpeed's docs where they leave room:
a cancel WaveSpeed ignores or honours, a history without inputs, a `pending` phase, a discount."""

from __future__ import annotations

import secrets
import sqlite3
from pathlib import Path
from typing import Any

from gradio_client import Client

from luma_playground.simulator import SimulatorServer

from ..conftest import wait_for
from .conftest import SERVER_KEY, AppProcess, Evidence, call_private, close_all, image_file, new_caller

PROMPT = "A lighthouse beam sweeping over a calm sea"


def _start_on_the_page(client: Client, image: Path) -> Any:
    """Press Generate the way the page does (the private event, in this client's session)."""
    for index, dependency in enumerate(client.config["dependencies"]):
        if dependency.get("api_name") == "page_generate":
            fn_index = dependency.get("id", index)
            client.endpoints[fn_index].is_valid = True
            return client.submit(
                image_file(image), PROMPT, "1280*720", 10, "luma/ray-2-i2v", 1, fn_index=fn_index
            )
    raise AssertionError("no page_generate event")


def _running_task(sim: SimulatorServer) -> str:
    task = wait_for(lambda: next((t for t in sim.control.tasks() if t["status"] == "processing"), None))
    return str(task["id"])


def test_a_cancel_wavespeed_ignores_ends_with_the_video_saved_and_the_card_saying_charged(
    sim: SimulatorServer, app: AppProcess, evidence: Evidence, landscape_image: Path
) -> None:
    """The page's Cancel on a task WaveSpeed finishes anyway: the video is saved, the card says charged."""
    caller = new_caller(app, evidence, "ignored-cancel")
    try:
        sim.control.add_fault("cancel", "ignored", key=SERVER_KEY)
        generation = _start_on_the_page(caller.client, landscape_image)
        task_id = _running_task(sim)
        card = call_private(caller.client, "page_cancel", 1)[0]  # the run of one video's card
        assert 'data-tone="done"' in card and "Finished before the cancel" in card, card
        assert task_id in card and "charged" in card and "saved in History" in card
        assert (
            sim.control.task(task_id)["cancel_ignored"] and sim.control.task(task_id)["status"] == "completed"
        )
        [row] = app.rows("task_id = ?", (task_id,))
        assert row["state"] == "completed" and Path(row["video_path"]).stat().st_size > 0
        generation.cancel()
    finally:
        close_all([caller])


def test_a_cancel_wavespeed_honours_ends_cancelled(
    sim: SimulatorServer, app: AppProcess, evidence: Evidence, landscape_image: Path
) -> None:
    """`/cancel` on a task WaveSpeed stops: cancelled; the note says a cancel is a request, not a refund."""
    caller = new_caller(app, evidence, "honoured-cancel")
    try:
        generation = caller.client.submit(
            image_file(landscape_image), PROMPT, "1280*720", 10, api_name="/generate"
        )
        task_id = _running_task(sim)
        answer = caller.client.predict(task_id, api_name="/cancel")
        assert answer["state"] == "cancelled" and answer["note"].startswith(
            "Cancelled: WaveSpeed stopped task"
        )
        assert "not a refund" in answer["note"] and sim.control.task(task_id)["status"] == "cancelled"
        generation.cancel()
    finally:
        close_all([caller])


def test_a_dropped_submit_is_found_from_a_history_without_inputs(
    sim: SimulatorServer, app: AppProcess, evidence: Evidence, landscape_image: Path
) -> None:
    """A submit whose answer is lost is found in a history that gives no inputs, by model and time."""
    sim.control.set_behaviour(history_inputs="never")
    sim.control.add_fault("submit", "drop", after_processing=True, key=SERVER_KEY)
    caller = new_caller(app, evidence, "dropped-submit")
    try:
        outcome = caller.generate(landscape_image, PROMPT)
        assert outcome.video is not None, outcome.text
        [task] = sim.control.tasks()
        assert task["submits"] == 1 and task["status"] == "completed"
        [row] = app.rows("task_id = ?", (task["id"],))
        assert any("creation time" in (detail or "") for detail in _details(app, row["row_id"]))
    finally:
        close_all([caller])


def test_a_pending_phase_does_not_end_the_wait(
    sim: SimulatorServer, app: AppProcess, evidence: Evidence, landscape_image: Path
) -> None:
    """A task that first reports `pending` is waited for to its video, not taken as failed."""
    sim.control.set_behaviour(pending_s=100)  # one second at this simulator's time scale
    caller = new_caller(app, evidence, "pending-phase")
    try:
        outcome = caller.generate(landscape_image, PROMPT)
        assert outcome.video is not None, outcome.text
        [task] = sim.control.tasks()
        assert task["status"] == "completed" and task["polls"] >= 2
    finally:
        close_all([caller])


def test_the_price_shown_is_the_discounted_one(
    sim: SimulatorServer, app: AppProcess, evidence: Evidence
) -> None:
    """When `/model/price` offers a discount, `/price` shows the discounted price (0.5 USD at 20 % off)."""
    sim.control.set_behaviour(discount_rate=0.2)
    key = f"sk-discount-{secrets.token_hex(8)}"  # a key whose price no earlier call has cached
    evidence.keys.add(key)
    caller = new_caller(app, evidence, "discount", key)
    try:
        price = caller.client.predict("1280*720", 10, 1, api_name="/price")
        assert abs(price["usd_per_video"] - 0.8) < 1e-9 and abs(price["usd_total"] - 0.8) < 1e-9, price
    finally:
        close_all([caller])


def _details(app: AppProcess, row_id: int) -> list[str | None]:
    with sqlite3.connect(app.journal, timeout=10) as db:
        return [
            detail for (detail,) in db.execute("SELECT detail FROM transitions WHERE row_id = ?", (row_id,))
        ]
