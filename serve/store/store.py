"""The case store: opens the database and the evidence storage and holds the repositories.

`CaseStore.open(url)` connects (SQLite file by default, PostgreSQL via `postgresql+psycopg://`), runs
the Alembic migrations to head, and returns a store that is safe to share between threads:
`store.cases`, `store.jobs`, `store.access`, `store.sightings`, `store.idempotency`. Every repository
method runs in its own transaction. Errors callers can act on: `CaseNotFound` (404),
`TransitionError` (409), `ActionError` (422) — all `StreetWatchError`s.
"""

from __future__ import annotations

import sqlalchemy as sa

from detector.errors import StreetWatchError
from detector.taxonomy import Taxonomy, default_taxonomy
from serve.store.access import AccessRepository
from serve.store.cases import CaseRepository
from serve.store.db import Database, create_store_engine
from serve.store.idempotency import IdempotencyRepository
from serve.store.jobs import JobRepository
from serve.store.sightings import SightingRepository
from serve.store.storage import EvidenceStorage, open_storage

DEFAULT_DB_URL = "sqlite:///data/streetwatch.db"
DEFAULT_EVIDENCE_DIR = "data/evidence"


class CaseStore:
    """All persistent state of StreetWatch: one database shared by its repositories, and the evidence
    storage. Thread-safe; share one per process.

    It is also the event sink the data pipeline (detector.pipeline, detector.rules) is handed, which
    reaches it duck-typed by method name: `ingest_event`, `find_cases_near` and `attach_verification`
    (cases), `claim_source` (idempotency), `record_sighting` and `sightings_near` (the rules'
    SightingLog). Those six are the repositories' own methods bound here; every other caller goes to
    the repositories.
    """

    def __init__(
        self,
        db: Database,
        evidence: EvidenceStorage,
        taxonomy: Taxonomy,
        auto_verify_on_patrol: bool = True,
    ) -> None:
        self.db = db
        self.evidence = evidence
        self.taxonomy = taxonomy
        self.idempotency = IdempotencyRepository(db)
        self.cases = CaseRepository(db, evidence, taxonomy, self.idempotency, auto_verify_on_patrol)
        self.jobs = JobRepository(db)
        self.access = AccessRepository(db)
        self.sightings = SightingRepository(db)
        # the pipeline's sink (see the class docstring)
        self.ingest_event = self.cases.ingest_event
        self.find_cases_near = self.cases.find_cases_near
        self.attach_verification = self.cases.attach_verification
        self.claim_source = self.idempotency.claim_source
        self.record_sighting = self.sightings.record_sighting
        self.sightings_near = self.sightings.sightings_near

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
        return cls(
            Database(engine), open_storage(evidence), taxonomy or default_taxonomy(), auto_verify_on_patrol
        )

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.db.close()

    def __enter__(self) -> CaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
