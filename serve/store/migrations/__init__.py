"""Alembic migrations of the case store (run programmatically: serve.store.migrate)."""
