"""Alembic environment for the case store.

Run programmatically (serve/store/migrate.py), which passes an open connection in
`config.attributes["connection"]`; the `sqlalchemy.url` option is the fallback for plain `alembic`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from serve.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE via table copy on SQLite
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) mode is not supported; run `streetwatch db upgrade`")
run_migrations_online()
