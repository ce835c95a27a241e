"""The job repository: footage jobs (POST /v1/jobs), their progress, and the leases by which service
instances share them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from detector.errors import InputError
from serve.store.convert import from_row, jsonable
from serve.store.db import Repository
from serve.store.errors import CaseNotFound
from serve.store.models import JobRow
from serve.store.types import Job, JobStatus

#: What update_job may change.
_JOB_FIELDS = frozenset(
    {
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
)


class JobRepository(Repository):
    """Footage jobs. Thread-safe; several service instances may share one database."""

    def create_job(
        self,
        source_path: str,
        gps_path: str | None = None,
        vehicle_id: str | None = None,
        kind: str = "video",
        params: dict | None = None,
    ) -> Job:
        now = self.db.now()
        with self.db.write() as s:
            row = JobRow(
                id=uuid.uuid4().hex[:16],
                kind=kind,
                status=JobStatus.queued.value,
                source_path=str(source_path),
                gps_path=str(gps_path) if gps_path else None,
                vehicle_id=vehicle_id,
                params=jsonable(params or {}),
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
        with self.db.read() as s:
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
            fields["params"] = jsonable(fields["params"])
        with self.db.write() as s:
            row = s.get(JobRow, str(job_id))
            if row is None:
                raise CaseNotFound(f"job {job_id} not found")
            for key, value in fields.items():
                setattr(row, key, value)
            row.updated_at = self.db.now()
            return _job(row)

    def claim_job(self, owner: str, lease: timedelta, exclude: Sequence[str] = ()) -> tuple[Job, bool] | None:
        """Atomically take the oldest job this instance may run: a queued one, one of its own still
        marked running (it was restarted), or a running one whose lease ran out (its instance died).
        Returns (job, resumed) or None; `exclude`: jobs this instance is running now. Two instances never
        get the same job: on SQLite the write lock is taken first, on PostgreSQL the row is locked (SKIP
        LOCKED: others move on to the next)."""
        now = self.db.now()
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
        with self.db.write() as s:
            row = s.scalar(self.db.for_update(query, skip_locked=True))
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
        now = self.db.now()
        with self.db.write() as s:
            result = s.execute(
                sa.update(JobRow)
                .where(JobRow.id == str(job_id), JobRow.owner == owner)
                .values(lease_until=now + lease)
            )
            return bool(result.rowcount)

    def release_job(self, job_id: str, owner: str) -> None:
        """End this instance's claim now (it is stopping): another instance may resume the job at once."""
        with self.db.write() as s:
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
        with self.db.read() as s:
            return [_job(r) for r in s.scalars(query)]


def _job(row: JobRow) -> Job:
    return from_row(Job, row, params=row.params or {})
