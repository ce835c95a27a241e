"""`streetwatch db upgrade|downgrade|current [--db URL]`: manage the case store schema (Alembic)."""

from __future__ import annotations

from pathlib import Path

import typer

from serve.cli_options import ConfigOpt, DataDirOpt, DbOpt


def _db_url(db_url: str | None, config: Path | None, data_dir: Path | None) -> str:
    """The store URL every command uses: the flag, else the settings (env > YAML > defaults)."""
    from serve.settings import load_settings

    return str(load_settings(config, data_dir=data_dir, db_url=db_url).db_url)


def register(app: typer.Typer, bench: typer.Typer, dataset: typer.Typer) -> None:
    """Add the `db` command group."""
    db = typer.Typer(help="Case store schema: upgrade, downgrade, current revision.", no_args_is_help=True)
    app.add_typer(db, name="db")

    @db.command("upgrade")
    def upgrade(
        revision: str = typer.Argument("head", help="Target revision (default: head)."),
        db_url: str | None = DbOpt,
        config: Path | None = ConfigOpt,
        data_dir: Path | None = DataDirOpt,
    ) -> None:
        """Upgrade the schema (creates the database file when it does not exist)."""
        from serve.store import migrate

        url = _db_url(db_url, config, data_dir)
        migrate.upgrade(url, revision)
        typer.echo(f"{url}: at revision {migrate.current_revision(url)}")

    @db.command("downgrade")
    def downgrade(
        revision: str = typer.Argument(
            "-1", help='Target revision: one step back by default, "0001", or "base" (drops everything).'
        ),
        db_url: str | None = DbOpt,
        config: Path | None = ConfigOpt,
        data_dir: Path | None = DataDirOpt,
    ) -> None:
        """Downgrade the schema to an older revision."""
        from serve.store import migrate

        url = _db_url(db_url, config, data_dir)
        migrate.downgrade(url, revision)
        typer.echo(f"{url}: at revision {migrate.current_revision(url) or 'base (empty)'}")

    @db.command("current")
    def current(
        db_url: str | None = DbOpt,
        config: Path | None = ConfigOpt,
        data_dir: Path | None = DataDirOpt,
    ) -> None:
        """Print the database's revision and the newest one this code knows."""
        from serve.store import migrate

        url = _db_url(db_url, config, data_dir)
        typer.echo(
            f"current: {migrate.current_revision(url) or 'base (empty)'}  head: {migrate.head_revision()}"
        )
