"""Run the simulator with uvicorn: in a background thread (tests, apps) or in the foreground."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from ._app import create_app
from ._config import SimulatorConfig
from ._wire import TRANSPORT_EXTENSION
from .harness.control import SimulatorControl

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0


class TransportExposingProtocol(H11Protocol):
    """uvicorn's h11 protocol, with the connection's transport in the scope so faults can cut it."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        inner = self.app

        async def app_with_transport(scope: Any, receive: Any, send: Any) -> None:
            scope.setdefault("extensions", {})[TRANSPORT_EXTENSION] = self.transport
            await inner(scope, receive, send)

        self.app = app_with_transport


def uvicorn_config(config: SimulatorConfig, host: str, port: int) -> uvicorn.Config:
    """The uvicorn settings the simulator runs with."""
    return uvicorn.Config(
        create_app(config),
        host=host,
        port=port,
        http=TransportExposingProtocol,
        ws="none",
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )


class SimulatorServer:
    """The simulator on 127.0.0.1 in a thread with its own event loop; port 0 picks a free port."""

    def __init__(self, config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or SimulatorConfig()
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._control: SimulatorControl | None = None

    @property
    def base_url(self) -> str:
        """Scheme, host and port, e.g. `http://127.0.0.1:8765`; API paths are appended to it."""
        return f"http://{self.host}:{self.port}"

    @property
    def control(self) -> SimulatorControl:
        """A client for the /_simulator/ routes of this server."""
        if self._control is None:
            self._control = SimulatorControl(self.base_url)
        return self._control

    def start(self) -> SimulatorServer:
        """Start serving; returns once the server accepts connections."""
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        listener = _listen(self.host, self.port)
        self.port = listener.getsockname()[1]
        self._server = uvicorn.Server(uvicorn_config(self.config, self.host, self.port))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [listener]}, name="luma-simulator", daemon=True
        )
        self._thread.start()
        self._wait_started()
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT_S)
        self._server = self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._server is not None else "stopped"
        return f"<SimulatorServer {self.base_url} {state}>"

    def _wait_started(self) -> None:
        assert self._server is not None and self._thread is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the simulator did not start")
            time.sleep(0.01)


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    time_scale: float = 1.0,
    seed: int = 0,
    *,
    submits_per_minute: int | None = None,
    concurrent_tasks: int | None = None,
) -> None:
    """Run the simulator in the foreground until interrupted."""
    config = SimulatorConfig(
        time_scale=time_scale,
        seed=seed,
        submits_per_minute=submits_per_minute,
        concurrent_tasks=concurrent_tasks,
    )
    print(f"WaveSpeed simulator on http://{host}:{port} (time scale {time_scale}, seed {seed})")
    uvicorn.Server(uvicorn_config(config, host, port)).run()


def _listen(host: str, port: int) -> socket.socket:
    # Binding here, not in uvicorn, lets port 0 resolve to the real port before the thread starts.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # An explicit IPPROTO_TCP makes asyncio set TCP_NODELAY on accepted connections; without it
    # every small response waits out the peer's delayed ACK (about 40 ms on Linux).
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(128)
    listener.set_inheritable(True)
    return listener
