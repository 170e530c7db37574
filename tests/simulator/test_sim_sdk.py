"""The official `wavespeed` SDK against the simulator: uploads, run, run_no_throw and its errors."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
import wavespeed

from luma_playground.simulator import SimulatorConfig, SimulatorControl, SimulatorServer
from luma_playground.simulator._simulator import SYNC_TIMEOUT_S
from luma_playground.simulator._timing import TimingModel

from .conftest import KEY

MODEL = "luma/ray-2-i2v"


@pytest.fixture
def sdk(simulator: SimulatorServer) -> wavespeed.Client:
    """The SDK's client on the simulator, retrying its GETs without waiting long."""
    return wavespeed.Client(api_key=KEY, base_url=simulator.base_url, retry_interval=0.01)


def test_sdk_uploads_a_path_and_an_unnamed_stream(
    sdk: wavespeed.Client, photo_png: bytes, tmp_path: Path
) -> None:
    """A path and an unnamed `BytesIO` (sent as `upload`, no content type) both upload, read by content."""
    path = tmp_path / "cat.png"
    path.write_bytes(photo_png)
    for source in (str(path), io.BytesIO(photo_png)):
        url = sdk.upload(source)  # type: ignore[arg-type]
        served = httpx.get(url, trust_env=False)
        assert served.status_code == 200 and served.content == photo_png
        assert served.headers["content-type"] == "image/png"


def test_sdk_refuses_an_unnamed_stream_that_is_no_picture(sdk: wavespeed.Client) -> None:
    """An unnamed stream holding no picture is refused when its bytes arrive."""
    with pytest.raises(RuntimeError, match="HTTP 400"):
        sdk.upload(io.BytesIO(b"plain text, not a picture"))


def test_sdk_run_makes_a_video(sdk: wavespeed.Client, image_url: str, control: SimulatorControl) -> None:
    """`run` submits once, polls to completed and returns the MP4's URL."""
    result = sdk.run(MODEL, {"image": image_url, "prompt": "a harbour"}, poll_interval=0.05, timeout=60)
    [url] = result["outputs"]
    assert httpx.get(url, trust_env=False).content[4:8] == b"ftyp"
    [task] = control.tasks()
    assert task["status"] == "completed" and task["submits"] == 1


def test_sdk_errors(
    sdk: wavespeed.Client, simulator: SimulatorServer, image_url: str, control: SimulatorControl
) -> None:
    """A refused key, a failed task and an unknown task reach the SDK as its own errors, with the task id."""
    refused = wavespeed.Client(api_key="sk-refused", base_url=simulator.base_url)
    control.set_account("sk-refused", valid=False)
    with pytest.raises(RuntimeError, match="HTTP 401"):
        refused.run(MODEL, {"image": image_url, "prompt": "x"})
    control.add_fault("submit", "task_failed", error_code=1403)
    failed = sdk.run_no_throw(MODEL, {"image": image_url, "prompt": "x"}, poll_interval=0.05, timeout=60)
    assert failed["status"] == "failed" and failed["outputs"] is None
    assert failed["task_id"] == control.tasks()[-1]["id"] and "1403" in failed["error"]
    with pytest.raises(RuntimeError, match="HTTP 404"):
        sdk.get_result("0" * 32)


def test_sdk_run_no_throw_keeps_the_task_id_through_a_sync_time_out(tmp_path: Path, photo_png: bytes) -> None:
    """A sync run outlasting the gateway's 90 s answers `processing` with the task id, as documented."""
    # The first plan of a fresh server is the first draw of its seeded model: pick a seed where it is long.
    seed = next(s for s in range(100) if TimingModel(seed=s).plan_video(10).total_s > SYNC_TIMEOUT_S)
    with SimulatorServer(SimulatorConfig(time_scale=0.001, seed=seed, output_dir=tmp_path)) as server:
        sdk = wavespeed.Client(api_key=KEY, base_url=server.base_url)
        image = sdk.upload(io.BytesIO(photo_png))
        result = sdk.run_no_throw(
            MODEL, {"image": image, "prompt": "x", "duration": 10}, enable_sync_mode=True
        )
        [task] = server.control.tasks()
        assert result["status"] == "processing" and result["task_id"] == task["id"]
        assert "Sync mode timed out" in result["error"] and result["outputs"] is None
