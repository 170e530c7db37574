"""`python -m luma_playground.simulator [--host H] [--port P] [--time-scale S] [--seed N]`."""

from __future__ import annotations

import argparse

from ._server import serve


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(prog="python -m luma_playground.simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    serve(args.host, args.port, args.time_scale, args.seed)


if __name__ == "__main__":
    main()
