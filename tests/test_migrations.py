"""Alembic migrations: up and down on an empty and a filled database, SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
import typer
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from store_events import make_event
from typer.testing import CliRunner

from serve.store import CaseStore, migrate
from serve.store.cli import register
from serve.store.db import create_store_engine
from serve.store.models import Base

ALL_TABLES = {
    "cases",
    "observations",
    "case_history",
    "frame_results",
    "jobs",
    "api_keys",
    "users",
    "sightings",
    "processed_sources",
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cases.db'}"
    return request.getfixturevalue("postgres_url")


def _tables(url: str) -> set[str]:
    engine = create_store_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_up_and_down_on_an_empty_database(db_url: str) -> None:
    assert migrate.current_revision(db_url) is None
    migrate.upgrade(db_url)
    assert migrate.current_revision(db_url) == migrate.head_revision() == "0006"
    assert _tables(db_url) == ALL_TABLES
    engine = create_store_engine(db_url)
    with engine.connect() as conn:  # the ORM models describe exactly what the migrations built
        assert (
            compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
            == []
        )
    engine.dispose()
    migrate.downgrade(db_url, "0001")
    assert _tables(db_url) == {"cases", "observations", "case_history", "frame_results", "jobs"}
    migrate.downgrade(db_url, "base")
    assert migrate.current_revision(db_url) is None
    assert _tables(db_url) == set()
    migrate.upgrade(db_url)  # and back up again
    assert _tables(db_url) == ALL_TABLES


def test_up_and_down_on_a_filled_database_keeps_the_cases(db_url: str, tmp_path) -> None:
    with CaseStore.open(db_url, tmp_path / "ev") as store:
        case_id = store.cases.ingest_event(make_event("a")).case.id
        store.cases.ingest_event(make_event("b", north_m=3))
        store.cases.apply_action(case_id, "confirm", "alice")
        store.access.create_api_key("bus", "vehicle", "veh-1")
        store.access.create_user("alice", "pw", "inspector")
        store.sightings.record_sighting("vehicle", "veh-1", 31.0, 121.0, make_event("x").first_seen)
        job = store.jobs.create_job("/f/a.mp4")
        before = store.cases.get_case_detail(case_id)
    migrate.downgrade(db_url, "0001")
    assert migrate.current_revision(db_url) == "0001"
    migrate.upgrade(db_url)
    with CaseStore.open(db_url, tmp_path / "ev") as store:
        assert store.cases.get_case_detail(case_id) == before
        assert store.jobs.get_job(job.id).source_path == "/f/a.mp4"
        assert store.access.list_api_keys() == []  # 0002's tables were dropped and re-created empty
        joined = store.cases.ingest_event(make_event("c", north_m=1))
        assert joined.case.id == case_id and joined.case.observation_count == 3
    migrate.downgrade(db_url, "base")
    assert _tables(db_url) == set()


def test_opening_from_several_workers_at_once_migrates_once(db_url: str, tmp_path) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_store() -> None:
        try:
            barrier.wait(timeout=30)
            CaseStore.open(db_url, tmp_path / "ev").close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert migrate.current_revision(db_url) == "0006"


def test_db_commands(tmp_path) -> None:
    app, bench, dataset = typer.Typer(), typer.Typer(), typer.Typer()
    register(app, bench, dataset)
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = runner.invoke(app, ["db", "current", "--db", url])
    assert result.exit_code == 0 and "current: base (empty)  head: 0006" in result.output
    assert runner.invoke(app, ["db", "upgrade", "--db", url]).exit_code == 0
    assert "current: 0006" in runner.invoke(app, ["db", "current", "--db", url]).output
    result = runner.invoke(app, ["db", "downgrade", "--db", url])
    assert result.exit_code == 0 and "at revision 0005" in result.output
    assert runner.invoke(app, ["db", "downgrade", "base", "--db", url]).exit_code == 0
    assert _tables(url) == set()


def test_db_commands_are_part_of_the_streetwatch_command(tmp_path) -> None:
    from streetwatch.cli import app

    result = CliRunner().invoke(app, ["db", "upgrade", "--db", f"sqlite:///{tmp_path / 'e.db'}"])
    assert result.exit_code == 0, result.output
    assert "at revision 0006" in result.output
