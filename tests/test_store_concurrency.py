"""Two vehicles reporting the same violation at the same moment make ONE case (issue 7).

PostgreSQL: several processes and threads write at once; the merge holds advisory locks on the
grid cells around the point. SQLite: writers serialise on BEGIN IMMEDIATE.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from collections import defaultdict

import pytest
from store_events import BASE_LAT, make_event

from serve.store import CaseStore
from serve.store.geo import LOCK_CELL_DEG

# Spots 200 m apart; two straddle a lock-grid line, so writers at the same spot lock different sets of
# cells (the neighbouring cells must make them meet).
_BOUNDARY_NORTH_M = ((BASE_LAT // LOCK_CELL_DEG + 1) * LOCK_CELL_DEG - BASE_LAT) * 111_320.0
SPOTS = [(0.0, 0.0), (0.0, 200.0), (_BOUNDARY_NORTH_M, 400.0), (_BOUNDARY_NORTH_M, 600.0)]
SPOTS += [(400.0, 0.0), (400.0, 200.0)]


def _jitter(writer: int) -> tuple[float, float]:
    """Each writer reports a slightly different position (GPS noise), within 5 m of the spot."""
    return ((writer % 3) - 1) * 2.5, ((writer // 3) % 3 - 1) * 2.5


def _write_spots(store: CaseStore, writer: int, wait) -> list[int]:
    ids = []
    dn, de = _jitter(writer)
    for i, (north, east) in enumerate(SPOTS):
        wait()
        event = make_event(f"w{writer}:spot{i}", north + dn, east + de, vehicle_id=f"veh-{writer}")
        ids.append(store.cases.ingest_event(event).case.id)
    return ids


def _process_writer(url: str, evidence: str, writer: int, barrier, results) -> None:
    store = CaseStore.open(url, evidence, migrate=False)
    try:
        results.put((writer, _write_spots(store, writer, lambda: barrier.wait(timeout=60))))
    except Exception as exc:  # report, do not hang the parent
        results.put((writer, repr(exc)))
    finally:
        store.close()


def _check_one_case_per_spot(store: CaseStore, ids_by_writer: dict[int, list[int]]) -> None:
    writers = len(ids_by_writer)
    for spot in range(len(SPOTS)):
        ids = {ids_by_writer[w][spot] for w in ids_by_writer}
        assert len(ids) == 1, f"spot {spot}: {len(ids)} cases for one violation"
        assert store.cases.get_case(ids.pop()).observation_count == writers
    assert store.cases.counts_by_status()["pending_review"] == len(SPOTS)


def _run_threads(store: CaseStore, writers: int) -> dict[int, list[int]]:
    barrier = threading.Barrier(writers)
    results: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def run(writer: int) -> None:
        try:
            results[writer] = _write_spots(store, writer, lambda: barrier.wait(timeout=60))
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return results


@pytest.mark.parametrize(
    ("backend", "writers"), [pytest.param("postgres", 4, marks=pytest.mark.postgres), ("sqlite", 3)]
)
def test_concurrent_processes_make_one_case_per_violation(backend, writers, request, tmp_path) -> None:
    """Several API processes or Ray workers writing to one store."""
    if backend == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'c.db'}"
    CaseStore.open(url, tmp_path / "ev").close()  # migrate once
    ctx = mp.get_context("forkserver")  # clean children (no inherited threads or connections), imports once
    ctx.set_forkserver_preload(["serve.store", "store_events"])
    barrier, results = ctx.Barrier(writers), ctx.Queue()
    procs = [
        ctx.Process(target=_process_writer, args=(url, str(tmp_path / "ev"), w, barrier, results))
        for w in range(writers)
    ]
    for p in procs:
        p.start()
    collected = dict(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(30)
    bad = {w: r for w, r in collected.items() if not isinstance(r, list)}
    assert not bad, bad
    with CaseStore.open(url, tmp_path / "ev") as store:
        _check_one_case_per_spot(store, collected)


@pytest.mark.postgres
def test_concurrent_threads_on_postgresql(postgres_url, tmp_path) -> None:
    with CaseStore.open(postgres_url, tmp_path / "ev") as store:
        _check_one_case_per_spot(store, _run_threads(store, 8))


def test_concurrent_threads_on_sqlite(tmp_path) -> None:
    with CaseStore.open(f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "ev") as store:
        _check_one_case_per_spot(store, _run_threads(store, 4))


@pytest.mark.postgres
def test_the_same_event_sent_twice_at_once_is_stored_once(postgres_url, tmp_path) -> None:
    """A vehicle retrying after a dropped connection while the first request is still running."""
    with CaseStore.open(postgres_url, tmp_path / "ev") as store:
        barrier = threading.Barrier(6)
        outcomes = defaultdict(list)

        def run(i: int) -> None:
            barrier.wait(timeout=30)
            r = store.cases.ingest_event(make_event("veh-1:frame-88:track-2", north_m=i * 0.5))
            outcomes[r.observation_added].append(r.case.id)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(outcomes[True]) == 1 and len(outcomes[False]) == 5
        assert len(set(outcomes[True] + outcomes[False])) == 1
        assert store.cases.get_case(outcomes[True][0]).observation_count == 1
