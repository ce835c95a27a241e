"""Commands of the `datasets` package: `dataset import|check|split` and `synth`."""

from __future__ import annotations

import typer

from datasets.synth import cli as synth_cli


def register(app: typer.Typer, bench: typer.Typer, dataset: typer.Typer) -> None:
    """Add the dataset tooling to the `dataset` group and the generator's `synth` command to the app."""
    synth_cli.register(app, bench, dataset)
