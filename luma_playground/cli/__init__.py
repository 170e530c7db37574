"""The command line, `luma-playground` (or `python -m luma_playground`): the app and every command it has.

Each command is a function in the module of its kind; this list is the one place that names them.
"""

from __future__ import annotations

import typer

from . import account, batch, shots, tasks

__all__ = ["app", "main"]

app = typer.Typer(
    name="luma-playground",
    help="Luma Ray 2 image-to-video on WaveSpeedAI: generate, follow and keep your videos.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for command in (
    tasks.generate,
    tasks.finish,
    tasks.get,
    tasks.history,
    tasks.resume,
    account.price,
    account.enhance,
    account.cancel,
    shots.extend,
    shots.export,
    batch.batch,
    tasks.simulator,
):
    app.command()(command)


def main() -> None:
    """Entry point of the `luma-playground` script."""
    app()
