"""Reading cases: one case and its observations and history, filtered pages, the review queue, cases
near a point, per-segment statistics, counts, and an observation's evidence picture."""

from __future__ import annotations

import base64
import json
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from detector.errors import InputError
from detector.types import Detection
from serve.store import geo
from serve.store.case_views import CaseViews, history_entry, is_overdue
from serve.store.convert import utc
from serve.store.db import Database, Repository
from serve.store.errors import CaseNotFound
from serve.store.models import CaseRow, HistoryRow, ObservationRow
from serve.store.types import (
    DEADLINE_RUNNING_STATUSES,
    TERMINAL_STATUSES,
    Case,
    CaseDetail,
    CaseFilter,
    CaseStatus,
    HistoryEntry,
    Observation,
    Page,
    SegmentStats,
)

_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def case_id_of(case_id: int | str) -> int:
    """A case id as the database keeps it; CaseNotFound for anything that is not a whole number."""
    try:
        return int(case_id)
    except (TypeError, ValueError):
        raise CaseNotFound(f"case {case_id} not found") from None


class CaseQueries(Repository):
    """The reads of the case repository (serve.store.cases.CaseRepository adds the writes)."""

    def __init__(self, db: Database, views: CaseViews) -> None:
        super().__init__(db)
        self.views = views

    def get_case(self, case_id: int) -> Case:
        """The case (overdue computed now); CaseNotFound if absent."""
        with self.db.read() as s:
            return self.views.case(_case_row(s, case_id), self.db.now())

    def get_case_detail(self, case_id: int) -> CaseDetail:
        """The case with its observations and history."""
        with self.db.read() as s:
            row = _case_row(s, case_id)
            observations = [self.views.observation(o) for o in _observation_rows(s, row.id)]
            history = [history_entry(h) for h in _history_rows(s, row.id)]
            case = self.views.case(row, self.db.now())
            return CaseDetail(**case.model_dump(), observations=observations, history=history)

    def get_observations(self, case_id: int) -> list[Observation]:
        """All observations of a case, oldest first."""
        with self.db.read() as s:
            row = _case_row(s, case_id)
            return [self.views.observation(o) for o in _observation_rows(s, row.id)]

    def get_history(self, case_id: int) -> list[HistoryEntry]:
        """The append-only history of a case, oldest first."""
        with self.db.read() as s:
            row = _case_row(s, case_id)
            return [history_entry(h) for h in _history_rows(s, row.id)]

    def _evidence_source(
        self, observation_id: int, view: str
    ) -> tuple[str | None, str | None, Detection | None, list | None]:
        """(stored picture key, original frame key, box to draw, person boxes) of an observation."""
        with self.db.read() as s:
            row = s.get(ObservationRow, observation_id)
            if row is None:
                raise KeyError(observation_id)
            stored = row.crop_key if view == "crop" else row.evidence_key
            extra = row.extra or {}
            det = None
            if row.frame_key and row.box:
                # labelled as drawn at once: the class the detector saw and its score in that frame
                score = extra.get("best_score", row.score)
                name = extra.get("detected_class", row.class_name)
                det = Detection(*(float(v) for v in row.box), float(score), -1, name or "")
            return stored, row.frame_key, det, extra.get("people")

    def observation_evidence(self, observation_id: int, view: str, settings: Any) -> bytes:
        """An observation's evidence image ("frame": with the box drawn, "crop": the raw crop): the stored
        one, or drawn now from its original frame (live uploads keep the frame as it came; `settings`:
        the pipeline's EvidenceSettings). KeyError when there is none."""
        return self._evidence(observation_id, view, settings, publish=False)

    def published_evidence(self, observation_id: int, settings: Any) -> bytes:
        """The observation's evidence frame as it may leave the review page: the people the detector saw
        in it (their boxes kept with the observation) pixelated and blurred. KeyError when there is none."""
        return self._evidence(observation_id, "frame", settings, publish=True)

    def _evidence(self, observation_id: int, view: str, settings: Any, publish: bool) -> bytes:
        from detector.events import blurred_evidence, render_evidence

        stored, frame_key, det, people = self._evidence_source(observation_id, view)
        blur = people if publish else None
        evidence = self.views.evidence
        if stored:
            data = evidence.get(stored)
            return blurred_evidence(data, blur, settings) if blur else data
        if det is None:
            raise KeyError(observation_id)
        return render_evidence(evidence.get(frame_key), det, settings, view, blur=blur)

    def find_cases_near(
        self,
        lat: float,
        lon: float,
        radius_m: float,
        statuses: Sequence[CaseStatus | str] | None = None,
        matter_code: str | None = None,
    ) -> list[Case]:
        """Cases within radius_m (haversine) of the point, nearest first."""
        query = sa.select(CaseRow).where(geo.in_search_box(CaseRow, lat, lon, radius_m))
        if statuses:
            query = query.where(CaseRow.status.in_([CaseStatus(st).value for st in statuses]))
        if matter_code:
            query = query.where(CaseRow.matter_code == matter_code)
        with self.db.read() as s:
            now = self.db.now()
            found = [
                (d, row.id, self.views.case(row, now))
                for d, row in geo.within(s.scalars(query), lat, lon, radius_m)
            ]
        return [case for _, _, case in sorted(found, key=lambda t: (t[0], t[1]))]

    def list_cases(
        self, filter: CaseFilter | None = None, cursor: str | None = None, limit: int = 50
    ) -> Page[Case]:
        """Cases matching the filter, newest first (keyset on id); next_cursor is opaque."""
        limit = max(1, min(int(limit), 1000))
        now = self.db.now()
        query = sa.select(CaseRow).where(*_filter_clauses(filter or CaseFilter(), now))
        if cursor:
            last = _decode_cursor(cursor).get("id")
            if not isinstance(last, int):
                raise InputError(f"invalid cursor {cursor!r}")
            query = query.where(CaseRow.id < last)
        query = query.order_by(CaseRow.id.desc()).limit(limit + 1)
        with self.db.read() as s:
            rows = s.scalars(query).all()
            items = [self.views.case(r, now) for r in rows[:limit]]
        next_cursor = _encode_cursor({"id": items[-1].id}) if len(rows) > limit else None
        return Page[Case](items=items, next_cursor=next_cursor)

    def review_queue(self, limit: int = 50, after: str | None = None) -> Page[Case]:
        """pending_review cases, most urgent first: deadline (soonest, none last), severity, id."""
        limit = max(1, min(int(limit), 1000))
        now = self.db.now()
        deadline = sa.func.coalesce(CaseRow.deadline, sa.literal(_FAR_FUTURE, CaseRow.deadline.type))
        query = sa.select(CaseRow).where(CaseRow.status == CaseStatus.pending_review.value)
        if after:
            c = _decode_cursor(after)
            try:
                d = datetime.fromisoformat(c["d"])
                sev, last = int(c["s"]), int(c["id"])
            except (KeyError, TypeError, ValueError):
                raise InputError(f"invalid cursor {after!r}") from None
            d_param = sa.literal(d, CaseRow.deadline.type)
            query = query.where(
                sa.or_(
                    deadline > d_param,
                    sa.and_(deadline == d_param, CaseRow.severity < sev),
                    sa.and_(deadline == d_param, CaseRow.severity == sev, CaseRow.id > last),
                )
            )
        query = query.order_by(deadline, CaseRow.severity.desc(), CaseRow.id).limit(limit + 1)
        with self.db.read() as s:
            rows = s.scalars(query).all()
            items = [self.views.case(r, now) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            tail = items[-1]
            next_cursor = _encode_cursor(
                {"d": (tail.deadline or _FAR_FUTURE).isoformat(), "s": tail.severity, "id": tail.id}
            )
        return Page[Case](items=items, next_cursor=next_cursor)

    def segment_ranking(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[SegmentStats]:
        """Per road segment, for cases created in [since, until): opened, closed, open, overdue,
        median hours to close; worst first (most overdue, then most opened).

        Rejected and voided cases are left out: a detection an inspector threw out is not an
        issue on the road chief's segment, and must not count against it in the red/black flags."""
        now = self.db.now()
        excluded = (CaseStatus.rejected.value, CaseStatus.voided.value)
        query = sa.select(CaseRow).where(CaseRow.status.not_in(excluded))
        if since:
            query = query.where(CaseRow.created_at >= utc(since))
        if until:
            query = query.where(CaseRow.created_at < utc(until))
        groups: dict[str | None, list[CaseRow]] = {}
        with self.db.read() as s:
            for row in s.scalars(query):
                groups.setdefault(row.road_segment_id, []).append(row)
        stats = [_segment_stats(segment, rows, now) for segment, rows in groups.items()]
        stats.sort(key=lambda x: (-x.overdue, -x.opened, x.road_segment_id or ""))
        return stats

    def counts_by_status(self) -> dict[str, int]:
        """Number of cases per status (every status present, zero included)."""
        counts = {st.value: 0 for st in CaseStatus}
        with self.db.read() as s:
            for status, n in s.execute(sa.select(CaseRow.status, sa.func.count()).group_by(CaseRow.status)):
                counts[status] = n
        return counts

    def count_overdue(self) -> int:
        with self.db.read() as s:
            return s.scalar(
                sa.select(sa.func.count()).select_from(CaseRow).where(_overdue_clause(self.db.now()))
            )


def _case_row(s: Session, case_id: int | str) -> CaseRow:
    row = s.get(CaseRow, case_id_of(case_id))
    if row is None:
        raise CaseNotFound(f"case {case_id} not found")
    return row


def _observation_rows(s: Session, case_id: int) -> Sequence[ObservationRow]:
    return s.scalars(
        sa.select(ObservationRow)
        .where(ObservationRow.case_id == case_id)
        .order_by(ObservationRow.observed_at, ObservationRow.id)
    ).all()


def _history_rows(s: Session, case_id: int) -> Sequence[HistoryRow]:
    return s.scalars(sa.select(HistoryRow).where(HistoryRow.case_id == case_id).order_by(HistoryRow.id)).all()


def _overdue_clause(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        CaseRow.deadline.is_not(None),
        CaseRow.deadline < now,
        CaseRow.status.in_([st.value for st in DEADLINE_RUNNING_STATUSES]),
    )


def _filter_clauses(f: CaseFilter, now: datetime) -> list[sa.ColumnElement[bool]]:
    clauses = []
    if f.statuses:
        clauses.append(CaseRow.status.in_([CaseStatus(st).value for st in f.statuses]))
    if f.class_names:
        clauses.append(CaseRow.class_name.in_(f.class_names))
    if f.matter_codes:
        clauses.append(CaseRow.matter_code.in_(f.matter_codes))
    if f.road_segment_ids:
        clauses.append(CaseRow.road_segment_id.in_(f.road_segment_ids))
    if f.created_after:
        clauses.append(CaseRow.created_at >= utc(f.created_after))
    if f.created_before:
        clauses.append(CaseRow.created_at < utc(f.created_before))
    if f.bbox:
        min_lon, min_lat, max_lon, max_lat = f.bbox
        clauses.append(CaseRow.lat.between(min_lat, max_lat))
        clauses.append(CaseRow.lon.between(min_lon, max_lon))
    if f.vehicle_id:
        clauses.append(
            sa.exists().where(ObservationRow.case_id == CaseRow.id, ObservationRow.vehicle_id == f.vehicle_id)
        )
    if f.overdue is True:
        clauses.append(_overdue_clause(now))
    elif f.overdue is False:
        clauses.append(sa.not_(_overdue_clause(now)))
    return clauses


def _segment_stats(segment: str | None, rows: list[CaseRow], now: datetime) -> SegmentStats:
    """One segment's figures; a case handled after its deadline counts as overdue too."""
    closed = [r for r in rows if r.status == CaseStatus.closed.value]
    overdue = 0
    for r in rows:
        late_handled = (
            r.deadline is not None and r.handled_at is not None and utc(r.handled_at) > utc(r.deadline)
        )
        if is_overdue(r, now) or late_handled:
            overdue += 1
    hours = [(utc(r.closed_at) - utc(r.created_at)).total_seconds() / 3600 for r in closed if r.closed_at]
    named = next((r for r in rows if r.road_name), rows[0])
    return SegmentStats(
        road_segment_id=segment,
        road_name=named.road_name,
        road_chief=named.road_chief,
        responsible_unit=named.responsible_unit,
        opened=len(rows),
        closed=len(closed),
        open_now=sum(1 for r in rows if CaseStatus(r.status) not in TERMINAL_STATUSES),
        overdue=overdue,
        median_hours_to_close=round(statistics.median(hours), 3) if hours else None,
    )


def _encode_cursor(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> dict:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(data, dict):
            raise ValueError
        return data
    except (ValueError, UnicodeDecodeError):
        raise InputError(f"invalid cursor {cursor!r}") from None
