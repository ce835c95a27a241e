"""Commands of the `training` package (registered on the `streetwatch` app by streetwatch.cli)."""

from __future__ import annotations

import typer


def register(app: typer.Typer, bench: typer.Typer, dataset: typer.Typer) -> None:
    """Add this package's commands to the root app and the `bench` and `dataset` groups."""
