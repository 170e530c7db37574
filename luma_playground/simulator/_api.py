"""The WaveSpeed routes: submit, result, delete, history, prices, models, balance, optimizer, secret."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from ._envelopes import ApiError, history_item, prediction, success
from ._simulator import OPTIMIZER_PRICE_USD, Simulator, video_price
from ._state import Task
from ._validation import (
    FLASH_MODEL,
    OPTIMIZER_MODEL,
    VIDEO_MODEL,
    VIDEO_MODELS,
    InvalidInput,
    parse_duration,
    parse_history_query,
    parse_json_object,
    parse_optimizer_input,
    parse_video_input,
)

SYNC_TIMEOUT_CODE = 5004
SYNC_TIMEOUT_ERROR = (
    "Sync mode timed out after 90 seconds; the task is still running: query its result later."
)


def simulator_of(request: Request) -> Simulator:
    """The simulator behind the app that serves `request`."""
    simulator: Simulator = request.app.state.simulator
    return simulator


def base_url_of(request: Request) -> str:
    """Scheme, host and mount path the client used, for the URLs the API hands back."""
    return str(request.base_url).rstrip("/")


def authenticate(request: Request) -> str:
    """The fingerprint of the request's API key, or a 401."""
    return simulator_of(request).authenticate(request.headers.get("authorization"))


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a 400."""
    return parse_json_object(await request.body())


def video_submitter(model: str) -> Callable[[Request], Awaitable[JSONResponse]]:
    """The submit route of a video model: `POST /api/v3/{model}` (both take the same inputs)."""

    async def submit(request: Request) -> JSONResponse:
        return await submit_video(request, model)

    submit.__doc__ = f"POST /api/v3/{model}: charge and create a task."
    return submit


async def submit_video(request: Request, model: str) -> JSONResponse:
    """Charge and create a task of a video model."""
    simulator, fingerprint = simulator_of(request), authenticate(request)
    video = parse_video_input(await json_body(request), request.query_params.get("webhook"))
    task = simulator.submit_video(fingerprint, video, base_url_of(request), model)
    if video.enable_sync_mode and not await simulator.wait_sync(task):
        # As the official SDK's tests have it: HTTP 200, and the task id kept for a later GET.
        timed_out = {
            "id": task.id,
            "status": "processing",
            "code": SYNC_TIMEOUT_CODE,
            "error": SYNC_TIMEOUT_ERROR,
        }
        return success(timed_out)
    return _prediction_response(request, task)


async def submit_optimizer(request: Request) -> JSONResponse:
    """POST /api/v3/wavespeed-ai/prompt-optimizer: a short text task."""
    simulator, fingerprint = simulator_of(request), authenticate(request)
    optimizer = parse_optimizer_input(await json_body(request))
    task = simulator.submit_optimizer(fingerprint, optimizer, base_url_of(request))
    return _prediction_response(request, task)


async def get_result(request: Request) -> JSONResponse:
    """GET /api/v3/predictions/{id}[/result]: the task as it is now."""
    return _prediction_response(request, _own_task(request))


async def cancel(request: Request) -> JSONResponse:
    """DELETE /api/v3/predictions/{id}: "deleted" for any of the key's tasks ("How to Delete Task").

    A queued or running task is stopped and refunded (unless the fault `ignored` lets it go on);
    an ended one is left as it is.
    """
    task = _own_task(request)
    simulator_of(request).delete(task)
    return success({"id": task.id, "status": "deleted"})


async def delete_many(request: Request) -> JSONResponse:
    """POST /api/v3/predictions/delete `{"ids": [...]}`: each of the key's tasks as one DELETE."""
    simulator, fingerprint = simulator_of(request), authenticate(request)
    ids = (await json_body(request)).get("ids")
    if not isinstance(ids, list) or not all(isinstance(task_id, str) for task_id in ids):
        raise InvalidInput("ids must be a list of task ids")
    tasks = [task for task_id in dict.fromkeys(ids) if (task := simulator.tasks.get(task_id, fingerprint))]
    for task in tasks:
        simulator.delete(task)
    return success({"deleted_count": len(tasks)})


async def history(request: Request) -> JSONResponse:
    """POST /api/v3/predictions: the key's tasks, newest first; inputs only as the behaviour says."""
    simulator, fingerprint = simulator_of(request), authenticate(request)
    query = parse_history_query(await json_body(request))
    tasks, total = simulator.history(fingerprint, query)
    base_url = base_url_of(request)
    with_input = simulator.history_inputs(query.include_inputs)
    items = [history_item(task, base_url, with_input=with_input) for task in tasks]
    return success({"items": items, "page": query.page, "page_size": query.page_size, "total": total})


def _listed_price(body: dict[str, Any]) -> tuple[str, float, str]:
    """The model, its price for these inputs, and what the price is for."""
    model_id, inputs = body.get("model_id"), body.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise InvalidInput("inputs must be a JSON object")
    if model_id in VIDEO_MODELS:
        return model_id, video_price(parse_duration(inputs.get("duration", 5)), model_id), "per 5 s of video"
    if model_id == OPTIMIZER_MODEL:
        return model_id, OPTIMIZER_PRICE_USD, "per request"
    raise InvalidInput(f"model_id: unknown model {model_id!r}")


async def price(request: Request) -> JSONResponse:
    """POST /api/v3/model/price (WaveSpeed's newer CLI and MCP server): the price and the discounted one."""
    authenticate(request)
    model_id, listed, _ = _listed_price(await json_body(request))
    rate = simulator_of(request).behaviour.discount_rate
    answer: dict[str, Any] = {
        "model_id": model_id,
        "price": listed,
        "discounted_price": round(listed * (1 - rate), 6),
        "currency": "USD",
        "simulated": True,
    }
    if rate:
        answer["discount_rate"] = rate
    return success(answer)


async def models(request: Request) -> JSONResponse:
    """GET /api/v3/models (the official CLI's `models` command): the models this service runs."""
    authenticate(request)
    listed = [
        {
            "model_id": VIDEO_MODEL,
            "name": "Luma Ray 2 Image-to-Video",
            "type": "image-to-video",
            "base_price": video_price(5),
        },
        {
            "model_id": FLASH_MODEL,
            "name": "Luma Ray 2 Flash Image-to-Video",
            "type": "image-to-video",
            "base_price": video_price(5, FLASH_MODEL),
        },
        {
            "model_id": OPTIMIZER_MODEL,
            "name": "Prompt Optimizer",
            "type": "text-to-text",
            "base_price": OPTIMIZER_PRICE_USD,
        },
    ]
    return success(listed)


async def pricing(request: Request) -> JSONResponse:
    """POST /api/v3/model/pricing: the price of one task with these inputs."""
    authenticate(request)
    model_id, listed, basis = _listed_price(await json_body(request))
    unit_price = listed
    return success(
        {
            "model_id": model_id,
            "unit_price": unit_price,
            "currency": "USD",
            "billing": basis,
            "simulated": True,
            "note": "simulated price from the offline simulator",
        }
    )


async def balance(request: Request) -> JSONResponse:
    """GET /api/v3/balance: the key's simulated balance."""
    fingerprint = authenticate(request)
    amount = round(simulator_of(request).balance(fingerprint), 6)
    return success({"balance": amount, "currency": "USD", "simulated": True})


async def webhook_secret(request: Request) -> JSONResponse:
    """GET /api/v3/webhook/secret: the key's signing secret."""
    fingerprint = authenticate(request)
    return success({"secret": simulator_of(request).webhook_secret(fingerprint)})


async def unknown(request: Request) -> JSONResponse:
    """Any other /api/v3 path: 401 without a key, else 404."""
    authenticate(request)
    raise ApiError(404, f"Not found: {request.method} {request.url.path}")


def _own_task(request: Request) -> Task:
    fingerprint = authenticate(request)
    task_id = request.path_params["task_id"]
    # Another key's task is reported exactly like a task that does not exist.
    task = simulator_of(request).tasks.get(task_id, fingerprint)
    if task is None:
        raise ApiError(404, f"Task not found: {task_id}")
    return task


def _prediction_response(request: Request, task: Task) -> JSONResponse:
    simulator_of(request).mark_seen(task)
    return success(prediction(task, base_url_of(request)))


ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

routes: list[BaseRoute] = [
    *(Route(f"/api/v3/{model}", video_submitter(model), methods=["POST"]) for model in VIDEO_MODELS),
    Route("/api/v3/wavespeed-ai/prompt-optimizer", submit_optimizer, methods=["POST"]),
    Route("/api/v3/predictions", history, methods=["POST"]),
    Route("/api/v3/predictions/delete", delete_many, methods=["POST"]),
    Route("/api/v3/predictions/{task_id}/result", get_result, methods=["GET"]),
    Route("/api/v3/predictions/{task_id}", get_result, methods=["GET"]),
    Route("/api/v3/predictions/{task_id}", cancel, methods=["DELETE"]),
    Route("/api/v3/model/pricing", pricing, methods=["POST"]),
    Route("/api/v3/model/price", price, methods=["POST"]),
    Route("/api/v3/models", models, methods=["GET"]),
    Route("/api/v3/balance", balance, methods=["GET"]),
    Route("/api/v3/webhook/secret", webhook_secret, methods=["GET"]),
]

fallback_routes: list[BaseRoute] = [Route("/api/v3/{path:path}", unknown, methods=ALL_METHODS)]
