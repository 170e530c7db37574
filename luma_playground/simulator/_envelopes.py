"""The JSON shapes of the WaveSpeed API: the success envelope, errors and the prediction object."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse

from ._state import Task


class ApiError(Exception):
    """An error answered as `{"code": status, "message": ...}` with that HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code
        self.headers = headers

    def response(self) -> JSONResponse:
        """The error as the API sends it."""
        return error_response(self.status, self.message, self.headers, error_code=self.error_code)


def success(data: Any) -> JSONResponse:
    """The API's success envelope around `data`."""
    return JSONResponse({"code": 200, "message": "success", "data": data})


def error_response(
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    *,
    error_code: int | None = None,
) -> JSONResponse:
    """The API's error body, whose `code` repeats the HTTP status."""
    body: dict[str, Any] = {"code": status, "message": message}
    if error_code is not None:
        body["error_code"] = error_code
    return JSONResponse(body, status_code=status, headers=headers)


def iso_timestamp(instant: float) -> str:
    """An instant the way the API writes it: `2023-04-01T12:34:56.789Z`."""
    moment = datetime.fromtimestamp(instant, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def output_url(base_url: str, task_id: str) -> str:
    """Where the simulator serves a task's MP4."""
    return f"{base_url}/media/outputs/{task_id}.mp4"


def prediction(task: Task, base_url: str, *, with_input: bool = False) -> dict[str, Any]:
    """The prediction object of `task`, with URLs built from the base URL the client used."""
    data: dict[str, Any] = {
        "id": task.id,
        "model": task.model,
        "outputs": _outputs(task, base_url),
        "urls": {"get": f"{base_url}/api/v3/predictions/{task.id}/result"},
        "has_nsfw_contents": [task.has_nsfw] if task.status == "completed" else [],
        "status": task.status,
        "created_at": iso_timestamp(task.created_at),
        "error": task.error,
        "timings": {"inference": task.inference_ms if task.status == "completed" else 0},
    }
    if task.error_code is not None:
        data["code"] = task.error_code
    if with_input:
        data["input"] = dict(task.input)
    return data


def history_item(task: Task, base_url: str, *, with_input: bool) -> dict[str, Any]:
    """A task as the history lists it: the documented item (`executionTime` too), its input if asked."""
    item = prediction(task, base_url, with_input=with_input)
    item["executionTime"] = task.inference_ms if task.status == "completed" else 0
    return item


def _outputs(task: Task, base_url: str) -> list[str]:
    if task.status != "completed":
        return []
    if task.text_output is not None:
        return [task.text_output]
    if task.base64_output and task.output_path is not None:
        return [base64.b64encode(task.output_path.read_bytes()).decode("ascii")]
    return [output_url(base_url, task.id)]
