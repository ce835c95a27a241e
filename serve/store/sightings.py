"""The sightings log: context objects seen at a place (e.g. a parked vehicle), kept so that rules can
compare passes ("seen again on a later pass"). It is the detector's `SightingLog` (detector.rules)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from serve.store import geo
from serve.store.convert import from_row, jsonable, utc
from serve.store.db import Repository
from serve.store.models import SightingRow
from serve.store.types import Sighting


class SightingRepository(Repository):
    """Sightings by place, class and time. Thread-safe."""

    def record_sighting(
        self,
        class_name: str,
        vehicle_id: str,
        lat: float,
        lon: float,
        at: datetime,
        source: str | None = None,
        track_key: str | None = None,
        data: dict | None = None,
    ) -> Sighting:
        """Remember that an object was seen here (idempotent on track_key when given)."""
        if track_key:
            existing = self._by_track_key(track_key)
            if existing:
                return existing
        try:
            with self.db.write() as s:
                row = SightingRow(
                    class_name=class_name,
                    vehicle_id=vehicle_id,
                    lat=lat,
                    lon=lon,
                    at=utc(at),
                    source=source,
                    track_key=track_key,
                    data=jsonable(data or {}),
                )
                s.add(row)
                s.flush()
                return _sighting(row)
        except IntegrityError:
            existing = self._by_track_key(track_key) if track_key else None
            if existing is None:
                raise
            return existing

    def sightings_near(
        self,
        lat: float,
        lon: float,
        radius_m: float,
        class_name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        exclude_source: str | None = None,
    ) -> list[Sighting]:
        """Sightings within radius_m, oldest first, optionally by class/time, excluding one source."""
        query = sa.select(SightingRow).where(geo.in_search_box(SightingRow, lat, lon, radius_m))
        if class_name:
            query = query.where(SightingRow.class_name == class_name)
        if since:
            query = query.where(SightingRow.at >= utc(since))
        if until:
            query = query.where(SightingRow.at < utc(until))
        if exclude_source is not None:
            query = query.where(sa.or_(SightingRow.source.is_(None), SightingRow.source != exclude_source))
        with self.db.read() as s:
            rows = s.scalars(query.order_by(SightingRow.at, SightingRow.id)).all()
            return [_sighting(r) for _, r in geo.within(rows, lat, lon, radius_m)]

    def _by_track_key(self, track_key: str) -> Sighting | None:
        with self.db.read() as s:
            row = s.scalar(sa.select(SightingRow).where(SightingRow.track_key == track_key))
            return _sighting(row) if row else None


def _sighting(row: SightingRow) -> Sighting:
    return from_row(Sighting, row, data=row.data or {})
