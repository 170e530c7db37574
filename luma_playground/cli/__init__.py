"""The command line with every command: those of `cli` and those kept in modules of their own."""

from __future__ import annotations

from . import account as _cli_tasks

# Importing a command's module registers the command on `cli.app`.
from . import batch as _cli_batch  # noqa: F401
from . import tasks as cli

__all__ = ["app", "main"]

app = cli.app


def main() -> None:
    """Entry point of the `luma-playground` script."""
    app()
