"""`streetwatch synth`: render synthetic patrol frames or drive-by clips."""

from __future__ import annotations

import typer


def register(app: typer.Typer, bench: typer.Typer, dataset: typer.Typer) -> None:
    """Add `synth` to the root app."""
