"""ASGI middleware that counts every API request and applies wire-level fault rules."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._simulator import Simulator, bearer_key
from ._state import key_fingerprint
from ._validation import VIDEO_MODEL, submit_signature
from .harness.faults import DEFAULT_STALL_S, DEFAULT_TRUNCATE_FRACTION, OUTPUT_KINDS, WIRE_KINDS, FaultRule

#: Where the server puts the connection's asyncio transport in the request scope.
TRANSPORT_EXTENSION = "luma.transport"

_FAULT_KINDS = WIRE_KINDS | OUTPUT_KINDS
_DISCONNECT_GRACE_S = 5.0
_MALFORMED_JSON = b'{"code":200,"message":"success","data":{"id":"'

_ROUTE_TABLE = [
    ("POST", r"/api/v3/(?P<model>luma/ray-2(?:-flash)?-i2v)", "submit"),
    ("POST", r"/api/v3/wavespeed-ai/prompt-optimizer", "optimizer"),
    ("POST", r"/api/v3/predictions", "history"),
    ("POST", r"/api/v3/predictions/delete", "cancel"),
    ("GET", r"/api/v3/predictions/(?P<task_id>[^/]+)(?:/result)?", "result"),
    ("DELETE", r"/api/v3/predictions/(?P<task_id>[^/]+)", "cancel"),
    ("POST", r"/api/v3/model/pricing", "pricing"),
    ("POST", r"/api/v3/model/price", "price"),
    ("GET", r"/api/v3/models", "models"),
    ("GET", r"/api/v3/balance", "balance"),
    ("GET", r"/api/v3/webhook/secret", "secret"),
    ("POST", r"/api/v3/media/upload/binary", "upload"),
    ("POST", r"/api/v3/media/uploads", "upload"),
    ("PUT", r"/media/uploads/[^/]+", "upload_put"),
    ("GET", r"/media/uploads/[^/]+", "media"),
    ("GET", r"/media/outputs/(?P<task_id>[^/]+)\.mp4", "output"),
]
_ROUTES = [(method, re.compile(pattern), name) for method, pattern, name in _ROUTE_TABLE]


class ConnectionDropUnsupported(RuntimeError):
    """A drop fault needs the transport, which only SimulatorServer's protocol exposes."""


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """The route name of a request, and the task id in its path if any."""

    name: str
    task_id: str | None = None
    #: The video model a submit is for.
    model: str | None = None


def classify(method: str, path: str) -> RouteMatch | None:
    """Name the API route a request is for; None for anything else (including /_simulator/)."""
    method = "GET" if method == "HEAD" else method
    for route_method, pattern, name in _ROUTES:
        match = pattern.fullmatch(path)
        if route_method == method and match:
            groups = match.groupdict()
            return RouteMatch(name, groups.get("task_id"), groups.get("model"))
    return None


class WireMiddleware:
    """Counts requests as they arrive, then lets a matching fault rule answer instead of the app."""

    def __init__(self, app: ASGIApp, simulator: Simulator) -> None:
        self.app = app
        self.simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        route = classify(scope["method"], _relative_path(scope))
        if route is None:
            return await self.app(scope, receive, send)
        fingerprint = _fingerprint(scope)
        model = None
        if route.name == "submit":
            body = await _read_body(receive)
            receive = _replay(body, receive)
            model = route.model or VIDEO_MODEL
            self._count_submit(fingerprint, body, model)
        self.simulator.count_request(route.name, fingerprint, route.task_id, model)
        rule = self.simulator.faults.take(route.name, fingerprint, _FAULT_KINDS)
        if rule is None:
            return await self.app(scope, receive, send)
        await _apply(rule, route, self.app, scope, receive, send)

    def _count_submit(self, fingerprint: str | None, body: bytes, model: str | None) -> None:
        signature = submit_signature(body, model or VIDEO_MODEL)
        if signature is not None:
            self.simulator.counters.count_submit(fingerprint, signature)


async def _apply(
    rule: FaultRule, route: RouteMatch, app: ASGIApp, scope: Scope, receive: Receive, send: Send
) -> None:
    # The request body is always read first, so that closing the connection cannot reset it mid-send.
    body = await _read_body(receive)
    replay = _replay(body, receive)
    if rule.kind == "drop":
        if rule.options.get("after_processing"):
            await app(scope, replay, _discard)
        return await _drop(scope, receive)
    if rule.kind == "stall":
        return await _stall(rule, route, app, scope, receive, replay, send)
    if rule.kind == "truncated":
        return await _truncate(rule, app, scope, receive, replay, send)
    await _canned_response(rule)(scope, replay, send)


def _canned_response(rule: FaultRule) -> Response:
    status = rule.status()
    headers = {}
    if "retry_after" in rule.options:
        headers["Retry-After"] = _seconds_text(rule.options["retry_after"])
    reason = _reason(status)
    if rule.kind == "html":
        page = (
            f"<html><head><title>{status} {reason}</title></head><body>"
            f"<center><h1>{status} {reason}</h1></center><hr><center>nginx</center></body></html>"
        )
        return HTMLResponse(page, status_code=status, headers=headers)
    if rule.kind == "empty":
        return Response(b"", status_code=status, headers=headers)
    if rule.kind == "malformed":
        return Response(_MALFORMED_JSON, status_code=status, headers=headers, media_type="application/json")
    if rule.kind == "expired":
        message = "File not found: outputs are deleted after 7 days"
        return JSONResponse({"code": 404, "message": message}, status_code=404)
    message = rule.options.get("message", reason)
    return JSONResponse({"code": status, "message": message}, status_code=status, headers=headers)


async def _stall(
    rule: FaultRule,
    route: RouteMatch,
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    replay: Receive,
    send: Send,
) -> None:
    seconds = float(rule.options.get("seconds", DEFAULT_STALL_S))
    # Like a slow gateway, a stalled submit has already created its task unless told otherwise.
    if rule.options.get("before_processing", route.name != "submit"):
        if not await _disconnected_within(receive, seconds):
            await app(scope, replay, send)
        return
    held: list[Message] = []

    async def hold(message: Message) -> None:
        held.append(message)

    await app(scope, replay, hold)
    if await _disconnected_within(receive, seconds):
        return
    for message in held:
        await send(message)


async def _truncate(
    rule: FaultRule, app: ASGIApp, scope: Scope, receive: Receive, replay: Receive, send: Send
) -> None:
    remaining: int | None = None
    cut = False

    async def send_part(message: Message) -> None:
        nonlocal remaining, cut
        if cut:
            return
        if message["type"] == "http.response.start":
            # Only a file body is cut short; a 404 for an unfinished task passes untouched.
            if message["status"] in (200, 206):
                remaining = _truncated_length(rule, message)
            return await send(message)
        chunk = message.get("body", b"")
        if remaining is None or len(chunk) < remaining:
            remaining = None if remaining is None else remaining - len(chunk)
            return await send(message)
        # The declared Content-Length stays that of the whole file; the body stops short.
        await send({"type": "http.response.body", "body": chunk[:remaining], "more_body": True})
        cut = True
        _close(scope)

    await app(scope, replay, send_part)
    if cut:
        await _disconnected_within(receive, _DISCONNECT_GRACE_S)


def _truncated_length(rule: FaultRule, start: Message) -> int:
    headers = dict(start.get("headers", []))
    length = int(headers.get(b"content-length", b"0") or 0)
    if "bytes" in rule.options:
        wanted = int(rule.options["bytes"])
    else:
        wanted = int(length * float(rule.options.get("fraction", DEFAULT_TRUNCATE_FRACTION)))
    return max(0, min(wanted, length - 1))


async def _drop(scope: Scope, receive: Receive) -> None:
    _close(scope)
    # Returning only once the server has seen the disconnect stops it from sending a 500.
    await _disconnected_within(receive, _DISCONNECT_GRACE_S)


def _close(scope: Scope) -> None:
    transport = scope.get("extensions", {}).get(TRANSPORT_EXTENSION)
    if transport is None:
        raise ConnectionDropUnsupported("dropping a connection needs SimulatorServer")
    # close() flushes what was already written (a truncated body) and then sends FIN.
    transport.close()


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the already-read body, then defers to the real one."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _disconnected_within(receive: Receive, seconds: float) -> bool:
    async def disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(disconnect(), seconds)
    except TimeoutError:
        return False
    return True


async def _discard(message: Message) -> None:
    """A send that throws the response away."""


def _fingerprint(scope: Scope) -> str | None:
    headers = dict(scope.get("headers", []))
    key = bearer_key(headers.get(b"authorization", b"").decode("latin-1"))
    return key_fingerprint(key) if key else None


def _relative_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _seconds_text(seconds: Any) -> str:
    if isinstance(seconds, str):
        return seconds  # an HTTP-date, sent as given
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)
