"""`python -m luma_playground.simulator [--host H] [--port P] [--time-scale S] [--seed N] [limits]`.

Limits per key, as a tier sets them: `--submits-per-minute N`, `--concurrent-tasks N`.
"""

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
    parser.add_argument("--submits-per-minute", type=int, help="video submits per key per scaled minute")
    parser.add_argument("--concurrent-tasks", type=int, help="video tasks per key running at once")
    args = parser.parse_args()
    serve(
        args.host,
        args.port,
        args.time_scale,
        args.seed,
        submits_per_minute=args.submits_per_minute,
        concurrent_tasks=args.concurrent_tasks,
    )


if __name__ == "__main__":
    main()
