"""The playground of one process: its backends and the pool they share."""

from __future__ import annotations

import pytest

from luma_playground import ApiKey, Playground, Settings

pytestmark = pytest.mark.anyio


async def test_backends_share_one_connection_pool(tmp_path) -> None:
    """Without a server key, the API and the built-in simulator share one connection pool."""
    playground = Playground.open(Settings(data_dir=tmp_path))
    try:
        assert playground.simulated and playground.simulator_backend is not None
        assert playground.simulator_backend.client.http is playground.remote.client.http
        backend, key = playground.backend_for(None)
        assert backend.simulated and key is not None
        backend, key = playground.backend_for(ApiKey("sk-visitor"))
        assert backend is playground.remote and key == ApiKey("sk-visitor")
    finally:
        await playground.aclose()
    assert playground.remote.client.http.is_closed
