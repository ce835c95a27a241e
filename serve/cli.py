"""Commands of the `serve` package: `serve`, `keys`, `users`, `process`, `dataset from-reviews`, `bench load`,
`bench live-path`."""

from __future__ import annotations

from pathlib import Path

import typer

from serve.cli_options import ConfigOpt, DataDirOpt, DbOpt

keys_app = typer.Typer(
    help="API keys: create, list, revoke (the service's case store).", no_args_is_help=True
)
users_app = typer.Typer(help="Web logins for inspectors and admins.", no_args_is_help=True)


def _settings(config: Path | None, data_dir: Path | None, db: str | None = None, **more):
    from serve.settings import load_settings

    return load_settings(config, data_dir=data_dir, db_url=db, **more)


def _store(config: Path | None, data_dir: Path | None, db: str | None):
    from serve.store import CaseStore

    settings = _settings(config, data_dir, db)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return CaseStore.open(settings.db_url, str(settings.evidence_dir))


def serve_command(
    host: str = typer.Option(None, "--host", help="Listen address (default 127.0.0.1)."),
    port: int = typer.Option(None, "--port", help="Listen port (default 8000)."),
    data_dir: Path = DataDirOpt,
    config: Path = ConfigOpt,
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Service processes sharing the port (uvicorn workers)."
    ),
) -> None:
    """Start the service: live frames, footage jobs, cases, review page (all state under the data dir)."""
    import logging

    import uvicorn

    from serve.api import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = _settings(config, data_dir, host=host, port=port)
    if workers > 1:  # N processes, one port; store/evidence shared (README.md#deployment)
        from serve.api.workers import serve_workers

        return serve_workers(settings, workers, log_level, config)
    app = create_app(settings)
    typer.echo(
        f"streetwatch: serving on http://{settings.host}:{settings.port} "
        f"(data: {settings.data_dir.resolve()}, model: {settings.model_path})"
    )
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level=log_level, ws_max_size=32 * 1024 * 1024
    )


@keys_app.command("create")
def keys_create(
    role: str = typer.Option(..., "--role", help="vehicle, inspector or admin."),
    vehicle: str = typer.Option(None, "--vehicle", help="Vehicle id (required for --role vehicle)."),
    name: str = typer.Option(None, "--name", help="What the key is for (default: role + vehicle)."),
    data_dir: Path = DataDirOpt,
    config: Path = ConfigOpt,
    db: str = DbOpt,
) -> None:
    """Create an API key and print it (shown once; only its hash is stored)."""
    from detector.errors import InputError

    if role not in ("vehicle", "inspector", "admin"):
        raise InputError(f"--role must be vehicle, inspector or admin, not {role!r}")
    if role == "vehicle" and not vehicle:
        raise InputError("--vehicle is required for a vehicle key")
    if role != "vehicle" and vehicle:
        raise InputError("--vehicle is only for vehicle keys")
    store = _store(config, data_dir, db)
    try:
        record, plaintext = store.access.create_api_key(
            name or (f"vehicle {vehicle}" if vehicle else role), role, vehicle
        )
    finally:
        store.close()
    typer.echo(plaintext)
    typer.echo(
        f"key id {record.id} role {record.role.value}" + (f" vehicle {vehicle}" if vehicle else ""), err=True
    )


@keys_app.command("list")
def keys_list(data_dir: Path = DataDirOpt, config: Path = ConfigOpt, db: str = DbOpt) -> None:
    """List API keys (ids, roles, vehicles; never the secrets)."""
    store = _store(config, data_dir, db)
    try:
        for key in store.access.list_api_keys():
            state = "revoked" if key.revoked else "active"
            typer.echo(
                f"{key.id}\t{key.role.value}\t{key.vehicle_id or '-'}\t{key.prefix}…\t{state}\t{key.name}"
            )
    finally:
        store.close()


@keys_app.command("revoke")
def keys_revoke(
    key_id: str = typer.Argument(..., help="Key id (from `keys list`)."),
    data_dir: Path = DataDirOpt,
    config: Path = ConfigOpt,
    db: str = DbOpt,
) -> None:
    """Revoke an API key at once."""
    store = _store(config, data_dir, db)
    try:
        store.access.revoke_api_key(key_id)
    finally:
        store.close()
    typer.echo(f"revoked {key_id}")


@users_app.command("create")
def users_create(
    username: str = typer.Argument(...),
    role: str = typer.Option("inspector", "--role", help="inspector or admin."),
    password: str = typer.Option(..., "--password", prompt=True, hide_input=True, confirmation_prompt=True),
    data_dir: Path = DataDirOpt,
    config: Path = ConfigOpt,
    db: str = DbOpt,
) -> None:
    """Create a web login."""
    from detector.errors import InputError

    if role not in ("inspector", "admin"):
        raise InputError(f"--role must be inspector or admin, not {role!r}")
    store = _store(config, data_dir, db)
    try:
        store.access.create_user(username, password, role)
    finally:
        store.close()
    typer.echo(f"created {role} {username}")


def from_reviews_command(
    out: Path = typer.Option(..., "--out", help="Output folder (YOLO layout: images/, labels/, data.yaml)."),
    db: str = DbOpt,
    data_dir: Path = DataDirOpt,
    config: Path = ConfigOpt,
) -> None:
    """Inspectors' decisions -> training data: confirmed/corrected labelled, rejected as background."""
    from serve.from_reviews import export_reviews

    settings = _settings(config, data_dir, db)
    summary = export_reviews(settings.db_url, settings.evidence_dir, out)
    typer.echo(
        f"{summary.labelled} labelled images ({summary.boxes} boxes), {summary.background} background images "
        f"-> {out} (skipped: {summary.skipped})"
    )


config_app = typer.Typer(help="The settings every command reads: show them, or write their reference.")


@config_app.command("show")
def config_show(data_dir: Path = DataDirOpt, config: Path = ConfigOpt) -> None:
    """Print the settings in effect (flags > STREETWATCH_* > the YAML file > defaults) as YAML."""
    import yaml

    shown = _settings(config, data_dir).model_dump(mode="json")
    if shown.get("session_secret"):
        shown["session_secret"] = "(set; not shown)"
    typer.echo(yaml.safe_dump(shown, sort_keys=False, allow_unicode=True))


@config_app.command("docs")
def config_docs(
    out: Path | None = typer.Option(None, "--out", help="Write here (docs/configuration.md), not to stdout."),
) -> None:
    """The reference table of every setting (docs/configuration.md is this output)."""
    from serve.settings import settings_markdown

    text = settings_markdown()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")


def register(app: typer.Typer, bench: typer.Typer, dataset: typer.Typer) -> None:
    """Add the service commands, the store's (`db`) and the engines' (`process`)."""
    from serve.engines import cli as engines_cli
    from serve.store import cli as store_cli

    store_cli.register(app, bench, dataset)
    engines_cli.register(app, bench, dataset)
    app.command("serve")(serve_command)
    app.add_typer(keys_app, name="keys")
    app.add_typer(users_app, name="users")
    app.add_typer(config_app, name="config")
    dataset.command("from-reviews")(from_reviews_command)
