"""Job leases: which service instance runs a job, and until when its claim holds.

Several instances may share one store (PostgreSQL). An instance claims a job atomically and renews the
lease while it works; a job whose lease ran out (its instance died) is taken over by another. A
restarted instance resumes its own jobs at once (same `owner`, kept in its data directory).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("owner", sa.String(64)))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("owner")
