"""Single plain statements on a pooled DBAPI connection, for hot look-ups: a frame's answer, an event's key.

Through SQLAlchemy's execution machinery one SELECT costs ~0.2-0.3 ms of CPU on SQLite (statement
cache key, events, an explicit BEGIN ... ROLLBACK round, ORM loading), against ~0.02 ms as one plain
statement (docs/api.md, "Session 13"). A single statement is atomic on its own, so it needs no
explicit transaction. Used only where the statement is fixed and hot; everything else goes through
the ORM.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def placeholder(dialect: sa.Dialect) -> str:
    """The driver's parameter mark: `?` (sqlite3) or `%s` (psycopg)."""
    return "?" if dialect.paramstyle == "qmark" else "%s"


def fetch_one(engine: sa.Engine, statement: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The first row `statement` returns, or None."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(statement, params)
        row = cursor.fetchone()
        cursor.close()
    finally:
        connection.close()  # back to the pool, which ends any transaction the driver opened
    return tuple(row) if row is not None else None
