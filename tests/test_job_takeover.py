"""Two service instances share one PostgreSQL store: when the instance running a footage job is killed,
the other takes the job over once its lease has run out, and the case list equals an uninterrupted run.

Real `streetwatch serve` processes on loopback, real model, real video, real PostgreSQL.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from api_support import bus_image, case_signature, pan_frames, write_clip

from streetwatch.bench.server_process import ServiceProcess

FRAMES = 240  # long enough (seconds of work on a fast machine) to be killed part-way
pytestmark = pytest.mark.postgres


def _env(model: Path, taxonomy: Path, **extra: str) -> dict[str, str]:
    return {
        "STREETWATCH_MODEL_PATH": str(model),
        "STREETWATCH_TAXONOMY": str(taxonomy),
        "STREETWATCH_PIPELINE__DETECTOR__IMGSZ": "320",
        "STREETWATCH_THREADS": "1",
        "STREETWATCH_BOOTSTRAP": "false",
        **extra,
    }


def _start_job(svc: ServiceProcess, headers: dict, video: Path, track: Path) -> str:
    response = httpx.post(
        svc.url + "/v1/jobs",
        json={"path": str(video), "gps_path": str(track), "vehicle_id": "V1"},
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def _wait(svc: ServiceProcess, headers: dict, job_id: str, until, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = httpx.get(f"{svc.url}/v1/jobs/{job_id}", headers=headers, timeout=10).json()
        if until(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id}: condition not reached: {job}")


def _cases(svc: ServiceProcess, headers: dict) -> list[dict]:
    url = f"{svc.url}/v1/cases"
    return httpx.get(url, params={"limit": 500}, headers=headers, timeout=10).json()["items"]


def _admin(url: str, evidence: Path) -> dict:
    from serve.store import CaseStore

    store = CaseStore.open(url, evidence)
    try:
        return {"Authorization": f"Bearer {store.access.create_api_key('admin', 'admin')[1]}"}
    finally:
        store.close()


def test_a_killed_instances_job_is_finished_by_the_other(
    postgres_url, service_model, service_taxonomy, tmp_path
):
    image = bus_image()
    if image is None:
        pytest.skip("ultralytics' bus.jpg not installed (training extra)")
    video, track = write_clip(tmp_path / "clip", pan_frames(image, FRAMES, (320, 240)))
    finished = lambda job: job["status"] in ("done", "failed", "cancelled")  # noqa: E731

    # the uninterrupted run (its own SQLite store)
    reference_db = f"sqlite:///{tmp_path / 'reference.db'}"
    headers = _admin(reference_db, tmp_path / "reference-evidence")
    env = _env(service_model, service_taxonomy, STREETWATCH_DB_URL=reference_db)
    with ServiceProcess(tmp_path / "reference", env=env) as ref:
        assert _wait(ref, headers, _start_job(ref, headers, video, track), finished)["status"] == "done"
        expected = case_signature(_cases(ref, headers))
    assert expected, "the reference run must open cases, else this test proves nothing"

    # instance A takes the job and is killed part-way; instance B (same store) finishes it
    headers = _admin(postgres_url, tmp_path / "evidence")
    env = _env(
        service_model,
        service_taxonomy,
        STREETWATCH_DB_URL=postgres_url,
        STREETWATCH_EVIDENCE_DIR=str(tmp_path / "evidence"),
        STREETWATCH_JOB_LEASE_S="3",
    )
    a = ServiceProcess(tmp_path / "a", env=env).start()
    try:
        job_id = _start_job(a, headers, video, track)
        running = _wait(a, headers, job_id, lambda job: job["frames_done"] >= 4 or finished(job))
        assert running["status"] == "running" and running["frames_done"] < FRAMES, running
        a.kill()
    finally:
        a.stop()
    owner_a = (tmp_path / "a" / "instance-id").read_text().strip()
    assert running["owner"] == owner_a
    with ServiceProcess(tmp_path / "b", env=env) as b:
        done = _wait(b, headers, job_id, finished)
        assert done["status"] == "done" and done["frames_done"] == FRAMES, done
        assert done["owner"] == (tmp_path / "b" / "instance-id").read_text().strip() != owner_a
        assert case_signature(_cases(b, headers)) == expected  # no case lost, no observation twice
