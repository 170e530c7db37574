"""The simulator as an ASGI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import _api, _media
from ._config import SimulatorConfig
from ._envelopes import ApiError, error_response
from ._simulator import Simulator
from ._validation import InvalidInput
from ._wire import WireMiddleware
from .harness import inspect as _inspect


def create_app(config: SimulatorConfig | None = None) -> Starlette:
    """Build the simulator: the WaveSpeed routes, public media and the /_simulator/ control routes."""
    simulator = Simulator(config or SimulatorConfig())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await simulator.close()

    app = Starlette(
        routes=[*_api.routes, *_media.routes, *_inspect.routes, *_api.fallback_routes],
        middleware=[Middleware(WireMiddleware, simulator=simulator)],
        exception_handlers={
            ApiError: _api_error,
            InvalidInput: _invalid_input,
            HTTPException: _http_error,
        },
        lifespan=lifespan,
    )
    app.state.simulator = simulator
    return app


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _invalid_input(request: Request, exc: Exception) -> JSONResponse:
    return error_response(400, str(exc))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, exc.detail, dict(exc.headers or {}))
