"""`streetwatch process`: recorded footage -> detector -> tracker -> events -> cases."""

from __future__ import annotations

import typer


def register(app: typer.Typer, bench: typer.Typer, dataset: typer.Typer) -> None:
    """Add `process` and `bench process`."""
