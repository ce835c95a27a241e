"""The case store: cases, observations, history, jobs and keys (SQLAlchemy 2 + Alembic), evidence storage."""
