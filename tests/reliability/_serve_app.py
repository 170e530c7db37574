"""Serve the playground as `app.py` does, with every logger at DEBUG and short retry waits.

Run by the reliability tests as a separate process: `python _serve_app.py PORT RETRY_SCALE`.
Everything else (API base URL, keys, home, timeouts, deadline) comes from the environment.
"""

from __future__ import annotations

import logging
import os
import sys

from luma_playground import Playground, RetryPolicy, Settings
from luma_playground.ui import build_demo, launch_options

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def debug_everything() -> None:
    """Every logger that exists now (httpx, httpcore, gradio, uvicorn, ours) logs at DEBUG."""
    logging.getLogger().setLevel(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        logging.getLogger(name).setLevel(logging.DEBUG)


def main(port: int, retry_scale: float) -> None:
    logging.basicConfig(level=logging.DEBUG, format=FORMAT, stream=sys.stderr)
    # The built-in simulator only when a test asks for it (a keyless deployment as shipped).
    builtin = os.environ.get("RELIABILITY_BUILTIN_SIMULATOR") == "1"
    playground = Playground.open(
        Settings.from_env(), retry=RetryPolicy(scale=retry_scale), start_simulator=None if builtin else False
    )
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
