"""Commands of the `serve` package: `serve`, `process`, and their benchmarks."""

from __future__ import annotations

import typer

from serve import process_cli


def register(app: typer.Typer, bench: typer.Typer, dataset: typer.Typer) -> None:
    """Add the service commands; `process` and `bench process` come from serve.process_cli."""
    process_cli.register(app, bench, dataset)
    from serve.store import cli as store_cli; store_cli.register(app, bench, dataset)  # noqa: E702, I001
