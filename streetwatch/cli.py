"""`streetwatch` console command.

Each domain package owns its commands in its own `cli.py` and exposes `register(app, bench, dataset)`;
this module only composes them and turns user errors into one-line messages. Domain `cli.py`
modules must stay cheap to import: heavy imports go inside the command functions.
"""

from __future__ import annotations

import sys

import typer

from detector.errors import StreetWatchError

app = typer.Typer(
    name="streetwatch",
    help="StreetWatch: street-scene violation detection for city management.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench = typer.Typer(help="Benchmarks that measure the README's speed figures.", no_args_is_help=True)
app.add_typer(bench, name="bench")
dataset = typer.Typer(help="Dataset tooling: import, check, split, from-reviews.", no_args_is_help=True)
app.add_typer(dataset, name="dataset")


def _register_all() -> None:
    from datasets import cli as datasets_cli
    from detector import cli as detector_cli
    from serve import cli as serve_cli
    from streetwatch.bench import cli as bench_cli
    from training import cli as training_cli

    for module in (detector_cli, datasets_cli, training_cli, serve_cli, bench_cli):
        module.register(app, bench, dataset)


_register_all()


def main() -> None:
    try:
        app()
    except StreetWatchError as exc:
        typer.echo(f"streetwatch: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("streetwatch: interrupted", err=True)
        sys.exit(130)
