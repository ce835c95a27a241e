"""SQLAlchemy 2 ORM tables of the case store. The schema itself is created by Alembic migrations
(serve/store/migrations/versions); these classes must match them (tests/test_migrations.py checks).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC in Python; timestamptz on PostgreSQL, naive UTC text on SQLite."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {
        datetime: UTCDateTime,
        float: sa.Float,
        dict[str, Any]: sa.JSON,
        list[Any]: sa.JSON,
    }


class CaseRow(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    matter_code: Mapped[str] = mapped_column(sa.String(32))
    class_name: Mapped[str] = mapped_column(sa.String(64))
    severity: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    lat: Mapped[float]
    lon: Mapped[float]
    address: Mapped[str | None] = mapped_column(sa.Text)
    road_name: Mapped[str | None] = mapped_column(sa.String(200))
    road_segment_id: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    responsible_unit: Mapped[str | None] = mapped_column(sa.String(200))
    road_chief: Mapped[str | None] = mapped_column(sa.String(200))
    area_class: Mapped[str | None] = mapped_column(sa.String(8))
    layer_version: Mapped[str | None] = mapped_column(sa.String(100))
    deadline: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    first_seen: Mapped[datetime | None]
    last_seen: Mapped[datetime | None]
    handled_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    best_observation_id: Mapped[int | None]
    evidence_key: Mapped[str | None] = mapped_column(sa.String(100))
    crop_key: Mapped[str | None] = mapped_column(sa.String(100))
    frame_key: Mapped[str | None] = mapped_column(sa.String(100))  # original frame; evidence drawn on read
    best_box: Mapped[list[Any] | None]
    score: Mapped[float] = mapped_column(default=0.0)
    best_quality: Mapped[float] = mapped_column(default=0.0)
    observation_count: Mapped[int] = mapped_column(default=0)
    vehicle_ids: Mapped[list[Any]] = mapped_column(default=list)

    __table_args__ = (sa.Index("ix_cases_merge", "matter_code", "lat", "lon"),)


class ObservationRow(Base):
    __tablename__ = "observations"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    event_key: Mapped[str] = mapped_column(sa.String(255), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(20), default="detection")
    observed_at: Mapped[datetime]
    last_seen: Mapped[datetime | None]
    vehicle_id: Mapped[str] = mapped_column(sa.String(100))
    lat: Mapped[float]
    lon: Mapped[float]
    score: Mapped[float] = mapped_column(default=0.0)
    box: Mapped[list[Any] | None]
    class_name: Mapped[str | None] = mapped_column(sa.String(64))
    evidence_key: Mapped[str | None] = mapped_column(sa.String(100))
    crop_key: Mapped[str | None] = mapped_column(sa.String(100))
    frame_key: Mapped[str | None] = mapped_column(sa.String(100))  # original frame; evidence drawn on read
    frame_index: Mapped[int | None]
    source: Mapped[str | None] = mapped_column(sa.Text)
    position_source: Mapped[str | None] = mapped_column(sa.String(20))
    hits: Mapped[int | None]
    quality: Mapped[float] = mapped_column(default=0.0)
    created_at: Mapped[datetime]
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


class HistoryRow(Base):
    __tablename__ = "case_history"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(sa.String(40))
    actor: Mapped[str] = mapped_column(sa.String(200))
    at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(sa.Text)
    from_status: Mapped[str | None] = mapped_column(sa.String(20))
    to_status: Mapped[str | None] = mapped_column(sa.String(20))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class FrameAnswerRow(Base):
    """The answer given to a live frame (serve.store.idempotency); the table keeps its first name."""

    __tablename__ = "frame_results"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    vehicle_id: Mapped[str] = mapped_column(sa.String(100))
    frame_id: Mapped[str] = mapped_column(sa.String(200))
    result: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]

    __table_args__ = (
        sa.UniqueConstraint("vehicle_id", "frame_id", name="uq_frame_results_vehicle_frame"),
        sa.Index("ix_frame_results_created_at", "created_at"),  # the retention purge (0003)
    )


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20), default="video")
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    source_path: Mapped[str] = mapped_column(sa.Text)
    gps_path: Mapped[str | None] = mapped_column(sa.Text)
    vehicle_id: Mapped[str | None] = mapped_column(sa.String(100))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    frames_done: Mapped[int] = mapped_column(default=0)
    frames_total: Mapped[int | None]
    cases_so_far: Mapped[int] = mapped_column(default=0)
    observations_so_far: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    owner: Mapped[str | None] = mapped_column(sa.String(64))  # the instance that claimed it (0004)
    lease_until: Mapped[datetime | None]  # its claim holds until then unless renewed


class ProcessedSourceRow(Base):
    """A recording processed into this store and the settings it was processed with (0006)."""

    __tablename__ = "processed_sources"

    source_id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)  # content hash
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # detector, sampling rate, tracker
    path: Mapped[str | None] = mapped_column(sa.Text)
    first_processed_at: Mapped[datetime]
    last_processed_at: Mapped[datetime]


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(20))
    vehicle_id: Mapped[str | None] = mapped_column(sa.String(100))
    prefix: Mapped[str] = mapped_column(sa.String(16))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(sa.String(100), unique=True)
    role: Mapped[str] = mapped_column(sa.String(20))
    password_hash: Mapped[str] = mapped_column(sa.String(300))
    created_at: Mapped[datetime]
    disabled: Mapped[bool] = mapped_column(default=False)


class SightingRow(Base):
    __tablename__ = "sightings"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    class_name: Mapped[str] = mapped_column(sa.String(64))
    vehicle_id: Mapped[str] = mapped_column(sa.String(100))
    lat: Mapped[float]
    lon: Mapped[float]
    at: Mapped[datetime] = mapped_column(index=True)
    source: Mapped[str | None] = mapped_column(sa.Text)
    track_key: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (sa.Index("ix_sightings_geo", "class_name", "lat", "lon"),)
