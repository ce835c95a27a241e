"""Frame answers expire: an index on frame_results.created_at, so the periodic purge of answers older
than the retention window (`frame_answers_keep_hours`) does not scan the whole table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_frame_results_created_at", "frame_results", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_frame_results_created_at", table_name="frame_results")
