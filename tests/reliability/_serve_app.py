"""Serve the playground as `app.py` does, with every logger at DEBUG and short retry waits.

Run by the reliability tests as a separate process: `python _serve_app.py PORT RETRY_SCALE`.
Everything else (API base URL, keys, home, timeouts, deadline) comes from the environment.
`RELIABILITY_PICTURE_HOST` names a host that stands for a public picture server: the tests'
server on 127.0.0.1 (the only exception to the URL check, for that name alone).
`RELIABILITY_TRANSFER_LANES` narrows each client's transfer lanes (uploads, downloads) to so many,
so that a test can fill them with a few requests.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from luma_playground import Playground, Settings
from luma_playground._pictures import sources as _pictures
from luma_playground._pictures import urls as _urls
from luma_playground._wavespeed.connections import FairLanes
from luma_playground._wavespeed.retry import RetryPolicy
from luma_playground.ui import build_demo, launch_options

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def debug_everything() -> None:
    """Every logger that exists now (httpx, httpcore, gradio, uvicorn, ours) logs at DEBUG."""
    logging.getLogger().setLevel(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        logging.getLogger(name).setLevel(logging.DEBUG)


def allow_picture_host(name: str) -> None:
    """Fetches from `name` reach 127.0.0.1 as if it were public; every other URL is checked as shipped."""

    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    async def fetch(url: str, dest_dir: Path, **options: Any) -> Path:
        if urlsplit(url).hostname != name:
            return await _urls.fetch_image(url, dest_dir, **options)
        return await _urls.fetch_image(
            url, dest_dir, resolver=resolve, is_allowed=lambda address: str(address) == "127.0.0.1", **options
        )

    _pictures.fetch_image = fetch  # type: ignore[assignment]


def main(port: int, retry_scale: float) -> None:
    logging.basicConfig(level=logging.DEBUG, format=FORMAT, stream=sys.stderr)
    if picture_host := os.environ.get("RELIABILITY_PICTURE_HOST"):
        allow_picture_host(picture_host)
    # The built-in simulator only when a test asks for it (a keyless deployment as shipped).
    builtin = os.environ.get("RELIABILITY_BUILTIN_SIMULATOR") == "1"
    playground = Playground.open(
        Settings.from_env(), retry=RetryPolicy(scale=retry_scale), start_simulator=None if builtin else False
    )
    if lanes := os.environ.get("RELIABILITY_TRANSFER_LANES"):
        for backend in playground.backends:
            backend.client._transfer_lanes = FairLanes(int(lanes))
    demo = build_demo(playground)
    demo.launch(
        prevent_thread_lock=True, **launch_options(playground, server_name="127.0.0.1", server_port=port)
    )
    # uvicorn sets its own loggers to Gradio's level at start-up: lift them again.
    debug_everything()
    logging.getLogger("luma_playground").info("reliability app ready on port %d", port)
    demo.block_thread()


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]))
