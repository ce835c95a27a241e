"""Rows of cases, observations and history as the domain types the API serves (serve.store.types)."""

from __future__ import annotations

from datetime import datetime

from detector.taxonomy import Taxonomy
from serve.store.convert import from_row, utc
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
    return from_row(
        HistoryEntry,
        row,
        from_status=row.from_status or None,
        to_status=row.to_status or None,
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
        drawn_from = row.frame_key and row.best_observation_id
        return from_row(
            Case,
            row,
            class_zh=zh,
            class_en=en,
            overdue=is_overdue(row, now),
            evidence_url=self._url(row.evidence_key, drawn_from),
            crop_url=self._url(row.crop_key, drawn_from, "crop"),
            published_url=published_url(row.best_observation_id),
            best_box=row.best_box or None,
            vehicle_ids=sorted(row.vehicle_ids or []),
        )

    def observation(self, row: ObservationRow) -> Observation:
        drawn_from = row.frame_key and row.id
        return from_row(
            Observation,
            row,
            time=utc(row.observed_at),
            box=row.box or None,
            evidence_url=self._url(row.evidence_key, drawn_from),
            crop_url=self._url(row.crop_key, drawn_from, "crop"),
            published_url=published_url(row.id if (row.evidence_key or row.frame_key) else None),
            people=(row.extra or {}).get("people"),
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
