"""The case store: cases, observations, history, frames idempotency, jobs, keys, users (SQLAlchemy 2).

`CaseStore.open(url)` connects (SQLite file by default, PostgreSQL via `postgresql+psycopg://`),
runs the Alembic migrations to head, and returns a store that is safe to share between threads.
Every method runs in its own transaction. Errors callers can act on:
`CaseNotFound` (404), `TransitionError` (409), `ActionError` (422) — all `StreetWatchError`s.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from datasets.taxonomy import Taxonomy
from detector.errors import StreetWatchError
from detector.types import ViolationEvent
from serve.store.lifecycle import Action
from serve.store.storage import EvidenceStorage
from serve.store.types import (
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
DEFAULT_MERGE_DISTANCE_M = 15.0


class CaseNotFound(StreetWatchError, LookupError):
    """No case (or job, key) with that id (API: 404)."""


class CaseStore:
    """All persistent state of StreetWatch behind one object. Thread-safe; share one per process."""

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
        raise NotImplementedError

    def close(self) -> None:
        """Dispose of the connection pool."""
        raise NotImplementedError

    def ping(self) -> bool:
        """True when the database answers a trivial query (readiness)."""
        raise NotImplementedError

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
        raise NotImplementedError

    def find_cases_near(
        self,
        lat: float,
        lon: float,
        radius_m: float,
        statuses: Sequence[CaseStatus | str] | None = None,
        matter_code: str | None = None,
    ) -> list[Case]:
        """Cases within radius_m (haversine) of the point, nearest first."""
        raise NotImplementedError

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
        raise NotImplementedError

    # ---- cases: actions and reads -----------------------------------------------------------
    def apply_action(
        self, case_id: int, action: Action | str, actor: str, note: str | None = None, **data: Any
    ) -> Case:
        """Apply a lifecycle action and append a HistoryEntry (who, when, note, previous state, data).

        data: correct -> class_name=... (or matter_code=...); dispatch -> unit=... (optional, sets
        responsible_unit). reject, void and reopen need a note (the reason). Forbidden moves raise
        TransitionError; missing data raises ActionError; unknown case raises CaseNotFound.
        """
        raise NotImplementedError

    def get_case(self, case_id: int) -> Case:
        """The case (overdue computed now); CaseNotFound if absent."""
        raise NotImplementedError

    def get_case_detail(self, case_id: int) -> CaseDetail:
        """The case with its observations and history."""
        raise NotImplementedError

    def get_observations(self, case_id: int) -> list[Observation]:
        """All observations of a case, oldest first."""
        raise NotImplementedError

    def get_history(self, case_id: int) -> list[HistoryEntry]:
        """The append-only history of a case, oldest first."""
        raise NotImplementedError

    def list_cases(
        self, filter: CaseFilter | None = None, cursor: str | None = None, limit: int = 50
    ) -> Page[Case]:
        """Cases matching the filter, newest first (keyset on id); next_cursor is opaque."""
        raise NotImplementedError

    def review_queue(self, limit: int = 50, after: str | None = None) -> Page[Case]:
        """pending_review cases, most urgent first: deadline (soonest, none last), severity, id."""
        raise NotImplementedError

    def segment_ranking(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[SegmentStats]:
        """Per road segment, for cases created in [since, until): opened, closed, open, overdue,
        median hours to close; worst first (most overdue, then most opened)."""
        raise NotImplementedError

    def counts_by_status(self) -> dict[str, int]:
        """Number of cases per status (every status present, zero included)."""
        raise NotImplementedError

    def count_overdue(self) -> int:
        raise NotImplementedError

    # ---- frames idempotency (POST /v1/frames) -----------------------------------------------
    def get_frame_result(self, vehicle_id: str, frame_id: str) -> dict | None:
        """The stored result of an already processed frame, or None."""
        raise NotImplementedError

    def save_frame_result(self, vehicle_id: str, frame_id: str, result: dict) -> dict:
        """Store the result once (unique on vehicle_id, frame_id); returns the stored (first) result."""
        raise NotImplementedError

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
        raise NotImplementedError

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
        raise NotImplementedError

    # ---- jobs ---------------------------------------------------------------------------------
    def create_job(
        self,
        source_path: str,
        gps_path: str | None = None,
        vehicle_id: str | None = None,
        kind: str = "video",
        params: dict | None = None,
    ) -> Job:
        raise NotImplementedError

    def get_job(self, job_id: str) -> Job:
        """CaseNotFound if absent."""
        raise NotImplementedError

    def update_job(self, job_id: str, **fields: Any) -> Job:
        """Update status/frames_done/frames_total/cases_so_far/observations_so_far/error/params."""
        raise NotImplementedError

    def list_jobs(self, statuses: Sequence[JobStatus | str] | None = None) -> list[Job]:
        """Jobs, oldest first (resume order after a restart)."""
        raise NotImplementedError

    # ---- API keys and users ---------------------------------------------------------------------
    def create_api_key(
        self, name: str, role: Role | str, vehicle_id: str | None = None
    ) -> tuple[ApiKey, str]:
        """A new key; returns its record and the plaintext (shown once; only a sha256 is stored)."""
        raise NotImplementedError

    def authenticate(self, plaintext: str) -> Principal | None:
        """The principal of a valid, unrevoked key, else None."""
        raise NotImplementedError

    def revoke_api_key(self, key_id: str) -> ApiKey:
        raise NotImplementedError

    def list_api_keys(self) -> list[ApiKey]:
        raise NotImplementedError

    def create_user(self, username: str, password: str, role: Role | str) -> User:
        """A web login; the password is stored as hashlib.scrypt with a random salt."""
        raise NotImplementedError

    def check_password(self, username: str, password: str) -> Principal | None:
        """The user's principal when the password matches and the user is enabled, else None."""
        raise NotImplementedError
