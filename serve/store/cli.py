"""`streetwatch db upgrade|downgrade|current [--db URL]`: manage the case store schema (Alembic)."""

from __future__ import annotations

import typer

DB_HELP = (
    "Case store URL (sqlite:///path.db or postgresql+psycopg://...). "
    "Default: STREETWATCH_DB_URL, else <STREETWATCH_DATA_DIR or ./data>/streetwatch.db."
)


def register(app: typer.Typer, bench: typer.Typer, dataset: typer.Typer) -> None:
    """Add the `db` command group."""
    db = typer.Typer(help="Case store schema: upgrade, downgrade, current revision.", no_args_is_help=True)
    app.add_typer(db, name="db")

    @db.command("upgrade")
    def upgrade(
        revision: str = typer.Argument("head", help="Target revision (default: head)."),
        db_url: str | None = typer.Option(None, "--db", help=DB_HELP),
    ) -> None:
        """Upgrade the schema (creates the database file when it does not exist)."""
        from serve.store import migrate
        from serve.store.db import default_db_url

        url = db_url or default_db_url()
        migrate.upgrade(url, revision)
        typer.echo(f"{url}: at revision {migrate.current_revision(url)}")

    @db.command("downgrade")
    def downgrade(
        revision: str = typer.Argument(
            "-1", help='Target revision: one step back by default, "0001", or "base" (drops everything).'
        ),
        db_url: str | None = typer.Option(None, "--db", help=DB_HELP),
    ) -> None:
        """Downgrade the schema to an older revision."""
        from serve.store import migrate
        from serve.store.db import default_db_url

        url = db_url or default_db_url()
        migrate.downgrade(url, revision)
        typer.echo(f"{url}: at revision {migrate.current_revision(url) or 'base (empty)'}")

    @db.command("current")
    def current(db_url: str | None = typer.Option(None, "--db", help=DB_HELP)) -> None:
        """Print the database's revision and the newest one this code knows."""
        from serve.store import migrate
        from serve.store.db import default_db_url

        url = db_url or default_db_url()
        typer.echo(
            f"current: {migrate.current_revision(url) or 'base (empty)'}  head: {migrate.head_revision()}"
        )
