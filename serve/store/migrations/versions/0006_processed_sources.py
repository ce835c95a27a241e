"""Processed sources: which recordings went into this store, and with which settings.

A recording's events are keyed by its content, its frames, the classes and the boxes
(detector.events.event_key), so running it again with the same model, sampling rate and tracker adds
nothing. With other settings (a new model, 10 frames/s instead of 5, another tracker setting) the same
objects' tracks may start on other frames, get other keys, and be added a second time to their cases.
`streetwatch process` and footage jobs record each source's settings here and refuse such a second run
unless told to run it anyway (`--reprocess`).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "processed_sources",
        sa.Column("source_id", sa.String(100), primary_key=True),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("path", sa.Text),
        sa.Column("first_processed_at", TS, nullable=False),
        sa.Column("last_processed_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("processed_sources")
