"""Options shared by the commands that load the service's settings (serve.settings.load_settings): each
one names where the settings come from or overrides one of them, and means the same in every command."""

from __future__ import annotations

import typer

DataDirOpt = typer.Option(
    None, "--data-dir", help="Data folder (default: STREETWATCH_DATA_DIR, the YAML file's, else ./data)."
)
ConfigOpt = typer.Option(
    None, "--config", help="StreetWatch YAML (default ./streetwatch.yaml or STREETWATCH_CONFIG)."
)
DbOpt = typer.Option(
    None,
    "--db",
    help="Case store URL (sqlite:///path.db or postgresql+psycopg://...). Default: the settings' db_url "
    "(STREETWATCH_DB_URL, the YAML file's db_url, else <data dir>/streetwatch.db).",
)
