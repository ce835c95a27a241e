"""Store records other parts rely on: listings and filters, review queue, ranking, frames idempotency,
jobs, API keys (hashed), web users (scrypt), sightings."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from store_events import BASE_LAT, BASE_LON, T0, make_event, offset

from serve.store import CaseFilter, CaseNotFound, CaseStatus, CaseStore, JobStatus, Role
from serve.store.db import normalize_url


def _spread(store: CaseStore, n: int, **fields) -> list[int]:
    """n cases 100 m apart along a street."""
    return [store.cases.ingest_event(make_event(f"e{i}", east_m=100 * i, **fields)).case.id for i in range(n)]


def test_list_cases_pages_through_everything_once(store: CaseStore) -> None:
    ids = _spread(store, 7)
    seen, cursor = [], None
    while True:
        page = store.cases.list_cases(cursor=cursor, limit=3)
        seen += [c.id for c in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
        store.cases.ingest_event(
            make_event(f"late{len(seen)}", north_m=500 + len(seen) * 50)
        )  # new cases meanwhile
    assert seen[:7] == sorted(ids, reverse=True)
    assert len(seen) == len(set(seen))
    with pytest.raises(Exception, match="invalid cursor"):
        store.cases.list_cases(cursor="not-a-cursor")


def test_filters(store: CaseStore) -> None:
    a = store.cases.ingest_event(make_event("a", road_segment_id="RS-1", vehicle_id="veh-1")).case
    b = store.cases.ingest_event(
        make_event("b", east_m=300, class_name="overflowing_bin", road_segment_id="RS-2")
    ).case
    c = store.cases.ingest_event(make_event("c", east_m=600, vehicle_id="veh-9")).case
    store.cases.apply_action(b.id, "confirm", "alice")

    def ids(**kw) -> set[int]:
        return {x.id for x in store.cases.list_cases(CaseFilter(**kw)).items}

    assert ids(statuses=[CaseStatus.confirmed]) == {b.id}
    assert ids(matter_codes=["09005"]) == {a.id, c.id}
    assert ids(class_names=["overflowing_bin"]) == {b.id}
    assert ids(road_segment_ids=["RS-1", "RS-2"]) == {a.id, b.id}
    assert ids(vehicle_id="veh-9") == {c.id}
    lat1, lon1 = offset(BASE_LAT, BASE_LON, -10, 250)
    lat2, lon2 = offset(BASE_LAT, BASE_LON, 10, 650)
    assert ids(bbox=(lon1, lat1, lon2, lat2)) == {b.id, c.id}
    created = store.cases.get_case(b.id).created_at
    assert ids(created_after=created) == {b.id, c.id}
    assert ids(created_before=created) == {a.id}
    assert ids(overdue=True) == set()
    real = store.db.clock
    store.db.clock = lambda: real() + timedelta(hours=3)  # vending default 4 h, bin 2 h
    assert ids(overdue=True) == {b.id}
    assert ids(overdue=False) == {a.id, c.id}


def test_review_queue_orders_by_deadline_then_severity(store: CaseStore) -> None:
    vend_a = store.cases.ingest_event(make_event("v", area_class="A")).case  # 2 h, severity 3
    bin_b = store.cases.ingest_event(
        make_event("b", east_m=200, class_name="overflowing_bin", area_class="B")
    ).case  # 2 h, 5
    soil = store.cases.ingest_event(make_event("s", east_m=400, class_name="exposed_soil")).case  # 48 h
    park = store.cases.ingest_event(
        make_event("p", east_m=600, class_name="illegal_parking", area_class="A")
    ).case  # 1 h
    done = store.cases.ingest_event(make_event("d", east_m=800, class_name="illegal_parking")).case
    store.cases.apply_action(done.id, "confirm", "alice")
    order, cursor = [], None
    while True:
        page = store.cases.review_queue(limit=2, after=cursor)
        order += [c.id for c in page.items]
        if not (cursor := page.next_cursor):
            break
    # vend_a and bin_b were opened a few ms apart: the earlier deadline wins, equal deadlines go by severity.
    first_two = sorted([vend_a, bin_b], key=lambda c: (c.deadline, -c.severity))
    assert order == [park.id] + [c.id for c in first_two] + [soil.id]


def test_segment_ranking_and_counts(store: CaseStore) -> None:
    seg1 = _spread(store, 3, road_segment_id="RS-1", road_chief="Li Wei")
    seg2 = [store.cases.ingest_event(make_event("x", north_m=900, road_segment_id="RS-2")).case.id]
    for action in ("confirm", "dispatch", "handle", "verify", "close"):
        store.cases.apply_action(seg1[0], action, "alice")
    store.cases.apply_action(seg1[1], "reject", "alice", "not a stall")
    real = store.db.clock
    store.db.clock = lambda: real() + timedelta(hours=10)
    ranking = {s.road_segment_id: s for s in store.cases.segment_ranking()}
    # the rejected detection is not an issue of the segment: 2 opened, not 3
    assert ranking["RS-1"].opened == 2 and ranking["RS-1"].closed == 1 and ranking["RS-1"].open_now == 1
    assert ranking["RS-1"].overdue == 1 and ranking["RS-1"].road_chief == "Li Wei"
    assert ranking["RS-1"].median_hours_to_close is not None and ranking["RS-1"].median_hours_to_close < 0.1
    assert ranking["RS-2"].opened == 1 and ranking["RS-2"].overdue == 1
    assert store.cases.segment_ranking(since=real() + timedelta(hours=1)) == []
    assert store.cases.get_case(seg2[0]).overdue
    counts = store.cases.counts_by_status()
    assert counts == {**dict.fromkeys(CaseStatus, 0), "pending_review": 2, "closed": 1, "rejected": 1}


def test_frame_answers_are_stored_once_per_vehicle_and_frame(store: CaseStore) -> None:
    assert store.idempotency.get_frame_answer("veh-1", "f-1") is None
    first = {"detections": [{"class_name": "exposed_garbage", "score": 0.9}], "cases": [3]}
    assert store.idempotency.save_frame_answer("veh-1", "f-1", first) == first
    retry = {"detections": [], "cases": []}
    assert store.idempotency.save_frame_answer("veh-1", "f-1", retry) == first
    assert store.idempotency.get_frame_answer("veh-1", "f-1") == first
    assert store.idempotency.get_frame_answer("veh-2", "f-1") is None
    store.idempotency.save_frame_answer("veh-2", "f-1", {"cases": []})
    with store.db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM frame_results")).scalar() == 2


def test_a_frame_answer_is_stored_as_the_orm_reads_it(store: CaseStore) -> None:
    """The answers bypass the ORM for speed (serve.store.idempotency); the rows must not differ."""
    from sqlalchemy.orm import Session

    from serve.store.models import FrameAnswerRow

    answer = {"score": np.float32(0.5), "at": datetime(2026, 11, 22, 8, 0, tzinfo=UTC), "box": (1, 2)}
    store.idempotency.save_frame_answer("veh-1", "f-9", answer)
    with Session(store.db.engine) as session:
        row = session.scalars(sa.select(FrameAnswerRow)).one()
    expected = {"score": 0.5, "at": "2026-11-22T08:00:00+00:00", "box": [1, 2]}
    assert row.result == store.idempotency.get_frame_answer("veh-1", "f-9") == expected
    assert row.created_at.tzinfo is not None
    assert abs(row.created_at - datetime.now(UTC)) < timedelta(minutes=1)


def test_old_frame_answers_are_purged_and_recent_ones_kept(store: CaseStore) -> None:
    real = store.db.clock
    store.db.clock = lambda: real() - timedelta(hours=50)
    store.idempotency.save_frame_answer("veh-1", "old", {"cases": []})
    store.db.clock = real
    store.idempotency.save_frame_answer("veh-1", "new", {"cases": []})
    assert store.idempotency.purge_frame_answers(timedelta(hours=48)) == 1
    assert store.idempotency.get_frame_answer("veh-1", "old") is None  # a retry this late is processed again
    assert store.idempotency.get_frame_answer("veh-1", "new") == {"cases": []}
    assert store.idempotency.purge_frame_answers(timedelta(hours=48)) == 0


def test_jobs_persist_progress(store: CaseStore) -> None:
    job = store.jobs.create_job("/footage/a.mp4", "/footage/a.gpx", "veh-1", params={"sample_fps": 5})
    assert job.status is JobStatus.queued and job.frames_done == 0
    store.jobs.update_job(job.id, status="running", frames_total=900)
    store.jobs.update_job(job.id, frames_done=450, cases_so_far=3, observations_so_far=5)
    other = store.jobs.create_job("/footage/b.mp4")
    assert [j.id for j in store.jobs.list_jobs(["running", "queued"])] == [job.id, other.id]
    got = store.jobs.get_job(job.id)
    assert (got.status, got.frames_done, got.frames_total, got.cases_so_far) == (
        JobStatus.running,
        450,
        900,
        3,
    )
    assert got.params == {"sample_fps": 5}
    store.jobs.update_job(job.id, status=JobStatus.failed, error="decode error at frame 451")
    assert [j.id for j in store.jobs.list_jobs([JobStatus.failed])] == [job.id]
    with pytest.raises(CaseNotFound):
        store.jobs.get_job("nope")
    with pytest.raises(Exception, match="unknown job fields"):
        store.jobs.update_job(job.id, colour="red")


def test_job_claims_hand_each_job_to_one_instance(store: CaseStore) -> None:
    lease = timedelta(seconds=60)
    first, second = store.jobs.create_job("/f/1.mp4"), store.jobs.create_job("/f/2.mp4")
    job, resumed = store.jobs.claim_job("instance-a", lease)
    assert (job.id, resumed, job.status, job.owner) == (first.id, False, JobStatus.running, "instance-a")
    job, resumed = store.jobs.claim_job("instance-b", lease)
    assert (job.id, resumed) == (second.id, False)  # a's running job is not b's to take
    assert store.jobs.claim_job("instance-b", lease, exclude=[second.id]) is None  # nothing else for b
    # a restarted (same data directory, same name) resumes its own job at once
    assert store.jobs.claim_job("instance-a", lease) == (store.jobs.get_job(first.id), True)
    assert store.jobs.claim_job("instance-a", lease, exclude=[first.id]) is None  # running it now
    assert store.jobs.renew_job_lease(first.id, "instance-a", lease)


def test_a_dead_instances_job_is_taken_over_when_its_lease_ends(store: CaseStore) -> None:
    lease = timedelta(seconds=60)
    job = store.jobs.create_job("/f/1.mp4")
    store.jobs.claim_job("instance-a", lease)
    real = store.db.clock
    store.db.clock = lambda: real() + timedelta(seconds=61)  # a stopped renewing (killed)
    taken, resumed = store.jobs.claim_job("instance-b", lease)
    assert (taken.id, resumed, taken.owner) == (job.id, True, "instance-b")
    assert not store.jobs.renew_job_lease(job.id, "instance-a", lease)  # a learns it lost the job
    store.jobs.release_job(job.id, "instance-b")  # b stops gracefully: free for anyone at once
    store.db.clock = real
    assert store.jobs.claim_job("instance-c", lease)[0].id == job.id


def test_concurrent_claims_never_share_a_job(store: CaseStore) -> None:
    jobs = {store.jobs.create_job(f"/f/{i}.mp4").id for i in range(6)}
    got: list[str] = []
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        mine: list[str] = []  # what this instance runs now (it would resume these after a restart)
        try:
            while (claimed := store.jobs.claim_job(name, timedelta(seconds=60), exclude=mine)) is not None:
                mine.append(claimed[0].id)
                got.append(claimed[0].id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"instance-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert sorted(got) == sorted(jobs)  # every job once, none twice


def test_api_keys_are_stored_hashed_and_can_be_revoked(store: CaseStore) -> None:
    record, plaintext = store.access.create_api_key("bus 12", Role.vehicle, vehicle_id="veh-12")
    assert len(plaintext) > 40 and plaintext.startswith(record.prefix)
    principal = store.access.authenticate(plaintext)
    assert (principal.id, principal.role, principal.vehicle_id, principal.name) == (
        record.id,
        Role.vehicle,
        "veh-12",
        "bus 12",
    )
    assert store.access.authenticate(plaintext + "x") is None and store.access.authenticate("") is None
    with store.db.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT key_hash FROM api_keys")).scalar()
        dump = " ".join(str(v) for row in conn.execute(sa.text("SELECT * FROM api_keys")) for v in row)
    assert stored == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in dump
    _, other = store.access.create_api_key("admin", "admin")
    assert other != plaintext
    assert store.access.revoke_api_key(record.id).revoked
    assert store.access.authenticate(plaintext) is None
    assert store.access.authenticate(other).role is Role.admin
    with pytest.raises(Exception, match="vehicle_id"):
        store.access.create_api_key("bus", "vehicle")
    with pytest.raises(Exception, match="unknown role"):
        store.access.create_api_key("x", "superuser")


def test_users_log_in_with_scrypt_passwords(store: CaseStore) -> None:
    user = store.access.create_user("alice", "correct horse battery staple", "inspector")
    assert user.role is Role.inspector
    assert store.access.check_password("alice", "correct horse battery staple").name == "alice"
    assert store.access.check_password("alice", "wrong") is None
    assert store.access.check_password("bob", "correct horse battery staple") is None
    with store.db.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT password_hash FROM users")).scalar()
    assert stored.startswith("scrypt$") and "correct horse" not in stored
    store.access.create_user("carol", "correct horse battery staple", "admin")
    with store.db.engine.connect() as conn:
        hashes = [r[0] for r in conn.execute(sa.text("SELECT password_hash FROM users"))]
    assert hashes[0] != hashes[1]  # salted
    with pytest.raises(Exception, match="already exists"):
        store.access.create_user("alice", "x", "admin")
    assert store.access.get_user("alice").username == "alice" and store.access.get_user("zed") is None


def test_sightings_for_later_pass_rules(store: CaseStore) -> None:
    lat, lon = offset(BASE_LAT, BASE_LON, 3, 0)
    first = store.sightings.record_sighting(
        "vehicle", "veh-1", lat, lon, T0, source="pass1.mp4", track_key="pass1:t4"
    )
    assert (
        store.sightings.record_sighting("vehicle", "veh-1", lat, lon, T0, track_key="pass1:t4").id == first.id
    )
    store.sightings.record_sighting(
        "vehicle", "veh-2", *offset(BASE_LAT, BASE_LON, 40, 0), T0, source="pass1.mp4"
    )
    store.sightings.record_sighting("person", "veh-1", lat, lon, T0, source="pass1.mp4")
    near = store.sightings.sightings_near(BASE_LAT, BASE_LON, 10, class_name="vehicle")
    assert [s.track_key for s in near] == ["pass1:t4"]
    assert (
        store.sightings.sightings_near(
            BASE_LAT, BASE_LON, 10, class_name="vehicle", exclude_source="pass1.mp4"
        )
        == []
    )
    assert (
        store.sightings.sightings_near(
            BASE_LAT, BASE_LON, 10, class_name="vehicle", since=T0 + timedelta(seconds=1)
        )
        == []
    )
    assert len(store.sightings.sightings_near(BASE_LAT, BASE_LON, 10, until=T0 + timedelta(seconds=1))) == 2


def test_ping_and_urls(store: CaseStore) -> None:
    assert store.db.ping()
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("data/x.db") == "sqlite:///data/x.db"


def test_sqlite_settings(tmp_path) -> None:
    store = CaseStore.open(str(tmp_path / "a.db"), tmp_path / "ev")  # a bare path means SQLite
    with store, store.db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
