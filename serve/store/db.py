"""Engines for the case store: URL normalisation and per-dialect connection settings.

SQLite: WAL journal (readers never block the writer), busy_timeout (writers wait instead of
failing), foreign keys on, and transactions started by us so that writers can use BEGIN IMMEDIATE
(take the write lock up front: the merge lookup and the insert see the same database).
PostgreSQL: psycopg 3, pool_pre_ping so a restarted server does not break the next request.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool

from detector.errors import ConfigError

SQLITE_BUSY_TIMEOUT_MS = 30_000
IMMEDIATE = "streetwatch_sqlite_immediate"  # execution option: writers begin with BEGIN IMMEDIATE


def default_db_url() -> str:
    """STREETWATCH_DB_URL, else a SQLite file in STREETWATCH_DATA_DIR (default ./data)."""
    if os.environ.get("STREETWATCH_DB_URL"):
        return os.environ["STREETWATCH_DB_URL"]
    data_dir = Path(os.environ.get("STREETWATCH_DATA_DIR", "data"))
    return f"sqlite:///{data_dir / 'streetwatch.db'}"


def normalize_url(url: str) -> str:
    """Accept bare file paths (SQLite) and map postgresql:// / postgres:// to psycopg 3."""
    if "://" not in url:
        return f"sqlite:///{url}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_store_engine(url: str) -> Engine:
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"invalid database URL {url!r}: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        return sa.create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)
    raise ConfigError(f"unsupported database {backend!r} in {url!r}: use sqlite:/// or postgresql+psycopg://")


def _enable_wal(cursor) -> None:
    """Switch the database to WAL, waiting while another connection holds it.

    Changing the journal mode needs the database to itself, and SQLite answers "database is locked"
    at once instead of calling the busy handler; several processes opening a new store together
    (API workers, Ray workers) would fail. Retry for up to the busy timeout instead.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_engine(parsed) -> Engine:
    database = parsed.database
    memory = not database or database == ":memory:" or parsed.query.get("mode") == "memory"
    kwargs: dict = {"connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
    if memory:
        kwargs["poolclass"] = StaticPool  # one shared connection, else every connection is a new database
    else:
        Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        # Requests reach the store from up to 40 worker threads at once (Starlette's thread pool), plus
        # the idle flusher and job threads. An overflow connection is closed when it is returned, and
        # the next one pays for connect + WAL + pragmas again: keep 40 open (SQLite connections are
        # cheap), and let a few more open in a burst rather than make a thread wait.
        kwargs.update(pool_size=40, max_overflow=10)
    engine = sa.create_engine(parsed, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
        cursor = dbapi_connection.cursor()
        if not memory:
            _enable_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        immediate = conn.get_execution_options().get(IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def writer_engine(engine: Engine) -> Engine:
    """The engine to use for read-modify-write transactions (BEGIN IMMEDIATE on SQLite)."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{IMMEDIATE: True})
    return engine
