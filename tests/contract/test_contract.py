"""WaveSpeed's documented example bodies (the JSON files here, each naming its source): the client
reads each one served over real HTTP, and the simulator answers every route in the same shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from luma_playground import GenerationRequest, Prediction, WaveSpeedClient
from luma_playground._wavespeed.retry import RetryPolicy
from luma_playground.simulator import SimulatorServer

from ..conftest import loopback_server, wait_for

pytestmark = pytest.mark.anyio
HERE = Path(__file__).parent
KEY = "sk-contract-test"
FIXTURES = sorted(path.stem for path in HERE.glob("*.json"))


def documented(name: str) -> dict[str, Any]:
    """One fixture's body, as the page shows it."""
    body: dict[str, Any] = json.loads((HERE / f"{name}.json").read_text())["body"]
    return body


def test_every_fixture_names_its_source() -> None:
    """Each example body says which page (or official client) it comes from, and which route answers it."""
    assert len(FIXTURES) >= 11
    for name in FIXTURES:
        fixture = json.loads((HERE / f"{name}.json").read_text())
        assert fixture["_source"].strip() and fixture["route"].strip() and isinstance(fixture["body"], dict)


@pytest.fixture
def documented_server() -> Iterator[str]:
    """A server on 127.0.0.1 answering each route with its documented example body."""
    routes = {
        ("POST", "/api/v3/luma/ray-2-i2v"): "submit",
        ("GET", "/api/v3/predictions/done/result"): "result_completed",
        ("GET", "/api/v3/predictions/failed/result"): "result_failed",
        ("GET", "/api/v3/predictions/slow/result"): "sync_timeout",
        ("POST", "/api/v3/media/upload/binary"): "upload",
        ("POST", "/api/v3/model/price"): "price",
        ("POST", "/api/v3/model/pricing"): "pricing",
        ("GET", "/api/v3/balance"): "balance",
        ("POST", "/api/v3/predictions"): "history",
        ("DELETE", "/api/v3/predictions/done"): "delete",
    }

    class Documented(BaseHTTPRequestHandler):
        def answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            name = routes.get((self.command, self.path.split("?")[0]))
            body = json.dumps(documented(name) if name else {"code": 404, "message": "not found"}).encode()
            self.send_response(200 if name else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with loopback_server(Documented) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}"


async def test_the_client_reads_every_documented_body(documented_server: str, landscape_image: Path) -> None:
    """Submit, results (completed, failed, sync time-out), upload, prices, balance, history, delete parse."""
    async with WaveSpeedClient(documented_server, KEY, retry=RetryPolicy(scale=0)) as client:
        submitted = await client.submit(GenerationRequest.create(landscape_image, "p"), "https://x/p.png")
        assert submitted.id and submitted.status == "created" and not submitted.is_terminal
        done = await client.get("done")
        assert done.is_terminal and done.output_url and done.inference_ms == 48211
        failed = await client.get("failed")
        assert failed.is_terminal and failed.error_code == 1402
        slow = await client.get("slow")  # the sync time-out's data: the task runs on
        assert slow.id and not slow.is_terminal
        assert (await client.upload_image(landscape_image)).startswith("https://")
        price = await client.price({"size": "1280*720", "duration": 5})
        assert price["unit_price"] == pytest.approx(0.4) and price["list_price"] == pytest.approx(0.5)
        assert (await client.balance())["balance"] == pytest.approx(12.34)
        [item] = await client.history()
        assert item["id"] and "input" not in item
        assert await client.cancel("done") is True
    webhook = Prediction.model_validate(documented("webhook"))
    assert webhook.is_terminal and webhook.output_url


def _shape(value: Any) -> Any:
    """A JSON value's shape: its keys and their kinds, recursively (numbers are one kind)."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, int | float) else type(value).__name__


def _covers(simulated: Any, wanted: Any, where: str = "body") -> None:
    """Every documented key is in the simulator's answer, with the same kind of value."""
    if isinstance(wanted, dict):
        assert isinstance(simulated, dict), where
        for key, kind in wanted.items():
            assert key in simulated, f"{where}.{key} is missing"
            _covers(simulated[key], kind, f"{where}.{key}")
    elif isinstance(wanted, list):
        assert isinstance(simulated, list), where
        if wanted and simulated:
            _covers(simulated[0], wanted[0], f"{where}[0]")
    else:
        assert simulated == wanted, f"{where} is {simulated}, documented {wanted}"


def test_the_simulator_answers_in_the_documented_shapes(sim: SimulatorServer, landscape_image: Path) -> None:
    """Each route of the simulator answers with every documented field, of the documented kind."""
    with httpx.Client(
        base_url=sim.base_url, headers={"Authorization": f"Bearer {KEY}"}, trust_env=False
    ) as api:
        files = {"file": ("image.png", landscape_image.read_bytes(), "image/png")}
        upload = api.post("/api/v3/media/upload/binary", files=files).json()
        image = upload["data"]["download_url"]
        submit = api.post("/api/v3/luma/ray-2-i2v", json={"image": image, "prompt": "p"}).json()
        task_id = submit["data"]["id"]
        result = ended(api, task_id)
        gone = api.post(
            "/api/v3/luma/ray-2-i2v", json={"image": "https://example.com/gone.png", "prompt": "p"}
        )
        failed = ended(api, gone.json()["data"]["id"])
        inputs = {"model_id": "luma/ray-2-i2v", "inputs": {"duration": 5}}
        sim.control.set_behaviour(discount_rate=0.2)
        answers = {
            "upload": upload,
            "submit": submit,
            "result_completed": result,
            "result_failed": failed,
            "price": api.post("/api/v3/model/price", json=inputs).json(),
            "pricing": api.post("/api/v3/model/pricing", json=inputs).json(),
            "balance": api.get("/api/v3/balance").json(),
            "history": api.post("/api/v3/predictions", json={"page": 1, "page_size": 20}).json(),
            "delete": api.delete(f"/api/v3/predictions/{task_id}").json(),
            "delete_many": api.post("/api/v3/predictions/delete", json={"ids": [task_id]}).json(),
        }
    for name, answer in answers.items():
        _covers(_shape(answer), _shape(documented(name)), name)
    assert result["data"]["status"] == "completed" and failed["data"]["error"].startswith("1402")


def ended(api: httpx.Client, task_id: str) -> dict[str, Any]:
    """The task's result once it has ended."""

    def answer() -> dict[str, Any] | None:
        body: dict[str, Any] = api.get(f"/api/v3/predictions/{task_id}/result").json()
        return body if body["data"]["status"] in ("completed", "failed") else None

    return wait_for(answer, what=f"task {task_id} to end")
