"""The case repository: events merged into cases (ingest_event), patrol verifications, lifecycle actions.
Its reads are in serve.store.case_queries, the merge rules in serve.store.merge.

Writers exclude each other where their results depend on what they read: the merge looks up the
nearest open case and inserts under one lock (PostgreSQL: advisory locks on the grid cells around the
point, serve.store.db.Database.lock_area; SQLite: BEGIN IMMEDIATE), and an action locks its case row.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from detector.errors import InputError
from detector.pipeline_config import CaseMerging
from detector.taxonomy import ClassSpec, Taxonomy
from detector.types import ViolationEvent
from serve.store.case_queries import CaseQueries, case_id_of
from serve.store.case_views import CaseViews
from serve.store.convert import jsonable, utc
from serve.store.db import Database
from serve.store.errors import CaseNotFound
from serve.store.idempotency import IdempotencyRepository
from serve.store.lifecycle import (
    NOTE_REQUIRED,
    Action,
    ActionError,
    TransitionError,
    next_status,
    parse_action,
)
from serve.store.merge import ROAD_FIELDS, EvidenceKeys, absorb, nearest_open_case, observation_row
from serve.store.models import CaseRow, HistoryRow, ObservationRow
from serve.store.storage import EvidenceStorage
from serve.store.types import Case, CaseStatus, IngestResult

DEFAULT_MERGE_DISTANCE_M: float = CaseMerging.model_fields["merge_distance_m"].default


class _DuplicateEvent(Exception):
    """The event_key was stored by a concurrent writer (answered idempotently)."""


class CaseRepository(CaseQueries):
    """Cases, their observations and history. Thread-safe.

    auto_verify_on_patrol: attach_verification moves handled -> verified (actor patrol:<vehicle>).
    """

    def __init__(
        self,
        db: Database,
        evidence: EvidenceStorage,
        taxonomy: Taxonomy,
        idempotency: IdempotencyRepository,
        auto_verify_on_patrol: bool = True,
    ) -> None:
        super().__init__(db, CaseViews(taxonomy, evidence))
        self.evidence = evidence
        self.taxonomy = taxonomy
        self.idempotency = idempotency
        self.auto_verify_on_patrol = auto_verify_on_patrol

    # ---- ingest and merge ---------------------------------------------------------------------
    def ingest_event(
        self, event: ViolationEvent, merge_distance_m: float = DEFAULT_MERGE_DISTANCE_M
    ) -> IngestResult:
        """Open a case for the event, or join the nearest open case with the same matter code.

        Idempotent on event.event_key: a second call returns the case with observation_added=False.
        "Open" means not rejected/closed/voided. The new observation becomes the case's best evidence
        when its quality (event.extra["evidence_quality"], else score * sqrt(box area)) is higher.
        Evidence JPEG and crop go through the evidence storage (content-addressed) before the
        transaction. Concurrency-safe: on PostgreSQL the lookup+insert holds advisory locks on the
        (matter code, grid cell)s around the point; on SQLite it runs under BEGIN IMMEDIATE.
        """
        _check_event(event)
        existing = self._result_for_existing_key(event.event_key)
        if existing is not None:
            return existing
        keys = EvidenceKeys(
            self.evidence.put(event.evidence_jpeg, ".jpg") if event.evidence_jpeg else None,
            self.evidence.put(event.crop_jpeg, ".jpg") if event.crop_jpeg else None,
            self.evidence.put(event.frame_jpeg, ".jpg") if event.frame_jpeg else None,
        )
        try:
            return self._ingest_tx(event, merge_distance_m, keys)
        except (IntegrityError, _DuplicateEvent):
            # Another writer stored the same event_key between our check and our insert.
            existing = self._result_for_existing_key(event.event_key)
            if existing is None:
                raise
            return existing

    def _result_for_existing_key(self, event_key: str) -> IngestResult | None:
        # Nearly every check finds nothing (a retry or a re-run finds one): the case is loaded only
        # when the key is stored.
        if not self.idempotency.event_key_stored(event_key):
            return None
        with self.db.read() as s:
            obs = s.scalar(sa.select(ObservationRow).where(ObservationRow.event_key == event_key))
            if obs is None:
                return None
            case = s.get(CaseRow, obs.case_id)
            return IngestResult(
                case=self.views.case(case, self.db.now()),
                created=False,
                observation_added=False,
                observation=self.views.observation(obs),
            )

    def _ingest_tx(self, event: ViolationEvent, merge_distance_m: float, keys: EvidenceKeys) -> IngestResult:
        now = self.db.now()
        with self.db.write() as s:
            self.db.lock_area(s, f"case:{event.matter_code}", event.lat, event.lon, merge_distance_m)
            # Re-check under the lock: a concurrent writer may have stored this very event.
            if s.scalar(sa.select(ObservationRow.id).where(ObservationRow.event_key == event.event_key)):
                raise _DuplicateEvent(event.event_key)
            case = nearest_open_case(s, event.matter_code, event.lat, event.lon, merge_distance_m)
            created = case is None
            if created:
                case = self._new_case_row(event, now)
                s.add(case)
                s.flush()
                s.add(
                    HistoryRow(
                        case_id=case.id,
                        action="created",
                        actor=f"patrol:{event.vehicle_id}",
                        at=now,
                        note=None,
                        from_status=None,
                        to_status=CaseStatus.pending_review.value,
                        data={"event_key": event.event_key, "source": event.source},
                    )
                )
            obs = observation_row(case.id, event, keys, now)
            s.add(obs)
            s.flush()
            absorb(s, case, obs, event, created, now)
            return IngestResult(
                case=self.views.case(case, now),
                created=created,
                observation_added=True,
                observation=self.views.observation(obs),
            )

    def _new_case_row(self, event: ViolationEvent, now: datetime) -> CaseRow:
        try:
            severity = self.taxonomy.by_name(event.class_name).severity
        except KeyError:
            severity = 1
        deadline = utc(event.deadline) or self._deadline_for(event.class_name, event.area_class, now)
        return CaseRow(
            matter_code=event.matter_code,
            class_name=event.class_name,
            severity=severity,
            status=CaseStatus.pending_review.value,
            lat=event.lat,
            lon=event.lon,
            address=event.extra.get("address") if event.extra else None,
            **{field: getattr(event, field) for field in ROAD_FIELDS},
            deadline=deadline,
            created_at=now,
            updated_at=now,
            first_seen=utc(event.first_seen),
            last_seen=utc(event.last_seen),
            score=0.0,
            best_quality=-1.0,
            observation_count=0,
            vehicle_ids=[],
        )

    def _deadline_for(self, class_name: str, area_class: str | None, start: datetime) -> datetime | None:
        try:
            hours = self.taxonomy.by_name(class_name).deadline_for(area_class)
        except KeyError:
            return None
        return start + timedelta(hours=hours) if hours is not None else None

    # ---- patrol verification ------------------------------------------------------------------
    def attach_verification(
        self,
        case_id: int,
        *,
        vehicle_id: str,
        at: datetime,
        lat: float,
        lon: float,
        event_key: str,
        evidence_jpeg: bytes | None = None,
        crop_jpeg: bytes | None = None,
        frame_index: int | None = None,
        source: str | None = None,
        note: str | None = None,
        actor: str | None = None,
        auto_verify: bool | None = None,
    ) -> Case:
        """A later patrol pass no longer sees the violation at a `handled` case.

        Adds a `verification` observation (idempotent on event_key) and a history entry
        `patrol_verification`; when auto_verify (default: the repository's auto_verify_on_patrol) it
        also moves handled -> verified with actor `patrol:<vehicle_id>`. Raises TransitionError unless
        the case is handled (or already verified by this same event_key).
        """
        auto = self.auto_verify_on_patrol if auto_verify is None else auto_verify
        actor = actor or f"patrol:{vehicle_id}"
        evidence_key = self.evidence.put(evidence_jpeg, ".jpg") if evidence_jpeg else None
        crop_key = self.evidence.put(crop_jpeg, ".jpg") if crop_jpeg else None
        now = self.db.now()
        with self.db.write() as s:
            case = self._case_for_update(s, case_id)
            prior = s.scalar(sa.select(ObservationRow).where(ObservationRow.event_key == event_key))
            if prior is not None:
                if prior.case_id != case_id:
                    raise InputError(f"event_key {event_key!r} already belongs to case {prior.case_id}")
                return self.views.case(case, now)
            status = CaseStatus(case.status)
            if status != CaseStatus.handled:
                raise TransitionError(
                    f"cannot attach a patrol verification to case {case_id} in state {status.value}: "
                    "only handled cases are verified",
                    from_status=status,
                    action="verify",
                )
            obs = ObservationRow(
                case_id=case.id,
                event_key=event_key,
                kind="verification",
                observed_at=utc(at),
                last_seen=utc(at),
                vehicle_id=vehicle_id,
                lat=lat,
                lon=lon,
                score=0.0,
                box=None,
                class_name=case.class_name,
                evidence_key=evidence_key,
                crop_key=crop_key,
                frame_index=frame_index,
                source=source,
                position_source="vehicle",
                hits=None,
                quality=0.0,
                created_at=now,
                extra={},
            )
            s.add(obs)
            s.flush()
            to_status = CaseStatus.verified if auto else status
            s.add(
                HistoryRow(
                    case_id=case.id,
                    action="verify" if auto else "patrol_verification",
                    actor=actor,
                    at=now,
                    note=note or "a later patrol pass no longer sees the violation",
                    from_status=status.value,
                    to_status=to_status.value,
                    data={"observation_id": obs.id, "event_key": event_key, "source": "patrol_verification"},
                )
            )
            case.status = to_status.value
            case.updated_at = now
            return self.views.case(case, now)

    # ---- lifecycle actions --------------------------------------------------------------------
    def apply_action(
        self, case_id: int, action: Action | str, actor: str, note: str | None = None, **data: Any
    ) -> Case:
        """Apply a lifecycle action and append a HistoryEntry (who, when, note, previous state, data).

        data: correct -> class_name=... (or matter_code=...); dispatch -> unit=... (optional, sets
        responsible_unit). reject, void and reopen need a note (the reason; `reason=` is accepted too).
        Forbidden moves raise TransitionError; missing data raises ActionError; unknown case raises
        CaseNotFound.
        """
        act = parse_action(action)
        if not actor or not str(actor).strip():
            raise ActionError("an action needs an actor (who does it)")
        note = note if note is not None else data.pop("reason", None)
        if note is not None:
            note = str(note).strip() or None
        if act in NOTE_REQUIRED and not note:
            raise ActionError(f"{act.value} needs a reason (note)")
        now = self.db.now()
        with self.db.write() as s:
            case = self._case_for_update(s, case_id)
            before = CaseStatus(case.status)
            after = next_status(before, act)
            changes: dict[str, Any] = {}

            def change(field: str, value: Any) -> None:
                old = getattr(case, field)
                if old != value:
                    changes[field] = {"from": jsonable(old), "to": jsonable(value)}
                    setattr(case, field, value)

            if act is Action.correct:
                spec = self._corrected_class(data)
                if spec.name == case.class_name:
                    raise ActionError(f"case {case_id} is already {spec.name}")
                # Under its new code the case may now absorb events: exclude concurrent merges there.
                self.db.lock_area(s, f"case:{spec.matter_code}", case.lat, case.lon, 0.0)
                change("class_name", spec.name)
                change("matter_code", spec.matter_code)
                change("severity", spec.severity)
                change("deadline", self._deadline_for(spec.name, case.area_class, utc(case.created_at)))
            elif act is Action.dispatch:
                unit = data.pop("unit", None) or data.pop("responsible_unit", None)
                if unit:
                    change("responsible_unit", str(unit))
            elif act is Action.handle:
                change("handled_at", now)
            elif act in (Action.close, Action.void, Action.reject):
                change("closed_at", now)
            elif act is Action.reopen:
                change("closed_at", None)
                change("handled_at", None)
            case.status = after.value
            case.updated_at = now
            s.add(
                HistoryRow(
                    case_id=case.id,
                    action=act.value,
                    actor=str(actor),
                    at=now,
                    note=note,
                    from_status=before.value,
                    to_status=after.value,
                    data={"changes": changes, **jsonable(data)} if changes or data else {},
                )
            )
            return self.views.case(case, now)

    def _corrected_class(self, data: dict[str, Any]) -> ClassSpec:
        name = data.pop("class_name", None)
        code = data.pop("matter_code", None)
        try:
            if name:
                spec = self.taxonomy.by_name(str(name))
            elif code:
                spec = self.taxonomy.by_code(str(code))
            else:
                raise ActionError("correct needs class_name (or matter_code)")
        except KeyError as exc:
            raise ActionError(str(exc.args[0])) from None
        if not spec.violation or not spec.matter_code:
            raise ActionError(f"{spec.name} is a context class, not a violation")
        return spec

    def _case_for_update(self, s: Session, case_id: int) -> CaseRow:
        row = s.scalar(self.db.for_update(sa.select(CaseRow).where(CaseRow.id == case_id_of(case_id))))
        if row is None:
            raise CaseNotFound(f"case {case_id} not found")
        return row


def _check_event(event: ViolationEvent) -> None:
    if not event.event_key:
        raise InputError("event has no event_key")
    if not event.matter_code:
        raise InputError(f"event {event.event_key}: no matter_code (class {event.class_name!r})")
    if not (-90 <= event.lat <= 90 and -180 <= event.lon <= 180) or math.isnan(event.lat + event.lon):
        raise InputError(f"event {event.event_key}: invalid position ({event.lat}, {event.lon})")
