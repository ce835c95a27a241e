"""Evidence drawn when asked for: observations and cases keep the original frame of a live upload.

A live frame arrives as a JPEG. Decoding it in full and encoding it again with the box drawn, for every
event, cost the service about as much CPU as a tenth of a detector call per frame. Such an observation
now keeps the uploaded JPEG as it came (`frame_key`, content-addressed) and its box; the frame with the
box and the crop are drawn when an inspector or an export first asks for them
(GET /v1/observations/{id}/evidence[?view=crop]). `evidence_key` / `crop_key` stay for evidence drawn at
once (recorded footage, where no original JPEG exists).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


# Plain ALTER TABLE (SQLite >= 3.35 drops a column in place): a batch copy of `cases` would drop the
# table, and the append-only trigger on case_history refuses the cascade.
def upgrade() -> None:
    for table in ("observations", "cases"):
        op.add_column(table, sa.Column("frame_key", sa.String(100)))


def downgrade() -> None:
    for table in ("cases", "observations"):
        op.drop_column(table, "frame_key")
