"""The case store: cases, observations, history, jobs and keys (SQLAlchemy 2 + Alembic), evidence storage.

Import the public names from here: `from serve.store import CaseStore, Case, CaseStatus, ...`.
`CaseStore` holds one repository per kind of record: `cases`, `jobs`, `access` (API keys, web users),
`sightings` and `idempotency` (frame answers, processed sources, event keys).
"""

from serve.store.errors import CaseNotFound
from serve.store.lifecycle import Action, ActionError, TransitionError
from serve.store.storage import EvidenceStorage, LocalEvidenceStorage, open_storage
from serve.store.store import CaseStore
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

__all__ = [
    "Action",
    "ActionError",
    "ApiKey",
    "Case",
    "CaseDetail",
    "CaseFilter",
    "CaseNotFound",
    "CaseStatus",
    "CaseStore",
    "EvidenceStorage",
    "HistoryEntry",
    "IngestResult",
    "Job",
    "JobStatus",
    "LocalEvidenceStorage",
    "Observation",
    "Page",
    "Principal",
    "Role",
    "SegmentStats",
    "Sighting",
    "TransitionError",
    "User",
    "open_storage",
]
