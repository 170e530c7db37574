"""The Batch tab in headless Chromium: what to do before a batch, and a row cancelled from the row."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gradio as gr
import pytest

from luma_playground import ApiKey, Playground, Settings
from luma_playground._wavespeed.retry import RetryPolicy
from luma_playground.simulator import SimulatorServer
from luma_playground.ui._batch_tab import CANCEL, HEADERS
from luma_playground.ui.examples import EXAMPLES

from .conftest import SERVER_KEY, launched

pytestmark = pytest.mark.browser
TIMEOUT_MS = 30_000
STATE, CANCEL_CELL = HEADERS.index("state"), HEADERS.index("")


@pytest.fixture(scope="module")
def batch_app(sim_server: SimulatorServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[gr.Blocks]:
    """A home of its own (no batch yet), one task at a time on the simulator: rows wait their turn."""
    settings = Settings(
        base_url=sim_server.base_url,
        api_key=ApiKey(SERVER_KEY),
        data_dir=tmp_path_factory.mktemp("browser-batch"),
        tasks_per_key=1,
    )
    playground = Playground.open(settings, retry=RetryPolicy(scale=0), start_simulator=False)
    with launched(playground) as demo:
        yield demo


def cell(page: Any, row: int, column: int) -> Any:
    """The table's cell at `row` (from 1, as numbered) and `column`."""
    return page.locator(f"#lp-batch-table [data-testid='cell-{row - 1}-{column}']")


def wait_cell(page: Any, row: int, column: int, text: str) -> None:
    cell(page, row, column).filter(has_text=text).wait_for(timeout=TIMEOUT_MS)


def test_empty_state_then_a_row_cancelled_from_the_row(
    page: Any, batch_app: gr.Blocks, sim: SimulatorServer
) -> None:
    """No batch: one card says what to do; running, a row's own Cancel stops that row and no other."""
    page.goto(batch_app.local_url)
    page.wait_for_selector("#lp-generate", timeout=TIMEOUT_MS)
    page.get_by_role("tab", name="Batch").click()
    status = page.locator("#lp-batch-status")
    status.filter(has_text="No batch yet").wait_for(timeout=TIMEOUT_MS)
    assert "then press Preview" in status.inner_text()
    assert not page.locator("#lp-batch-table").is_visible()  # no table of empty columns
    assert not page.locator("#lp-batch-cancel-all").is_visible()

    pictures = [str(example.path) for example in EXAMPLES[:2]]
    page.locator("#lp-batch-pictures input[type=file]").set_input_files(pictures)
    page.locator("#lp-batch-prompt textarea").fill("the light moves slowly")
    page.click("#lp-batch-preview")
    page.locator("#lp-batch-confirm").wait_for(timeout=TIMEOUT_MS)
    wait_cell(page, 2, STATE, "to start")
    assert "Confirm and start" in status.inner_text()
    assert not page.locator("#lp-batch-cancel-all").is_visible()  # nothing runs yet

    sim.control.add_fault("submit", "slow")  # row 1 runs until it is cancelled
    page.click("#lp-batch-confirm")
    wait_cell(page, 1, STATE, "running")  # one task at a time: row 2 waits its turn
    wait_cell(page, 2, CANCEL_CELL, CANCEL)
    cell(page, 2, CANCEL_CELL).click()
    wait_cell(page, 2, STATE, "cancelled")
    assert cell(page, 1, STATE).inner_text().strip() == "running"
    assert cell(page, 2, CANCEL_CELL).inner_text().strip() == ""  # an ended row has no Cancel
    assert page.locator("#lp-batch-cancel-all").is_visible()

    wait_cell(page, 1, CANCEL_CELL, CANCEL)
    cell(page, 1, CANCEL_CELL).click()
    wait_cell(page, 1, STATE, "cancelled")
    status.filter(has_text="Batch ended").wait_for(timeout=TIMEOUT_MS)
    page.locator("#lp-batch-cancel-all").wait_for(state="hidden", timeout=TIMEOUT_MS)
    assert [task["status"] for task in sim.control.tasks() if task["status"] != "completed"][-1:] == [
        "cancelled"
    ]
