"""The merge rules: which open case an event joins, and how its observation folds into that case."""

from __future__ import annotations

import math
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from detector.types import ViolationEvent
from serve.store import geo
from serve.store.convert import jsonable, utc
from serve.store.models import CaseRow, HistoryRow, ObservationRow
from serve.store.types import OPEN_STATUSES, CaseStatus

#: Case fields an event fills in: when it opens the case, or later when the case does not know them yet.
ROAD_FIELDS = (
    "road_segment_id",
    "road_name",
    "responsible_unit",
    "road_chief",
    "area_class",
    "layer_version",
)


class EvidenceKeys(NamedTuple):
    """Storage keys of an event's pictures: drawn at once (evidence, crop) or the original frame."""

    evidence: str | None
    crop: str | None
    frame: str | None


def _quality(event: ViolationEvent) -> float:
    """How good an observation is as evidence: event.extra["evidence_quality"], else score*sqrt(area)."""
    given = event.extra.get("evidence_quality") if event.extra else None
    if given is not None:
        return float(given)
    return float(event.score) * math.sqrt(max(event.detection.area, 0.0))


def nearest_open_case(
    s: Session, matter_code: str, lat: float, lon: float, radius_m: float
) -> CaseRow | None:
    """The nearest open case of `matter_code` within `radius_m` (ties: the older case); None = none."""
    rows = s.scalars(
        sa.select(CaseRow).where(
            CaseRow.matter_code == matter_code,
            CaseRow.status.in_([st.value for st in OPEN_STATUSES]),
            geo.in_search_box(CaseRow, lat, lon, radius_m),
        )
    ).all()
    near = [(d, row.id, row) for d, row in geo.within(rows, lat, lon, radius_m)]
    return min(near, key=lambda c: c[:2])[2] if near else None


def observation_row(case_id: int, event: ViolationEvent, keys: EvidenceKeys, now: datetime) -> ObservationRow:
    return ObservationRow(
        case_id=case_id,
        event_key=event.event_key,
        kind="detection",
        observed_at=utc(event.first_seen),
        last_seen=utc(event.last_seen),
        vehicle_id=event.vehicle_id,
        lat=event.lat,
        lon=event.lon,
        score=float(event.score),
        box=[round(float(v), 2) for v in event.detection.box],
        class_name=event.class_name,
        evidence_key=keys.evidence,
        crop_key=keys.crop,
        frame_key=keys.frame,
        frame_index=event.frame_index,
        source=event.source,
        position_source=event.position_source,
        hits=event.hits,
        quality=_quality(event),
        created_at=now,
        extra=jsonable(event.extra),
    )


def absorb(
    s: Session, case: CaseRow, obs: ObservationRow, event: ViolationEvent, created: bool, now: datetime
) -> None:
    """Fold a new detection observation into its case: position, counts, best evidence, road info."""
    n = case.observation_count
    if not created:
        case.lat = case.lat + (event.lat - case.lat) / (n + 1)  # running mean of observations
        case.lon = case.lon + (event.lon - case.lon) / (n + 1)
    case.observation_count = n + 1
    vehicles = set(case.vehicle_ids or [])
    vehicles.add(event.vehicle_id)
    case.vehicle_ids = sorted(vehicles)
    obs_first, obs_last = utc(obs.observed_at), utc(obs.last_seen) or utc(obs.observed_at)
    if case.first_seen is None or obs_first < utc(case.first_seen):
        case.first_seen = obs_first
    if case.last_seen is None or obs_last > utc(case.last_seen):
        case.last_seen = obs_last
    if obs.quality > case.best_quality:
        case.best_quality = obs.quality
        case.best_observation_id = obs.id
        case.evidence_key = obs.evidence_key
        case.crop_key = obs.crop_key
        case.frame_key = obs.frame_key
        case.best_box = obs.box
        case.score = obs.score
    for field in ROAD_FIELDS:
        if getattr(case, field) is None and getattr(event, field) is not None:
            setattr(case, field, getattr(event, field))
    case.updated_at = now
    if not created and CaseStatus(case.status) in (CaseStatus.handled, CaseStatus.verified):
        # The violation is seen again after it was reported handled: tell the inspectors.
        s.add(
            HistoryRow(
                case_id=case.id,
                action="reobserved",
                actor=f"patrol:{event.vehicle_id}",
                at=now,
                note="violation seen again after it was reported handled",
                from_status=case.status,
                to_status=case.status,
                data={"observation_id": obs.id, "event_key": obs.event_key},
            )
        )
