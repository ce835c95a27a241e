"""Initial schema: cases, observations, append-only case history, frame results, jobs.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

_PG_APPEND_ONLY = """
CREATE FUNCTION case_history_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'case_history is append-only';
END $$ LANGUAGE plpgsql;
CREATE TRIGGER case_history_append_only BEFORE UPDATE OR DELETE ON case_history
    FOR EACH ROW EXECUTE FUNCTION case_history_append_only();
"""


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("matter_code", sa.String(32), nullable=False),
        sa.Column("class_name", sa.String(64), nullable=False),
        sa.Column("severity", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("address", sa.Text),
        sa.Column("road_name", sa.String(200)),
        sa.Column("road_segment_id", sa.String(100)),
        sa.Column("responsible_unit", sa.String(200)),
        sa.Column("road_chief", sa.String(200)),
        sa.Column("area_class", sa.String(8)),
        sa.Column("layer_version", sa.String(100)),
        sa.Column("deadline", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("first_seen", TS),
        sa.Column("last_seen", TS),
        sa.Column("handled_at", TS),
        sa.Column("closed_at", TS),
        sa.Column("best_observation_id", sa.Integer),
        sa.Column("evidence_key", sa.String(100)),
        sa.Column("crop_key", sa.String(100)),
        sa.Column("best_box", sa.JSON),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("best_quality", sa.Float, nullable=False),
        sa.Column("observation_count", sa.Integer, nullable=False),
        sa.Column("vehicle_ids", sa.JSON, nullable=False),
    )
    op.create_index("ix_cases_status", "cases", ["status"])
    op.create_index("ix_cases_road_segment_id", "cases", ["road_segment_id"])
    op.create_index("ix_cases_deadline", "cases", ["deadline"])
    op.create_index("ix_cases_created_at", "cases", ["created_at"])
    op.create_index("ix_cases_merge", "cases", ["matter_code", "lat", "lon"])

    op.create_table(
        "observations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event_key", sa.String(255), nullable=False, unique=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("observed_at", TS, nullable=False),
        sa.Column("last_seen", TS),
        sa.Column("vehicle_id", sa.String(100), nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("box", sa.JSON),
        sa.Column("class_name", sa.String(64)),
        sa.Column("evidence_key", sa.String(100)),
        sa.Column("crop_key", sa.String(100)),
        sa.Column("frame_index", sa.Integer),
        sa.Column("source", sa.Text),
        sa.Column("position_source", sa.String(20)),
        sa.Column("hits", sa.Integer),
        sa.Column("quality", sa.Float, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("extra", sa.JSON, nullable=False),
    )
    op.create_index("ix_observations_case_id", "observations", ["case_id"])

    op.create_table(
        "case_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("from_status", sa.String(20)),
        sa.Column("to_status", sa.String(20)),
        sa.Column("data", sa.JSON, nullable=False),
    )
    op.create_index("ix_case_history_case_id", "case_history", ["case_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_APPEND_ONLY)
    else:
        for what in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER case_history_append_only_{what.lower()} BEFORE {what} ON case_history "
                "BEGIN SELECT RAISE(ABORT, 'case_history is append-only'); END"
            )

    op.create_table(
        "frame_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("vehicle_id", sa.String(100), nullable=False),
        sa.Column("frame_id", sa.String(200), nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("vehicle_id", "frame_id", name="uq_frame_results_vehicle_frame"),
    )

    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("source_path", sa.Text, nullable=False),
        sa.Column("gps_path", sa.Text),
        sa.Column("vehicle_id", sa.String(100)),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("frames_done", sa.Integer, nullable=False),
        sa.Column("frames_total", sa.Integer),
        sa.Column("cases_so_far", sa.Integer, nullable=False),
        sa.Column("observations_so_far", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_jobs_status", "jobs", ["status"])


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("frame_results")
    op.drop_table("case_history")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS case_history_append_only()")
    op.drop_table("observations")
    op.drop_table("cases")
