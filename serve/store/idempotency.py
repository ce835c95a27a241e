"""What makes a repeated input harmless: the answers given to live frames (a vehicle's retry gets the
same answer), the recordings already processed and with which settings, and stored event keys.

Frame answers are read and written on every live frame, so those two statements skip SQLAlchemy's
execution machinery (`_FrameAnswerStatements`); everything else here goes through the ORM.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from serve.store.convert import jsonable, to_json
from serve.store.db import Database, Repository
from serve.store.models import FrameAnswerRow, ObservationRow, ProcessedSourceRow


class IdempotencyRepository(Repository):
    """Frame answers, processed sources and event keys. Thread-safe."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._frame_answers = _FrameAnswerStatements(db.engine)

    # ---- live frames (POST /v1/frames) ----------------------------------------------------------
    def get_frame_answer(self, vehicle_id: str, frame_id: str) -> dict | None:
        """The answer given to an already processed frame, or None."""
        return self._frame_answers.get(vehicle_id, frame_id)

    def save_frame_answer(self, vehicle_id: str, frame_id: str, answer: dict) -> dict:
        """Store the answer once (unique on vehicle_id, frame_id); returns the stored (first) answer."""
        if self._frame_answers.put(vehicle_id, frame_id, answer, self.db.now()):
            return answer
        stored = self.get_frame_answer(vehicle_id, frame_id)
        if stored is None:  # purged between the insert and this read: the answer given stands
            return answer
        return stored

    def purge_frame_answers(self, older_than: timedelta) -> int:
        """Forget the answers to frames processed more than `older_than` ago; returns how many.

        They exist so that a vehicle's retry is answered without a second observation; a vehicle
        resends within minutes, so keeping them for days only grows the table. A frame retried after
        its answer was purged is processed again."""
        cutoff = self.db.now() - older_than
        with self.db.write() as s:
            result = s.execute(sa.delete(FrameAnswerRow).where(FrameAnswerRow.created_at < cutoff))
            return int(result.rowcount or 0)

    # ---- recordings (detector.pipeline.batch) ---------------------------------------------------
    def claim_source(self, source_id: str, settings: dict, path: str, replace: bool = False) -> dict | None:
        """Record that a recording is processed with `settings`, in one transaction. When the store
        holds it from a run with other settings and `replace` is not set, nothing is written and those
        earlier settings come back (the caller refuses the run); else None."""
        wanted = jsonable(settings)
        now = self.db.now()
        try:
            with self.db.write() as s:
                row = s.get(ProcessedSourceRow, source_id)
                if row is None:
                    s.add(
                        ProcessedSourceRow(
                            source_id=source_id,
                            settings=wanted,
                            path=path,
                            first_processed_at=now,
                            last_processed_at=now,
                        )
                    )
                    return None
                if row.settings != wanted and not replace:
                    return dict(row.settings)
                row.settings, row.path, row.last_processed_at = wanted, path, now
                return None
        except IntegrityError:  # another writer recorded it between our read and our insert
            return self.claim_source(source_id, settings, path, replace)

    # ---- events ---------------------------------------------------------------------------------
    def event_key_stored(self, event_key: str) -> bool:
        """True when an observation with this event key is stored (a retry or a re-run)."""
        with self.db.read() as s:
            query = sa.select(ObservationRow.id).where(ObservationRow.event_key == event_key)
            return s.scalar(query) is not None


class _FrameAnswerStatements:
    """The frame-answer look-up and insert, each one fixed plain statement on a pooled DBAPI connection.

    Invariants that make this safe beside the ORM:
    - each call is a single statement, atomic on its own: no explicit transaction is needed, and the
      connection goes back to the pool (which ends whatever transaction the driver opened) at once;
    - values go through the columns' own SQLAlchemy converters (the time's bind processor, the JSON
      result processor; the answer is JSON text that SQLite keeps as is and PostgreSQL casts to json),
      so the rows are exactly the ORM's (tests/test_store_records.py reads them back through the ORM);
    - the table, its migrations and the retention purge stay with the ORM (FrameAnswerRow).
    The reason is cost: through SQLAlchemy's execution machinery each statement costs ~0.3 ms of CPU
    on SQLite against ~0.02-0.05 ms plain, twice for every live frame.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        dialect = engine.dialect
        columns = FrameAnswerRow.__table__.c
        self._bind_time = _bind(columns.created_at.type, dialect)
        self._read_answer = columns.result.type.dialect_impl(dialect).result_processor(dialect, None)
        mark = "?" if dialect.paramstyle == "qmark" else "%s"  # sqlite3 or psycopg
        json_mark = mark if dialect.name == "sqlite" else f"CAST({mark} AS JSON)"
        table = FrameAnswerRow.__tablename__
        self._select = f"SELECT result FROM {table} WHERE vehicle_id = {mark} AND frame_id = {mark}"
        self._insert = (
            f"INSERT INTO {table} (vehicle_id, frame_id, result, created_at) "
            f"VALUES ({mark}, {mark}, {json_mark}, {mark})"
        )
        self._integrity_error = dialect.loaded_dbapi.IntegrityError

    def get(self, vehicle_id: str, frame_id: str) -> dict | None:
        """The stored answer to (vehicle_id, frame_id), or None."""
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(self._select, (vehicle_id, frame_id))
            row = cursor.fetchone()
            cursor.close()
        finally:
            connection.close()
        if row is None:
            return None
        value = self._read_answer(row[0]) if self._read_answer is not None else row[0]
        return dict(value)

    def put(self, vehicle_id: str, frame_id: str, answer: dict, now: datetime) -> bool:
        """Store the answer unless one is stored already; False when it was (the first one stands)."""
        stored = to_json(answer)
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
