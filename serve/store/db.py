"""The case store's database: engines with per-dialect connection settings, and `Database`, the one
transaction object every repository of a store shares.

SQLite: WAL journal (readers never block the writer), busy_timeout (writers wait instead of
failing), foreign keys on, and transactions started by us so that writers can use BEGIN IMMEDIATE
(take the write lock up front: the merge lookup and the insert see the same database).
PostgreSQL: psycopg 3, pool_pre_ping so a restarted server does not break the next request; rows a
transaction will change are locked (SELECT ... FOR UPDATE) and concurrent merges exclude each other
with advisory locks on a grid of cells (serve.store.geo).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from detector.errors import ConfigError
from serve.store import geo
from serve.store.convert import utc

SQLITE_BUSY_TIMEOUT_MS = 30_000
IMMEDIATE = "streetwatch_sqlite_immediate"  # execution option: writers begin with BEGIN IMMEDIATE
_Select = TypeVar("_Select", bound=sa.Select)


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


class Database:
    """One store's database: its engine, read and write transactions, its clock, and what differs
    between SQLite and PostgreSQL. Thread-safe: every repository of a store shares one.

    A repository method runs in one transaction of its own: `read()` for look-ups, `write()` for
    read-modify-write (on SQLite it takes the write lock before the first read, so what a writer
    read still holds when it writes; on PostgreSQL it locks what it will change, see `for_update`).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = writer_engine(engine)
        #: The store's clock (tests replace it to check deadlines, overdue flags, leases and retention).
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def now(self) -> datetime:
        """The clock's time in UTC."""
        return utc(self.clock())

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A transaction for look-ups; loaded objects stay usable after it ends."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A read-modify-write transaction: BEGIN IMMEDIATE on SQLite (takes the write lock first)."""
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    def for_update(self, query: _Select, *, skip_locked: bool = False) -> _Select:
        """`query` locking the rows it selects until the transaction ends (PostgreSQL; SQLite's write
        transaction already excludes other writers). skip_locked: pass over rows others hold."""
        return query.with_for_update(skip_locked=skip_locked) if self.is_postgresql else query

    def lock_area(self, session: Session, namespace: str, lat: float, lon: float, radius_m: float) -> None:
        """Exclude other writers from the area around a point for the rest of the transaction.

        PostgreSQL: transaction-scoped advisory locks on the grid cells the search box touches, taken
        in one global order (no deadlock). SQLite: nothing to do, BEGIN IMMEDIATE serialises writers."""
        if not self.is_postgresql:
            return
        for key in geo.lock_keys(namespace, lat, lon, radius_m):
            session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    def ping(self) -> bool:
        """True when the database answers a trivial query (readiness)."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except sa.exc.SQLAlchemyError:
            return False

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.engine.dispose()


class Repository:
    """Reads and writes of some of a store's tables, each in a transaction of its own on the store's
    shared `Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db
