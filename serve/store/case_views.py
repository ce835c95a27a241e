"""Rows of cases, observations and history as the domain types the API serves (serve.store.types)."""

from __future__ import annotations

from datetime import datetime

from detector.taxonomy import Taxonomy
from serve.store.convert import utc
from serve.store.models import CaseRow, HistoryRow, ObservationRow
from serve.store.storage import EvidenceStorage
from serve.store.types import DEADLINE_RUNNING_STATUSES, Case, CaseStatus, HistoryEntry, Observation


def is_overdue(row: CaseRow, now: datetime) -> bool:
    """The deadline has passed while it is still running (pending_review, confirmed, dispatched)."""
    return (
        row.deadline is not None
        and CaseStatus(row.status) in DEADLINE_RUNNING_STATUSES
        and now > utc(row.deadline)
    )


def history_entry(row: HistoryRow) -> HistoryEntry:
    return HistoryEntry(
        id=row.id,
        case_id=row.case_id,
        action=row.action,
        actor=row.actor,
        at=utc(row.at),
        note=row.note,
        from_status=CaseStatus(row.from_status) if row.from_status else None,
        to_status=CaseStatus(row.to_status) if row.to_status else None,
        data=row.data or {},
    )


class CaseViews:
    """Builds `Case` and `Observation` from rows: class names from the taxonomy, picture URLs from the
    evidence storage."""

    def __init__(self, taxonomy: Taxonomy, evidence: EvidenceStorage) -> None:
        self.taxonomy = taxonomy
        self.evidence = evidence

    def case(self, row: CaseRow, now: datetime) -> Case:
        """The case as of `now` (its overdue flag)."""
        try:
            spec = self.taxonomy.by_name(row.class_name)
            zh, en = spec.zh, spec.en
        except KeyError:
            zh = en = row.class_name
        return Case(
            id=row.id,
            matter_code=row.matter_code,
            class_name=row.class_name,
            class_zh=zh,
            class_en=en,
            severity=row.severity,
            status=CaseStatus(row.status),
            lat=row.lat,
            lon=row.lon,
            address=row.address,
            road_name=row.road_name,
            road_segment_id=row.road_segment_id,
            responsible_unit=row.responsible_unit,
            road_chief=row.road_chief,
            area_class=row.area_class,
            layer_version=row.layer_version,
            deadline=utc(row.deadline),
            overdue=is_overdue(row, now),
            created_at=utc(row.created_at),
            updated_at=utc(row.updated_at),
            first_seen=utc(row.first_seen),
            last_seen=utc(row.last_seen),
            handled_at=utc(row.handled_at),
            closed_at=utc(row.closed_at),
            best_observation_id=row.best_observation_id,
            evidence_key=row.evidence_key,
            crop_key=row.crop_key,
            frame_key=row.frame_key,
            evidence_url=self._url(row.evidence_key, row.frame_key and row.best_observation_id),
            crop_url=self._url(row.crop_key, row.frame_key and row.best_observation_id, "crop"),
            published_url=published_url(row.best_observation_id),
            best_box=list(row.best_box) if row.best_box else None,
            score=row.score,
            observation_count=row.observation_count,
            vehicle_ids=sorted(row.vehicle_ids or []),
        )

    def observation(self, row: ObservationRow) -> Observation:
        return Observation(
            id=row.id,
            case_id=row.case_id,
            event_key=row.event_key,
            kind=row.kind,
            time=utc(row.observed_at),
            last_seen=utc(row.last_seen),
            vehicle_id=row.vehicle_id,
            lat=row.lat,
            lon=row.lon,
            score=row.score,
            box=list(row.box) if row.box else None,
            class_name=row.class_name,
            evidence_key=row.evidence_key,
            crop_key=row.crop_key,
            frame_key=row.frame_key,
            evidence_url=self._url(row.evidence_key, row.frame_key and row.id),
            crop_url=self._url(row.crop_key, row.frame_key and row.id, "crop"),
            published_url=published_url(row.id if (row.evidence_key or row.frame_key) else None),
            people=(row.extra or {}).get("people"),
            frame_index=row.frame_index,
            source=row.source,
            position_source=row.position_source,
            hits=row.hits,
            quality=row.quality,
            created_at=utc(row.created_at),
        )

    def _url(self, key: str | None, drawn_from: int | None = None, view: str = "frame") -> str | None:
        """The URL of a stored picture, else of the one drawn on request from observation `drawn_from`'s
        original frame (GET /v1/observations/{id}/evidence), else None."""
        if key:
            return self.evidence.url(key)
        if drawn_from:
            return f"/v1/observations/{drawn_from}/evidence" + ("?view=crop" if view == "crop" else "")
        return None


def published_url(observation_id: int | None) -> str | None:
    """The URL of an observation's evidence as it may leave the review page: people blurred
    (GET /v1/observations/{id}/published); what exports and Open311 link to."""
    return f"/v1/observations/{observation_id}/published" if observation_id else None
