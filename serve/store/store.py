"""The case store: cases, observations, history, frames idempotency, jobs, keys, users (SQLAlchemy 2).

`CaseStore.open(url)` connects (SQLite file by default, PostgreSQL via `postgresql+psycopg://`),
runs the Alembic migrations to head, and returns a store that is safe to share between threads.
Every method runs in its own transaction. Errors callers can act on:
`CaseNotFound` (404), `TransitionError` (409), `ActionError` (422) — all `StreetWatchError`s.
"""

from __future__ import annotations

import base64
import json
import math
import secrets
import statistics
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from detector.errors import InputError, StreetWatchError
from detector.pipeline_config import CaseMerging
from detector.taxonomy import Taxonomy, default_taxonomy
from detector.types import Detection, ViolationEvent
from serve.store import auth, geo
from serve.store.db import create_store_engine, writer_engine
from serve.store.frame_answers import FrameAnswers
from serve.store.lifecycle import (
    NOTE_REQUIRED,
    Action,
    ActionError,
    TransitionError,
    next_status,
    parse_action,
)
from serve.store.models import (
    ApiKeyRow,
    CaseRow,
    FrameResultRow,
    HistoryRow,
    JobRow,
    ObservationRow,
    ProcessedSourceRow,
    SightingRow,
    UserRow,
)
from serve.store.plain import fetch_one, placeholder
from serve.store.storage import EvidenceStorage, open_storage
from serve.store.types import (
    DEADLINE_RUNNING_STATUSES,
    OPEN_STATUSES,
    TERMINAL_STATUSES,
    ApiKey,
    Case,
    CaseDetail,
    CaseFilter,
    CaseStatus,
    HistoryEntry,
    IngestResult,
    Job,
    JobStatus,
    Observation,
    Page,
    Principal,
    Role,
    SegmentStats,
    Sighting,
    User,
)

DEFAULT_DB_URL = "sqlite:///data/streetwatch.db"
DEFAULT_EVIDENCE_DIR = "data/evidence"
DEFAULT_MERGE_DISTANCE_M: float = CaseMerging.model_fields["merge_distance_m"].default
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
_JOB_FIELDS = {
    "status",
    "frames_done",
    "frames_total",
    "cases_so_far",
    "observations_so_far",
    "error",
    "params",
    "vehicle_id",
    "gps_path",
}


class EvidenceKeys(NamedTuple):
    """Storage keys of an event's pictures: drawn at once (evidence, crop) or the original frame."""

    evidence: str | None
    crop: str | None
    frame: str | None


class CaseNotFound(StreetWatchError, LookupError):
    """No case (or job, key) with that id (API: 404)."""


class _DuplicateEvent(Exception):
    """Internal: the event_key was stored by a concurrent writer (answered idempotently)."""


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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


def evidence_quality(event: ViolationEvent) -> float:
    """How good an observation is as evidence: event.extra["evidence_quality"], else score*sqrt(area)."""
    given = event.extra.get("evidence_quality") if event.extra else None
    if given is not None:
        return float(given)
    return float(event.score) * math.sqrt(max(event.detection.area, 0.0))


class CaseStore:
    """All persistent state of StreetWatch behind one object. Thread-safe; share one per process."""

    def __init__(
        self,
        engine: sa.Engine,
        storage: EvidenceStorage,
        taxonomy: Taxonomy,
        auto_verify_on_patrol: bool = True,
    ) -> None:
        self.engine = engine
        self._writer = writer_engine(engine)
        self.storage = storage
        self.taxonomy = taxonomy
        self.auto_verify_on_patrol = auto_verify_on_patrol
        self._frame_answers = FrameAnswers(engine, _to_json)
        self._select_event_key = (
            f"SELECT 1 FROM {ObservationRow.__tablename__} WHERE event_key = {placeholder(engine.dialect)}"
        )
        #: The store's clock (tests replace it to check deadlines and overdue flags).
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @classmethod
    def open(
        cls,
        url: str = DEFAULT_DB_URL,
        evidence: EvidenceStorage | str = DEFAULT_EVIDENCE_DIR,
        taxonomy: Taxonomy | None = None,
        *,
        migrate: bool = True,
        auto_verify_on_patrol: bool = True,
    ) -> CaseStore:
        """Connect and upgrade the schema to head.

        url: `sqlite:///path.db` (WAL, busy_timeout, foreign keys on), a bare file path (SQLite), or
        `postgresql+psycopg://user@host/db` (`postgresql://` is accepted and mapped to psycopg 3).
        evidence: an EvidenceStorage or a folder path. taxonomy: defaults to the bundled one.
        auto_verify_on_patrol: attach_verification moves handled -> verified (actor patrol:<vehicle>).
        """
        engine = create_store_engine(url)
        if migrate:
            from serve.store import migrate as migrations

            try:
                migrations.upgrade(engine)
            except sa.exc.OperationalError as exc:
                engine.dispose()
                raise StreetWatchError(f"cannot open case store {url!r}: {exc.orig}") from None
        return cls(engine, open_storage(evidence), taxonomy or default_taxonomy(), auto_verify_on_patrol)

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.engine.dispose()

    def __enter__(self) -> CaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def evidence(self) -> EvidenceStorage:
        """The evidence storage (alias of .storage)."""
        return self.storage

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def ping(self) -> bool:
        """True when the database answers a trivial query (readiness)."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except sa.exc.SQLAlchemyError:
            return False

    # ---- transactions -------------------------------------------------------------------------
    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A read-modify-write transaction: BEGIN IMMEDIATE on SQLite (takes the write lock first)."""
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    def _now(self) -> datetime:
        return _utc(self.clock())

    # ---- conversions ----------------------------------------------------------------------------
    def _url(self, key: str | None, drawn_from: int | None = None, view: str = "frame") -> str | None:
        """The URL of a stored picture, else of the one drawn on request from observation `drawn_from`'s
        original frame (GET /v1/observations/{id}/evidence), else None."""
        if key:
            return self.storage.url(key)
        if drawn_from:
            return f"/v1/observations/{drawn_from}/evidence" + ("?view=crop" if view == "crop" else "")
        return None

    def observation_evidence(self, observation_id: int, view: str, settings: Any) -> bytes:
        """An observation's evidence image ("frame": with the box drawn, "crop": the raw crop): the stored
        one, or drawn now from its original frame (live uploads keep the frame as it came; `settings`:
        the pipeline's EvidenceSettings). KeyError when there is none."""
        with self._read() as s:
            row = s.get(ObservationRow, observation_id)
            if row is None:
                raise KeyError(observation_id)
            stored = row.crop_key if view == "crop" else row.evidence_key
            frame_key, box, extra = row.frame_key, row.box, row.extra or {}
            # labelled as drawn at once: the class the detector saw and its score in that frame
            score = extra.get("best_score", row.score)
            name = extra.get("detected_class", row.class_name)
        if stored:
            return self.storage.get(stored)
        if not frame_key or not box:
            raise KeyError(observation_id)
        from detector.events import render_evidence

        det = Detection(*(float(v) for v in box), float(score), -1, name or "")
        return render_evidence(self.storage.get(frame_key), det, settings, view)

    def _is_overdue(self, row: CaseRow, now: datetime) -> bool:
        return (
            row.deadline is not None
            and CaseStatus(row.status) in DEADLINE_RUNNING_STATUSES
            and now > _utc(row.deadline)
        )

    def _case(self, row: CaseRow, now: datetime | None = None) -> Case:
        now = now or self._now()
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
            deadline=_utc(row.deadline),
            overdue=self._is_overdue(row, now),
            created_at=_utc(row.created_at),
            updated_at=_utc(row.updated_at),
            first_seen=_utc(row.first_seen),
            last_seen=_utc(row.last_seen),
            handled_at=_utc(row.handled_at),
            closed_at=_utc(row.closed_at),
            best_observation_id=row.best_observation_id,
            evidence_key=row.evidence_key,
            crop_key=row.crop_key,
            frame_key=row.frame_key,
            evidence_url=self._url(row.evidence_key, row.frame_key and row.best_observation_id),
            crop_url=self._url(row.crop_key, row.frame_key and row.best_observation_id, "crop"),
            best_box=list(row.best_box) if row.best_box else None,
            score=row.score,
            observation_count=row.observation_count,
            vehicle_ids=sorted(row.vehicle_ids or []),
        )

    def _observation(self, row: ObservationRow) -> Observation:
        return Observation(
            id=row.id,
            case_id=row.case_id,
            event_key=row.event_key,
            kind=row.kind,
            time=_utc(row.observed_at),
            last_seen=_utc(row.last_seen),
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
            frame_index=row.frame_index,
            source=row.source,
            position_source=row.position_source,
            hits=row.hits,
            quality=row.quality,
            created_at=_utc(row.created_at),
        )

    @staticmethod
    def _history(row: HistoryRow) -> HistoryEntry:
        return HistoryEntry(
            id=row.id,
            case_id=row.case_id,
            action=row.action,
            actor=row.actor,
            at=_utc(row.at),
            note=row.note,
            from_status=CaseStatus(row.from_status) if row.from_status else None,
            to_status=CaseStatus(row.to_status) if row.to_status else None,
            data=row.data or {},
        )

    def _deadline_for(self, class_name: str, area_class: str | None, start: datetime) -> datetime | None:
        try:
            hours = self.taxonomy.by_name(class_name).deadline_for(area_class)
        except KeyError:
            return None
        return start + timedelta(hours=hours) if hours is not None else None

    # ---- cases: ingest and merge ------------------------------------------------------------
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
        self._check_event(event)
        existing = self._result_for_existing_key(event.event_key)
        if existing is not None:
            return existing
        keys = EvidenceKeys(
            self.storage.put(event.evidence_jpeg, ".jpg") if event.evidence_jpeg else None,
            self.storage.put(event.crop_jpeg, ".jpg") if event.crop_jpeg else None,
            self.storage.put(event.frame_jpeg, ".jpg") if event.frame_jpeg else None,
        )
        try:
            return self._ingest_tx(event, merge_distance_m, keys)
        except (IntegrityError, _DuplicateEvent):
            # Another writer stored the same event_key between our check and our insert.
            existing = self._result_for_existing_key(event.event_key)
            if existing is None:
                raise
            return existing

    def _check_event(self, event: ViolationEvent) -> None:
        if not event.event_key:
            raise InputError("event has no event_key")
        if not event.matter_code:
            raise InputError(f"event {event.event_key}: no matter_code (class {event.class_name!r})")
        if not (-90 <= event.lat <= 90 and -180 <= event.lon <= 180) or math.isnan(event.lat + event.lon):
            raise InputError(f"event {event.event_key}: invalid position ({event.lat}, {event.lon})")

    def _result_for_existing_key(self, event_key: str) -> IngestResult | None:
        # Every event is checked, and nearly every check finds nothing (a retry or a re-run finds
        # one): a plain statement answers that first (serve.store.plain), the ORM loads only a find.
        if fetch_one(self.engine, self._select_event_key, (event_key,)) is None:
            return None
        with self._read() as s:
            obs = s.scalar(sa.select(ObservationRow).where(ObservationRow.event_key == event_key))
            if obs is None:
                return None
            case = s.get(CaseRow, obs.case_id)
            return IngestResult(
                case=self._case(case),
                created=False,
                observation_added=False,
                observation=self._observation(obs),
            )

    def _lock_area(self, s: Session, namespace: str, lat: float, lon: float, radius_m: float) -> None:
        """PostgreSQL: transaction-scoped advisory locks on the grid cells around the point, in order."""
        if self.dialect != "postgresql":
            return  # SQLite: BEGIN IMMEDIATE already serialises writers
        for key in geo.lock_keys(namespace, lat, lon, radius_m):
            s.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    def _nearest_open_case(
        self, s: Session, matter_code: str, lat: float, lon: float, radius_m: float
    ) -> CaseRow | None:
        """The nearest open case of `matter_code` within `radius_m` (ties: the older case); None = none."""
        min_lat, max_lat, min_lon, max_lon = geo.search_box(lat, lon, radius_m)
        rows = s.scalars(
            sa.select(CaseRow).where(
                CaseRow.matter_code == matter_code,
                CaseRow.status.in_([st.value for st in OPEN_STATUSES]),
                CaseRow.lat.between(min_lat, max_lat),
                CaseRow.lon.between(min_lon, max_lon),
            )
        ).all()
        near = [(geo.haversine_m(lat, lon, row.lat, row.lon), row.id, row) for row in rows]
        near = [c for c in near if c[0] <= radius_m]
        return min(near, key=lambda c: c[:2])[2] if near else None

    def _ingest_tx(self, event: ViolationEvent, merge_distance_m: float, keys: EvidenceKeys) -> IngestResult:
        now = self._now()
        quality = evidence_quality(event)
        first_seen, last_seen = _utc(event.first_seen), _utc(event.last_seen)
        with self._write() as s:
            self._lock_area(s, f"case:{event.matter_code}", event.lat, event.lon, merge_distance_m)
            # Re-check under the lock: a concurrent writer may have stored this very event.
            if s.scalar(sa.select(ObservationRow.id).where(ObservationRow.event_key == event.event_key)):
                raise _DuplicateEvent(event.event_key)
            case = self._nearest_open_case(s, event.matter_code, event.lat, event.lon, merge_distance_m)
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
            obs = ObservationRow(
                case_id=case.id,
                event_key=event.event_key,
                kind="detection",
                observed_at=first_seen,
                last_seen=last_seen,
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
                quality=quality,
                created_at=now,
                extra=_jsonable(event.extra),
            )
            s.add(obs)
            s.flush()
            self._absorb(s, case, obs, event, created, now)
            return IngestResult(
                case=self._case(case, now),
                created=created,
                observation_added=True,
                observation=self._observation(obs),
            )

    def _new_case_row(self, event: ViolationEvent, now: datetime) -> CaseRow:
        try:
            severity = self.taxonomy.by_name(event.class_name).severity
        except KeyError:
            severity = 1
        deadline = _utc(event.deadline) or self._deadline_for(event.class_name, event.area_class, now)
        return CaseRow(
            matter_code=event.matter_code,
            class_name=event.class_name,
            severity=severity,
            status=CaseStatus.pending_review.value,
            lat=event.lat,
            lon=event.lon,
            address=event.extra.get("address") if event.extra else None,
            road_name=event.road_name,
            road_segment_id=event.road_segment_id,
            responsible_unit=event.responsible_unit,
            road_chief=event.road_chief,
            area_class=event.area_class,
            layer_version=event.layer_version,
            deadline=deadline,
            created_at=now,
            updated_at=now,
            first_seen=_utc(event.first_seen),
            last_seen=_utc(event.last_seen),
            score=0.0,
            best_quality=-1.0,
            observation_count=0,
            vehicle_ids=[],
        )

    def _absorb(
        self,
        s: Session,
        case: CaseRow,
        obs: ObservationRow,
        event: ViolationEvent,
        created: bool,
        now: datetime,
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
        obs_first, obs_last = _utc(obs.observed_at), _utc(obs.last_seen) or _utc(obs.observed_at)
        if case.first_seen is None or obs_first < _utc(case.first_seen):
            case.first_seen = obs_first
        if case.last_seen is None or obs_last > _utc(case.last_seen):
            case.last_seen = obs_last
        if obs.quality > case.best_quality:
            case.best_quality = obs.quality
            case.best_observation_id = obs.id
            case.evidence_key = obs.evidence_key
            case.crop_key = obs.crop_key
            case.frame_key = obs.frame_key
            case.best_box = obs.box
            case.score = obs.score
        for field in (
            "road_segment_id",
            "road_name",
            "responsible_unit",
            "road_chief",
            "area_class",
            "layer_version",
        ):
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

    def find_cases_near(
        self,
        lat: float,
        lon: float,
        radius_m: float,
        statuses: Sequence[CaseStatus | str] | None = None,
        matter_code: str | None = None,
    ) -> list[Case]:
        """Cases within radius_m (haversine) of the point, nearest first."""
        min_lat, max_lat, min_lon, max_lon = geo.search_box(lat, lon, radius_m)
        query = sa.select(CaseRow).where(
            CaseRow.lat.between(min_lat, max_lat), CaseRow.lon.between(min_lon, max_lon)
        )
        if statuses:
            query = query.where(CaseRow.status.in_([CaseStatus(st).value for st in statuses]))
        if matter_code:
            query = query.where(CaseRow.matter_code == matter_code)
        with self._read() as s:
            now = self._now()
            found = []
            for row in s.scalars(query):
                d = geo.haversine_m(lat, lon, row.lat, row.lon)
                if d <= radius_m:
                    found.append((d, row.id, self._case(row, now)))
        return [case for _, _, case in sorted(found, key=lambda t: (t[0], t[1]))]

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
        `patrol_verification`; when auto_verify (default: the store's auto_verify_on_patrol) it also
        moves handled -> verified with actor `patrol:<vehicle_id>`. Raises TransitionError unless the
        case is handled (or already verified by this same event_key).
        """
        auto = self.auto_verify_on_patrol if auto_verify is None else auto_verify
        actor = actor or f"patrol:{vehicle_id}"
        evidence_key = self.storage.put(evidence_jpeg, ".jpg") if evidence_jpeg else None
        crop_key = self.storage.put(crop_jpeg, ".jpg") if crop_jpeg else None
        now = self._now()
        with self._write() as s:
            case = self._case_for_update(s, case_id)
            prior = s.scalar(sa.select(ObservationRow).where(ObservationRow.event_key == event_key))
            if prior is not None:
                if prior.case_id != case_id:
                    raise InputError(f"event_key {event_key!r} already belongs to case {prior.case_id}")
                return self._case(case, now)
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
                observed_at=_utc(at),
                last_seen=_utc(at),
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
            return self._case(case, now)

    # ---- cases: actions and reads -----------------------------------------------------------
    def _case_for_update(self, s: Session, case_id: int) -> CaseRow:
        query = sa.select(CaseRow).where(CaseRow.id == _case_id(case_id))
        if self.dialect == "postgresql":
            query = query.with_for_update()
        row = s.scalar(query)
        if row is None:
            raise CaseNotFound(f"case {case_id} not found")
        return row

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
        now = self._now()
        with self._write() as s:
            case = self._case_for_update(s, case_id)
            before = CaseStatus(case.status)
            after = next_status(before, act)
            changes: dict[str, Any] = {}

            def change(field: str, value: Any) -> None:
                old = getattr(case, field)
                if old != value:
                    changes[field] = {"from": _jsonable(old), "to": _jsonable(value)}
                    setattr(case, field, value)

            if act is Action.correct:
                spec = self._corrected_class(data)
                if spec.name == case.class_name:
                    raise ActionError(f"case {case_id} is already {spec.name}")
                # Under its new code the case may now absorb events: exclude concurrent merges there.
                self._lock_area(s, f"case:{spec.matter_code}", case.lat, case.lon, 0.0)
                change("class_name", spec.name)
                change("matter_code", spec.matter_code)
                change("severity", spec.severity)
                change("deadline", self._deadline_for(spec.name, case.area_class, _utc(case.created_at)))
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
                    data={"changes": changes, **_jsonable(data)} if changes or data else {},
                )
            )
            return self._case(case, now)

    def _corrected_class(self, data: dict[str, Any]):
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

    def get_case(self, case_id: int) -> Case:
        """The case (overdue computed now); CaseNotFound if absent."""
        with self._read() as s:
            row = s.get(CaseRow, _case_id(case_id))
            if row is None:
                raise CaseNotFound(f"case {case_id} not found")
            return self._case(row)

    def get_case_detail(self, case_id: int) -> CaseDetail:
        """The case with its observations and history."""
        with self._read() as s:
            row = s.get(CaseRow, _case_id(case_id))
            if row is None:
                raise CaseNotFound(f"case {case_id} not found")
            observations = [self._observation(o) for o in self._obs_rows(s, row.id)]
            history = [self._history(h) for h in self._history_rows(s, row.id)]
            return CaseDetail(**self._case(row).model_dump(), observations=observations, history=history)

    @staticmethod
    def _obs_rows(s: Session, case_id: int):
        return s.scalars(
            sa.select(ObservationRow)
            .where(ObservationRow.case_id == case_id)
            .order_by(ObservationRow.observed_at, ObservationRow.id)
        ).all()

    @staticmethod
    def _history_rows(s: Session, case_id: int):
        return s.scalars(
            sa.select(HistoryRow).where(HistoryRow.case_id == case_id).order_by(HistoryRow.id)
        ).all()

    def _require_case(self, s: Session, case_id: int) -> None:
        if s.get(CaseRow, _case_id(case_id)) is None:
            raise CaseNotFound(f"case {case_id} not found")

    def get_observations(self, case_id: int) -> list[Observation]:
        """All observations of a case, oldest first."""
        with self._read() as s:
            self._require_case(s, case_id)
            return [self._observation(o) for o in self._obs_rows(s, _case_id(case_id))]

    def get_history(self, case_id: int) -> list[HistoryEntry]:
        """The append-only history of a case, oldest first."""
        with self._read() as s:
            self._require_case(s, case_id)
            return [self._history(h) for h in self._history_rows(s, _case_id(case_id))]

    def _overdue_clause(self, now: datetime):
        return sa.and_(
            CaseRow.deadline.is_not(None),
            CaseRow.deadline < now,
            CaseRow.status.in_([st.value for st in DEADLINE_RUNNING_STATUSES]),
        )

    def _filter_clauses(self, f: CaseFilter, now: datetime) -> list:
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
            clauses.append(CaseRow.created_at >= _utc(f.created_after))
        if f.created_before:
            clauses.append(CaseRow.created_at < _utc(f.created_before))
        if f.bbox:
            min_lon, min_lat, max_lon, max_lat = f.bbox
            clauses.append(CaseRow.lat.between(min_lat, max_lat))
            clauses.append(CaseRow.lon.between(min_lon, max_lon))
        if f.vehicle_id:
            clauses.append(
                sa.exists().where(
                    ObservationRow.case_id == CaseRow.id, ObservationRow.vehicle_id == f.vehicle_id
                )
            )
        if f.overdue is True:
            clauses.append(self._overdue_clause(now))
        elif f.overdue is False:
            clauses.append(sa.not_(self._overdue_clause(now)))
        return clauses

    def list_cases(
        self, filter: CaseFilter | None = None, cursor: str | None = None, limit: int = 50
    ) -> Page[Case]:
        """Cases matching the filter, newest first (keyset on id); next_cursor is opaque."""
        limit = max(1, min(int(limit), 1000))
        now = self._now()
        query = sa.select(CaseRow).where(*self._filter_clauses(filter or CaseFilter(), now))
        if cursor:
            last = _decode_cursor(cursor).get("id")
            if not isinstance(last, int):
                raise InputError(f"invalid cursor {cursor!r}")
            query = query.where(CaseRow.id < last)
        query = query.order_by(CaseRow.id.desc()).limit(limit + 1)
        with self._read() as s:
            rows = s.scalars(query).all()
            items = [self._case(r, now) for r in rows[:limit]]
        next_cursor = _encode_cursor({"id": items[-1].id}) if len(rows) > limit else None
        return Page[Case](items=items, next_cursor=next_cursor)

    def review_queue(self, limit: int = 50, after: str | None = None) -> Page[Case]:
        """pending_review cases, most urgent first: deadline (soonest, none last), severity, id."""
        limit = max(1, min(int(limit), 1000))
        now = self._now()
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
        with self._read() as s:
            rows = s.scalars(query).all()
            items = [self._case(r, now) for r in rows[:limit]]
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
        now = self._now()
        excluded = (CaseStatus.rejected.value, CaseStatus.voided.value)
        query = sa.select(CaseRow).where(CaseRow.status.not_in(excluded))
        if since:
            query = query.where(CaseRow.created_at >= _utc(since))
        if until:
            query = query.where(CaseRow.created_at < _utc(until))
        groups: dict[str | None, list[CaseRow]] = {}
        with self._read() as s:
            for row in s.scalars(query):
                groups.setdefault(row.road_segment_id, []).append(row)
        stats = []
        for segment, rows in groups.items():
            closed = [r for r in rows if r.status == CaseStatus.closed.value]
            overdue = 0
            for r in rows:
                late_handled = (
                    r.deadline is not None
                    and r.handled_at is not None
                    and _utc(r.handled_at) > _utc(r.deadline)
                )
                if self._is_overdue(r, now) or late_handled:
                    overdue += 1
            hours = [
                (_utc(r.closed_at) - _utc(r.created_at)).total_seconds() / 3600 for r in closed if r.closed_at
            ]
            named = next((r for r in rows if r.road_name), rows[0])
            stats.append(
                SegmentStats(
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
            )
        stats.sort(key=lambda x: (-x.overdue, -x.opened, x.road_segment_id or ""))
        return stats

    def counts_by_status(self) -> dict[str, int]:
        """Number of cases per status (every status present, zero included)."""
        counts = {st.value: 0 for st in CaseStatus}
        with self._read() as s:
            for status, n in s.execute(sa.select(CaseRow.status, sa.func.count()).group_by(CaseRow.status)):
                counts[status] = n
        return counts

    def count_overdue(self) -> int:
        with self._read() as s:
            return s.scalar(
                sa.select(sa.func.count()).select_from(CaseRow).where(self._overdue_clause(self._now()))
            )

    # ---- frames idempotency (POST /v1/frames) -----------------------------------------------
    # A live frame reads and writes its answer once each: one plain statement each on the pooled DBAPI
    # connection (serve.store.frame_answers); the ORM's unit of work cost ~1.5 ms of CPU a frame more,
    # SQLAlchemy Core with our BEGIN ... COMMIT still ~0.5 ms more.
    def get_frame_result(self, vehicle_id: str, frame_id: str) -> dict | None:
        """The stored result of an already processed frame, or None."""
        return self._frame_answers.get(vehicle_id, frame_id)

    def save_frame_result(self, vehicle_id: str, frame_id: str, result: dict) -> dict:
        """Store the result once (unique on vehicle_id, frame_id); returns the stored (first) result."""
        if self._frame_answers.put(vehicle_id, frame_id, result, self._now()):
            return result
        stored = self.get_frame_result(vehicle_id, frame_id)
        if stored is None:  # purged between the insert and this read: the answer given stands
            return result
        return stored

    def purge_frame_results(self, older_than: timedelta) -> int:
        """Forget the answers to frames processed more than `older_than` ago; returns how many.

        They exist so that a vehicle's retry is answered without a second observation; a vehicle
        resends within minutes, so keeping them for days only grows the table. A frame retried after
        its answer was purged is processed again."""
        cutoff = self._now() - older_than
        with self._write() as s:
            result = s.execute(sa.delete(FrameResultRow).where(FrameResultRow.created_at < cutoff))
            return int(result.rowcount or 0)

    # ---- processed sources (a recording's settings; see migration 0006) --------------------------
    def claim_source(self, source_id: str, settings: dict, path: str, replace: bool = False) -> dict | None:
        """Record that a recording is processed with `settings`, in one transaction. When the store
        holds it from a run with other settings and `replace` is not set, nothing is written and those
        earlier settings come back (the caller refuses the run); else None."""
        wanted = _jsonable(settings)
        now = self._now()
        try:
            with self._write() as s:
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

    # ---- sightings (rules that need a later pass, e.g. parking) ---------------------------------
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
            existing = self._sighting_by_key(track_key)
            if existing:
                return existing
        try:
            with self._write() as s:
                row = SightingRow(
                    class_name=class_name,
                    vehicle_id=vehicle_id,
                    lat=lat,
                    lon=lon,
                    at=_utc(at),
                    source=source,
                    track_key=track_key,
                    data=_jsonable(data or {}),
                )
                s.add(row)
                s.flush()
                return _sighting(row)
        except IntegrityError:
            existing = self._sighting_by_key(track_key) if track_key else None
            if existing is None:
                raise
            return existing

    def _sighting_by_key(self, track_key: str) -> Sighting | None:
        with self._read() as s:
            row = s.scalar(sa.select(SightingRow).where(SightingRow.track_key == track_key))
            return _sighting(row) if row else None

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
        min_lat, max_lat, min_lon, max_lon = geo.search_box(lat, lon, radius_m)
        query = sa.select(SightingRow).where(
            SightingRow.lat.between(min_lat, max_lat), SightingRow.lon.between(min_lon, max_lon)
        )
        if class_name:
            query = query.where(SightingRow.class_name == class_name)
        if since:
            query = query.where(SightingRow.at >= _utc(since))
        if until:
            query = query.where(SightingRow.at < _utc(until))
        if exclude_source is not None:
            query = query.where(sa.or_(SightingRow.source.is_(None), SightingRow.source != exclude_source))
        with self._read() as s:
            rows = s.scalars(query.order_by(SightingRow.at, SightingRow.id)).all()
            return [_sighting(r) for r in rows if geo.haversine_m(lat, lon, r.lat, r.lon) <= radius_m]

    # ---- jobs ---------------------------------------------------------------------------------
    def create_job(
        self,
        source_path: str,
        gps_path: str | None = None,
        vehicle_id: str | None = None,
        kind: str = "video",
        params: dict | None = None,
    ) -> Job:
        now = self._now()
        with self._write() as s:
            row = JobRow(
                id=uuid.uuid4().hex[:16],
                kind=kind,
                status=JobStatus.queued.value,
                source_path=str(source_path),
                gps_path=str(gps_path) if gps_path else None,
                vehicle_id=vehicle_id,
                params=_jsonable(params or {}),
                frames_done=0,
                frames_total=None,
                cases_so_far=0,
                observations_so_far=0,
                error=None,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            return _job(row)

    def get_job(self, job_id: str) -> Job:
        """CaseNotFound if absent."""
        with self._read() as s:
            row = s.get(JobRow, str(job_id))
            if row is None:
                raise CaseNotFound(f"job {job_id} not found")
            return _job(row)

    def update_job(self, job_id: str, **fields: Any) -> Job:
        """Update status/frames_done/frames_total/cases_so_far/observations_so_far/error/params."""
        unknown = set(fields) - _JOB_FIELDS
        if unknown:
            raise InputError(f"unknown job fields: {', '.join(sorted(unknown))}")
        if "status" in fields:
            fields["status"] = JobStatus(fields["status"]).value
        if "params" in fields:
            fields["params"] = _jsonable(fields["params"])
        with self._write() as s:
            row = s.get(JobRow, str(job_id))
            if row is None:
                raise CaseNotFound(f"job {job_id} not found")
            for key, value in fields.items():
                setattr(row, key, value)
            row.updated_at = self._now()
            return _job(row)

    def claim_job(self, owner: str, lease: timedelta, exclude: Sequence[str] = ()) -> tuple[Job, bool] | None:
        """Atomically take the oldest job this instance may run: a queued one, one of its own still
        marked running (it was restarted), or a running one whose lease ran out (its instance died).
        Returns (job, resumed) or None; `exclude`: jobs this instance is running now. Two instances never
        get the same job: on SQLite the write lock is taken first, on PostgreSQL the row is locked (SKIP
        LOCKED: others move on to the next)."""
        now = self._now()
        claimable = sa.or_(
            JobRow.status == JobStatus.queued.value,
            sa.and_(
                JobRow.status == JobStatus.running.value,
                sa.or_(JobRow.owner.is_(None), JobRow.owner == owner, JobRow.lease_until < now),
            ),
        )
        query = sa.select(JobRow).where(claimable).order_by(JobRow.created_at, JobRow.id).limit(1)
        if exclude:
            query = query.where(JobRow.id.not_in(list(exclude)))
        if self.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        with self._write() as s:
            row = s.scalar(query)
            if row is None:
                return None
            resumed = row.status == JobStatus.running.value
            row.status = JobStatus.running.value
            row.owner = owner
            row.lease_until = now + lease
            row.error = None
            row.updated_at = now
            s.flush()
            return _job(row), resumed

    def renew_job_lease(self, job_id: str, owner: str, lease: timedelta) -> bool:
        """Extend this instance's claim; False when another instance has taken the job over."""
        now = self._now()
        with self._write() as s:
            result = s.execute(
                sa.update(JobRow)
                .where(JobRow.id == str(job_id), JobRow.owner == owner)
                .values(lease_until=now + lease)
            )
            return bool(result.rowcount)

    def release_job(self, job_id: str, owner: str) -> None:
        """End this instance's claim now (it is stopping): another instance may resume the job at once."""
        with self._write() as s:
            s.execute(
                sa.update(JobRow)
                .where(JobRow.id == str(job_id), JobRow.owner == owner)
                .values(owner=None, lease_until=None)
            )

    def list_jobs(self, statuses: Sequence[JobStatus | str] | None = None) -> list[Job]:
        """Jobs, oldest first (resume order after a restart)."""
        query = sa.select(JobRow).order_by(JobRow.created_at, JobRow.id)
        if statuses:
            query = query.where(JobRow.status.in_([JobStatus(st).value for st in statuses]))
        with self._read() as s:
            return [_job(r) for r in s.scalars(query)]

    # ---- API keys and users ---------------------------------------------------------------------
    def create_api_key(
        self, name: str, role: Role | str, vehicle_id: str | None = None
    ) -> tuple[ApiKey, str]:
        """A new key; returns its record and the plaintext (shown once; only a sha256 is stored)."""
        role = _role(role)
        if role is Role.vehicle and not vehicle_id:
            raise InputError("a vehicle key needs a vehicle_id")
        plaintext = auth.new_api_key()
        with self._write() as s:
            row = ApiKeyRow(
                id="k_" + secrets.token_hex(6),
                name=name,
                role=role.value,
                vehicle_id=vehicle_id,
                prefix=plaintext[:10],
                key_hash=auth.hash_api_key(plaintext),
                created_at=self._now(),
                revoked_at=None,
            )
            s.add(row)
            s.flush()
            return _api_key(row), plaintext

    def authenticate(self, plaintext: str) -> Principal | None:
        """The principal of a valid, unrevoked key, else None."""
        if not plaintext:
            return None
        with self._read() as s:
            row = s.scalar(sa.select(ApiKeyRow).where(ApiKeyRow.key_hash == auth.hash_api_key(plaintext)))
            if row is None or row.revoked_at is not None:
                return None
            return Principal(
                id=row.id, name=row.name, role=Role(row.role), vehicle_id=row.vehicle_id, kind="api_key"
            )

    def revoke_api_key(self, key_id: str) -> ApiKey:
        with self._write() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is None:
                raise CaseNotFound(f"api key {key_id} not found")
            if row.revoked_at is None:
                row.revoked_at = self._now()
            return _api_key(row)

    def list_api_keys(self) -> list[ApiKey]:
        with self._read() as s:
            return [_api_key(r) for r in s.scalars(sa.select(ApiKeyRow).order_by(ApiKeyRow.created_at))]

    def create_user(self, username: str, password: str, role: Role | str) -> User:
        """A web login; the password is stored as hashlib.scrypt with a random salt."""
        role = _role(role)
        if not username or not password:
            raise InputError("username and password must not be empty")
        try:
            with self._write() as s:
                row = UserRow(
                    username=username,
                    role=role.value,
                    password_hash=auth.hash_password(password),
                    created_at=self._now(),
                    disabled=False,
                )
                s.add(row)
                s.flush()
                return _user(row)
        except IntegrityError:
            raise InputError(f"user {username!r} already exists") from None

    def set_password(self, username: str, password: str) -> None:
        with self._write() as s:
            row = s.scalar(sa.select(UserRow).where(UserRow.username == username))
            if row is None:
                raise CaseNotFound(f"user {username} not found")
            row.password_hash = auth.hash_password(password)

    def check_password(self, username: str, password: str) -> Principal | None:
        """The user's principal when the password matches and the user is enabled, else None."""
        with self._read() as s:
            row = s.scalar(sa.select(UserRow).where(UserRow.username == username))
        if row is None or row.disabled or not auth.verify_password(password, row.password_hash):
            return None
        return Principal(id=f"user:{row.id}", name=row.username, role=Role(row.role), kind="user")

    def get_user(self, username: str) -> User | None:
        """The user record (without its password hash), or None."""
        with self._read() as s:
            row = s.scalar(sa.select(UserRow).where(UserRow.username == username))
            return _user(row) if row else None

    def list_users(self) -> list[User]:
        with self._read() as s:
            return [_user(r) for r in s.scalars(sa.select(UserRow).order_by(UserRow.id))]


# ---- row -> model helpers ------------------------------------------------------------------------
def _case_id(case_id: int | str) -> int:
    try:
        return int(case_id)
    except (TypeError, ValueError):
        raise CaseNotFound(f"case {case_id} not found") from None


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InputError(f"unknown role {role!r}; known: {', '.join(r.value for r in Role)}") from None


def _jsonable(value: Any) -> Any:
    """Make values JSON-storable (datetimes to ISO 8601, tuples to lists, sets sorted)."""
    return json.loads(_to_json(value))


def _to_json(value: Any) -> str:
    """`value` as JSON text, by `_jsonable`'s rules."""
    return json.dumps(value, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _utc(value).isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _sighting(row: SightingRow) -> Sighting:
    return Sighting(
        id=row.id,
        class_name=row.class_name,
        vehicle_id=row.vehicle_id,
        lat=row.lat,
        lon=row.lon,
        at=_utc(row.at),
        source=row.source,
        track_key=row.track_key,
        data=row.data or {},
    )


def _job(row: JobRow) -> Job:
    return Job(
        id=row.id,
        kind=row.kind,
        status=JobStatus(row.status),
        source_path=row.source_path,
        gps_path=row.gps_path,
        vehicle_id=row.vehicle_id,
        params=row.params or {},
        frames_done=row.frames_done,
        frames_total=row.frames_total,
        cases_so_far=row.cases_so_far,
        observations_so_far=row.observations_so_far,
        error=row.error,
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
        owner=row.owner,
        lease_until=_utc(row.lease_until) if row.lease_until else None,
    )


def _api_key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        vehicle_id=row.vehicle_id,
        prefix=row.prefix,
        created_at=_utc(row.created_at),
        revoked=row.revoked_at is not None,
        revoked_at=_utc(row.revoked_at),
    )


def _user(row: UserRow) -> User:
    return User(
        id=row.id,
        username=row.username,
        role=Role(row.role),
        created_at=_utc(row.created_at),
        disabled=row.disabled,
    )
