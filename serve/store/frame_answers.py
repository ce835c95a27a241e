"""The answers given to live frames, by (vehicle_id, frame_id): what makes a vehicle's retry idempotent.

Two statements run for every live frame: a look-up before it is decoded, an insert once it is
answered. Each is one plain statement on the pooled DBAPI connection (serve.store.plain: ~0.02-0.05 ms
of CPU against ~0.3 ms through SQLAlchemy's execution machinery on SQLite). The answer is
serialised to JSON text once (SQLite stores that text; PostgreSQL casts it to json) and the time goes
through the column type's own SQLAlchemy converter, so rows read back exactly as the ORM reads them.
The table, its migrations and its retention purge stay with the ORM (serve.store.models,
CaseStore.purge_frame_results).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from serve.store.models import FrameResultRow
from serve.store.plain import fetch_one, placeholder


class FrameAnswers:
    """Get and put frame answers with one plain statement each. Thread-safe (pooled connections)."""

    def __init__(self, engine: sa.Engine, to_json: Callable[[Any], str]) -> None:
        """`to_json`: an answer as JSON text (datetimes, numpy scalars: CaseStore's rule)."""
        self.engine = engine
        self.dialect = engine.dialect
        self._to_json = to_json
        columns = FrameResultRow.__table__.c
        self._bind_time = _bind(columns.created_at.type, self.dialect)
        result_type = columns.result.type.dialect_impl(self.dialect)
        self._read_result = result_type.result_processor(self.dialect, None)
        mark = placeholder(self.dialect)
        json_mark = mark if self.dialect.name == "sqlite" else f"CAST({mark} AS JSON)"
        self._select = f"SELECT result FROM frame_results WHERE vehicle_id = {mark} AND frame_id = {mark}"
        self._insert = (
            "INSERT INTO frame_results (vehicle_id, frame_id, result, created_at) "
            f"VALUES ({mark}, {mark}, {json_mark}, {mark})"
        )
        self._integrity_error = self.dialect.loaded_dbapi.IntegrityError

    def get(self, vehicle_id: str, frame_id: str) -> dict | None:
        """The stored answer to (vehicle_id, frame_id), or None."""
        row = fetch_one(self.engine, self._select, (vehicle_id, frame_id))
        if row is None:
            return None
        value = self._read_result(row[0]) if self._read_result is not None else row[0]
        return dict(value)

    def put(self, vehicle_id: str, frame_id: str, answer: dict, now: datetime) -> bool:
        """Store the answer unless one is stored already; False when it was (the first one stands)."""
        stored = self._to_json(answer)
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(self._insert, (vehicle_id, frame_id, stored, self._bind_time(now)))
            except self._integrity_error:
                connection.rollback()
                return False
            finally:
                cursor.close()
            connection.commit()  # PostgreSQL's driver opened a transaction; SQLite's has none open
            return True
        finally:
            connection.close()


def _bind(column_type: sa.types.TypeEngine, dialect: sa.Dialect) -> Callable[[Any], Any]:
    """The column type's Python -> driver converter on this dialect (identity when it has none)."""
    processor = column_type.dialect_impl(dialect).bind_processor(dialect)
    return processor if processor is not None else (lambda value: value)
