"""Run the Alembic migrations programmatically: no alembic.ini needed, the scripts ship in the package."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from serve.store.db import create_store_engine, writer_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 0x5377_4D49_4752  # "SwMIGR": serialises concurrent upgrades (several API processes)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _run(engine: Engine, fn, *args) -> None:
    config = alembic_config()
    with writer_engine(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        config.attributes["connection"] = conn
        fn(config, *args)


def upgrade(engine: Engine | str, revision: str = "head") -> None:
    """Upgrade the schema (idempotent; safe when several processes start at once)."""
    with _engine(engine) as eng:
        _run(eng, command.upgrade, revision)


def downgrade(engine: Engine | str, revision: str) -> None:
    """Downgrade to `revision` ("-1", "0001", "base")."""
    with _engine(engine) as eng:
        _run(eng, command.downgrade, revision)


def current_revision(engine: Engine | str) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with _engine(engine) as eng, eng.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _engine(engine: Engine | str) -> Iterator[Engine]:
    """`engine` itself, or an engine on the URL `engine`, disposed of when the block ends."""
    if not isinstance(engine, str):
        yield engine
        return
    eng = create_store_engine(engine)
    try:
        yield eng
    finally:
        eng.dispose()
