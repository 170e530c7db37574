"""An offline WaveSpeedAI simulator for Luma Ray 2 image-to-video, with inspection and faults."""

from __future__ import annotations

from ._app import create_app
from ._config import Behaviour, SimulatorConfig
from ._server import SimulatorServer, serve
from ._state import key_fingerprint
from ._webhooks import sign_webhook
from .harness.control import SimulatorControl

__all__ = [
    "Behaviour",
    "SimulatorConfig",
    "SimulatorControl",
    "SimulatorServer",
    "create_app",
    "key_fingerprint",
    "serve",
    "sign_webhook",
]
