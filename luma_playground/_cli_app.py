"""The command line with every command: those of `cli` and those kept in modules of their own."""

from __future__ import annotations

# Importing a command's module registers the command on `cli.app`.
from . import _cli_batch, _cli_tasks, cli  # noqa: F401

__all__ = ["app", "main"]

app = cli.app


def main() -> None:
    """Entry point of the `luma-playground` script."""
    app()
