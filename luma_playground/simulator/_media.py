"""Media routes: both upload flows, and the public files (uploads and rendered MP4s)."""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ._api import authenticate, base_url_of, json_body, simulator_of
from ._envelopes import ApiError, success
from ._uploads import Upload
from ._validation import InvalidInput

#: Room for multipart boundaries and headers on top of the file itself.
MULTIPART_OVERHEAD = 64 * 1024


async def upload_binary(request: Request) -> JSONResponse:
    """POST /api/v3/media/upload/binary: one multipart part named `file`."""
    authenticate(request)
    store = simulator_of(request).uploads
    _refuse_oversized(request, store.max_bytes, MULTIPART_OVERHEAD)
    async with request.form(max_files=1, max_fields=16) as form:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise InvalidInput("file is required: send multipart/form-data with a part named 'file'")
        data = await part.read(store.max_bytes + 1)
        filename = part.filename or ""
    upload = store.save(data, filename)
    return success(_described(upload, base_url_of(request)))


async def reserve_upload(request: Request) -> JSONResponse:
    """POST /api/v3/media/uploads: the SDK's first step, a URL to PUT the bytes to."""
    authenticate(request)
    body = await json_body(request)
    filename, size, content_type = body.get("filename"), body.get("size"), body.get("content_type")
    if not isinstance(filename, str) or not filename:
        raise InvalidInput("filename is required")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidInput("size must be the file size in bytes")
    if content_type is not None and not isinstance(content_type, str):
        raise InvalidInput("content_type must be a string")
    pending = simulator_of(request).uploads.reserve(filename, size, content_type)
    base_url = base_url_of(request)
    location = f"{base_url}/media/uploads/{pending.name}"
    headers = {"Content-Type": content_type} if content_type else {}
    return success(
        {
            "upload": {"method": "PUT", "url": f"{location}?token={pending.token}", "headers": headers},
            "download_url": location,
        }
    )


async def put_upload(request: Request) -> Response:
    """PUT /media/uploads/{name}?token=...: the SDK's second step, the raw bytes."""
    store = simulator_of(request).uploads
    _refuse_oversized(request, store.max_bytes)
    data = await request.body()
    name, token = request.path_params["name"], request.query_params.get("token", "")
    upload = store.complete(name, token, data)
    if upload is None:
        raise ApiError(403, "Upload URL is invalid or was already used")
    return Response(status_code=200, headers={"ETag": f'"{upload.sha256[:32]}"'})


async def serve_upload(request: Request) -> Response:
    """GET /media/uploads/{name}: an uploaded image, public like a CDN URL."""
    upload = simulator_of(request).uploads.get(request.path_params["name"])
    if upload is None:
        raise ApiError(404, "File not found")
    return FileResponse(upload.path, media_type=upload.content_type)


async def serve_output(request: Request) -> Response:
    """GET /media/outputs/{id}.mp4: a completed task's video, with byte ranges for seeking."""
    task = simulator_of(request).tasks.get(request.path_params["task_id"])
    if task is None or task.status != "completed" or task.output_path is None:
        raise ApiError(404, "File not found")
    return FileResponse(
        task.output_path,
        media_type="video/mp4",
        filename=f"{task.id}.mp4",
        content_disposition_type="inline",
    )


def _refuse_oversized(request: Request, max_bytes: int, overhead: int = 0) -> None:
    # Refused from the declared length, before reading a body that is too large anyway.
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + overhead:
        raise InvalidInput(f"file exceeds the limit of {max_bytes} bytes")


def _described(upload: Upload, base_url: str) -> dict[str, object]:
    return {
        "type": "image",
        "download_url": f"{base_url}/media/uploads/{upload.name}",
        "filename": upload.filename,
        "size": upload.size,
    }


routes: list[BaseRoute] = [
    Route("/api/v3/media/upload/binary", upload_binary, methods=["POST"]),
    Route("/api/v3/media/uploads", reserve_upload, methods=["POST"]),
    Route("/media/uploads/{name}", put_upload, methods=["PUT"]),
    Route("/media/uploads/{name}", serve_upload, methods=["GET"]),
    Route("/media/outputs/{task_id}.mp4", serve_output, methods=["GET"]),
]
