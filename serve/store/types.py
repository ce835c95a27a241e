"""The case store's domain types: THE one `Case` type and its companions.

These are pydantic v2 models so the API can use them directly as response models. All datetimes
are timezone-aware UTC. Ids of cases, observations and history entries are integers assigned by the
database (stable, shown to inspectors as "case 42"); jobs and API keys have short random string ids.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class CaseStatus(StrEnum):
    """The states of the city loop (see serve/store/lifecycle.py for the allowed transitions)."""

    pending_review = "pending_review"
    confirmed = "confirmed"
    rejected = "rejected"
    dispatched = "dispatched"
    handled = "handled"
    verified = "verified"
    closed = "closed"
    voided = "voided"


#: States in which a case still absorbs new detections of the same violation at the same place.
OPEN_STATUSES: tuple[CaseStatus, ...] = (
    CaseStatus.pending_review,
    CaseStatus.confirmed,
    CaseStatus.dispatched,
    CaseStatus.handled,
    CaseStatus.verified,
)
#: States that end a case (reopen brings them back to pending_review).
TERMINAL_STATUSES: tuple[CaseStatus, ...] = (CaseStatus.rejected, CaseStatus.closed, CaseStatus.voided)
#: States in which the handling deadline is still running: a case here past its deadline is overdue.
DEADLINE_RUNNING_STATUSES: tuple[CaseStatus, ...] = (
    CaseStatus.pending_review,
    CaseStatus.confirmed,
    CaseStatus.dispatched,
)


class Role(StrEnum):
    vehicle = "vehicle"  # may only ingest frames for its own vehicle id
    inspector = "inspector"  # may review and act on cases
    admin = "admin"  # everything, plus keys and layers


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"


class _Model(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Case(_Model):
    """One violation at one place, across frames, passes and vehicles."""

    id: int = Field(description="Stable case number assigned by the store.")
    matter_code: str = Field(description="City-management matter code (taxonomy), e.g. 09005.")
    class_name: str = Field(description="Taxonomy class, e.g. out_of_store_vending.")
    class_zh: str = Field(description="Chinese class name shown to inspectors.")
    class_en: str = Field(description="English class name.")
    severity: int = Field(default=1, description="Taxonomy severity; higher is more urgent.")
    status: CaseStatus
    lat: float = Field(description="WGS84 latitude (mean of the detection observations).")
    lon: float = Field(description="WGS84 longitude (mean of the detection observations).")
    address: str | None = Field(default=None, description="Human-readable place, if known.")
    road_name: str | None = None
    road_segment_id: str | None = None
    responsible_unit: str | None = Field(
        default=None, description="Department responsible (may be set on dispatch)."
    )
    road_chief: str | None = None
    area_class: str | None = Field(default=None, description="A core / B general / C other.")
    layer_version: str | None = Field(
        default=None, description="Version of the zone layers the case was judged under."
    )
    deadline: datetime | None = Field(default=None, description="Handling deadline.")
    overdue: bool = Field(default=False, description="Computed at read: deadline passed and not yet handled.")
    created_at: datetime
    updated_at: datetime
    first_seen: datetime | None = Field(default=None, description="Earliest observation time.")
    last_seen: datetime | None = Field(default=None, description="Latest detection observation time.")
    handled_at: datetime | None = None
    closed_at: datetime | None = Field(default=None, description="When it reached closed/voided/rejected.")
    best_observation_id: int | None = Field(
        default=None, description="Observation holding the best evidence."
    )
    evidence_key: str | None = Field(default=None, description="Storage key of the best frame (box drawn).")
    crop_key: str | None = Field(default=None, description="Storage key of the best raw crop.")
    frame_key: str | None = Field(
        default=None,
        description="Storage key of the best observation's original frame (a live upload, kept as it "
        "came); evidence_url / crop_url then draw its pictures on request.",
    )
    evidence_url: str | None = Field(default=None, description="URL of the best frame (from the storage).")
    published_url: str | None = Field(
        default=None,
        description="URL of the best frame with people blurred: what exports and Open311 link to.",
    )
    crop_url: str | None = None
    best_box: list[float] | None = Field(default=None, description="x1, y1, x2, y2 in the evidence frame.")
    score: float = Field(default=0.0, description="Score of the best observation.")
    observation_count: int = Field(default=0, description="Detection observations (verifications excluded).")
    vehicle_ids: list[str] = Field(default_factory=list, description="Vehicles that observed it, sorted.")


class Observation(_Model):
    """One sighting attached to a case: a detection event, or a patrol-pass verification."""

    id: int
    case_id: int
    event_key: str = Field(description="Idempotency key of the event (unique in the store).")
    kind: Literal["detection", "verification"] = "detection"
    time: datetime = Field(description="When it was first seen.")
    last_seen: datetime | None = None
    vehicle_id: str
    lat: float
    lon: float
    score: float = 0.0
    box: list[float] | None = None
    class_name: str | None = None
    evidence_key: str | None = None
    crop_key: str | None = None
    frame_key: str | None = None  # the original frame of a live upload; evidence drawn on request
    evidence_url: str | None = None
    crop_url: str | None = None
    published_url: str | None = Field(default=None, description="The frame with people blurred.")
    people: list[list[float]] | None = Field(
        default=None, description="Person boxes in the frame, [x1, y1, x2, y2] as fractions of its size."
    )
    frame_index: int | None = None
    source: str | None = None
    position_source: str | None = None
    hits: int | None = None
    quality: float = Field(default=0.0, description="Evidence quality used to pick the best observation.")
    created_at: datetime


class HistoryEntry(_Model):
    """One append-only line of a case's history: who did what, when, from which state."""

    id: int
    case_id: int
    action: str = Field(
        description="created, observed, reobserved, confirm, reject, ... or patrol_verification."
    )
    actor: str = Field(description="User name, 'patrol:<vehicle>' or 'system'.")
    at: datetime
    note: str | None = None
    from_status: CaseStatus | None = None
    to_status: CaseStatus | None = None
    data: dict[str, Any] = Field(default_factory=dict, description="Previous/new values of changed fields.")


class CaseDetail(Case):
    """A case with its observations and history (GET /v1/cases/{id})."""

    observations: list[Observation] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list)


class CaseFilter(BaseModel):
    """Filters for list_cases; every field is optional and they combine with AND."""

    statuses: list[CaseStatus] | None = None
    class_names: list[str] | None = None
    matter_codes: list[str] | None = None
    road_segment_ids: list[str] | None = None
    vehicle_id: str | None = Field(default=None, description="Cases observed by this vehicle.")
    created_after: datetime | None = Field(default=None, description="created_at >= this.")
    created_before: datetime | None = Field(default=None, description="created_at < this.")
    bbox: tuple[float, float, float, float] | None = Field(
        default=None, description="min_lon, min_lat, max_lon, max_lat (GeoJSON order)."
    )
    overdue: bool | None = Field(default=None, description="True: only overdue; False: only not overdue.")


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a keyset-paginated listing; pass next_cursor back to get the next page."""

    items: list[T]
    next_cursor: str | None = None


class IngestResult(_Model):
    case: Case
    created: bool = Field(description="A new case was opened.")
    observation_added: bool = Field(description="False when the event_key was already stored (idempotent).")
    observation: Observation | None = None


class Job(_Model):
    """A batch footage job, persisted so it resumes after a restart."""

    id: str
    kind: str = "video"
    status: JobStatus = JobStatus.queued
    source_path: str
    gps_path: str | None = None
    vehicle_id: str | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="camera/zones/sampling options.")
    frames_done: int = 0
    frames_total: int | None = None
    cases_so_far: int = 0
    observations_so_far: int = 0
    error: str | None = None
    created_at: datetime
    updated_at: datetime
    owner: str | None = Field(default=None, description="The service instance that runs (or ran) it.")
    lease_until: datetime | None = Field(
        default=None, description="Until when that instance's claim holds unless it renews it."
    )


class ApiKey(_Model):
    """An API key's public record; the plaintext is shown once at creation and only its hash is stored."""

    id: str
    name: str
    role: Role
    vehicle_id: str | None = None
    prefix: str = Field(description="First characters of the key, to recognise it in lists.")
    created_at: datetime
    revoked: bool = False
    revoked_at: datetime | None = None


class User(_Model):
    id: int
    username: str
    role: Role
    created_at: datetime
    disabled: bool = False


class Principal(_Model):
    """Who is calling: an API key or a logged-in user."""

    id: str = Field(description="Key id, or 'user:<id>'.")
    name: str = Field(description="Key name or user name; used as the actor in case history.")
    role: Role
    vehicle_id: str | None = None
    kind: Literal["api_key", "user"] = "api_key"


class Sighting(_Model):
    """A context object seen at a place (e.g. a parked vehicle), for rules that need a later pass."""

    id: int
    class_name: str
    vehicle_id: str
    lat: float
    lon: float
    at: datetime
    source: str | None = None
    track_key: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class SegmentStats(BaseModel):
    """Road-chief ranking line for one road segment over a time window."""

    road_segment_id: str | None
    road_name: str | None = None
    road_chief: str | None = None
    responsible_unit: str | None = None
    opened: int = Field(description="Cases created in the window.")
    closed: int = Field(description="Of those, closed.")
    open_now: int = Field(description="Of those, not yet in a terminal state.")
    overdue: int = Field(description="Of those, overdue now or handled after their deadline.")
    median_hours_to_close: float | None = None
