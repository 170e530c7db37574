"""The Luma Ray 2 playground: `python app.py [--share] [--mcp] [--port N]`, or `gradio app.py`.

Without `WAVESPEED_API_KEY` it runs on the offline simulator; each visitor may still enter a key.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Sequence

import gradio as gr

from luma_playground import Playground, Settings
from luma_playground.ui import build_demo, launch_options

if gr.NO_RELOAD:
    # Opened once per process: `gradio app.py` re-runs the rest of this file on every edit.
    playground = Playground.open(Settings.from_env())

demo = build_demo(playground)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="app.py", description="Run the Luma Ray 2 image-to-video playground."
    )
    parser.add_argument("--share", action="store_true", help="also serve it on a public gradio.live link")
    parser.add_argument("--mcp", action="store_true", help="expose the generate endpoint as an MCP tool")
    parser.add_argument(
        "--port", type=int, default=None, help="port to listen on (default: GRADIO_SERVER_PORT, else 7860)"
    )
    parser.add_argument(
        "--host", default=None, help="address to listen on (default: GRADIO_SERVER_NAME, else 127.0.0.1)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    changes = {name: True for name in ("share", "mcp") if getattr(args, name)}
    # A share link or an open address makes the deployment shared: the per-session limits and
    # the per-visitor history follow the settings.
    settings = playground.settings.listening_on(args.host)
    if changes or settings is not playground.settings:
        playground.settings = settings.with_changes(**changes)
    options = launch_options(playground, server_port=args.port, server_name=args.host)
    try:
        demo.launch(**options)
    finally:
        with contextlib.suppress(Exception):
            asyncio.run(playground.aclose())


if __name__ == "__main__" and gr.NO_RELOAD:
    # `gradio app.py` re-runs this file as __main__ in its watcher; only the first run launches.
    main()
