"""A playground in this process pointed at the simulator as if it were WaveSpeed, with a key of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from luma_playground import ApiKey, Playground, Settings
from luma_playground.simulator import SimulatorServer


@pytest.fixture
async def playground(sim: SimulatorServer, tmp_path: Path) -> AsyncIterator[Playground]:
    """A private playground on the simulator; its journal and videos in this test's folder."""
    settings = Settings(
        data_dir=tmp_path / "data", base_url=sim.base_url, api_key=ApiKey(f"sk-shots-{uuid.uuid4().hex}")
    )
    opened = Playground.open(settings, start_simulator=False)
    try:
        yield opened
    finally:
        await opened.aclose()
