"""Two real service processes on two loopback ports, one PostgreSQL case store, one evidence bucket.

Two patrol vehicles pass the same bus at the same moment, each talking to a different process; their
tracks end in the same instant (behind a barrier), so both processes ingest the same violation
concurrently. The store's merge must leave exactly one case per object, observed by both vehicles,
and both processes must answer with the same case list and serve each other's evidence (from an S3
bucket on s3rver when node and tools/s3rver are installed, else from a shared folder).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from api_support import LAT0, LON0, bus_image, jpeg_bytes, pan_frames
from s3_support import s3_spec

FRAMES = 6


@pytest.fixture
def shared_evidence(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Evidence both processes share: an S3 bucket (s3rver on loopback) when available, else a folder."""
    try:
        endpoint = request.getfixturevalue("s3_endpoint")
    except pytest.skip.Exception:
        return str(tmp_path / "shared-evidence")
    return s3_spec(endpoint, "two-services")


@pytest.fixture
def two_services(
    postgres_url: str, service_model: Path, service_taxonomy: Path, shared_evidence: str, tmp_path: Path
):
    """(url A, url B, {vehicle: key}, inspector key) of two `streetwatch serve` processes."""
    from serve.store import CaseStore
    from streetwatch.bench.server_process import ServiceProcess

    evidence = shared_evidence
    store = CaseStore.open(postgres_url, evidence)  # migrates once, before the services start
    try:
        keys = {v: store.access.create_api_key(f"vehicle {v}", "vehicle", v)[1] for v in ("veh-A", "veh-B")}
        inspector = store.access.create_api_key("inspector", "inspector")[1]
    finally:
        store.close()
    env = {
        "STREETWATCH_DB_URL": postgres_url,
        "STREETWATCH_EVIDENCE_DIR": evidence,
        "STREETWATCH_MODEL_PATH": str(service_model),
        "STREETWATCH_TAXONOMY": str(service_taxonomy),
        "STREETWATCH_PIPELINE__DETECTOR__IMGSZ": "320",
        "STREETWATCH_THREADS": "1",
        "STREETWATCH_JOB_WORKERS": "0",
        "STREETWATCH_BOOTSTRAP": "false",
        "STREETWATCH_SESSION_SECRET": "shared-secret-of-both-instances",
    }
    services = [ServiceProcess(tmp_path / f"node-{n}", env=env) for n in ("a", "b")]
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda s: s.start(timeout=120), services))
        yield services[0].url, services[1].url, keys, inspector, evidence
    finally:
        for service in services:
            service.stop()


def _drive_by(url: str, vehicle: str, key: str, frames: list[bytes], t0: datetime, barrier) -> list[dict]:
    """Frames of the bus, then (after the barrier) one empty frame 30 s later: the tracks end."""
    headers = {"Authorization": f"Bearer {key}"}
    answers = []
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:

        def send(frame_id: str, image: bytes, at: datetime) -> dict:
            meta = {"vehicle_id": vehicle, "frame_id": frame_id, "captured_at": at.isoformat(),
                    "lat": LAT0, "lon": LON0, "heading": 90.0}  # fmt: skip
            import json

            response = client.post(
                "/v1/frames",
                files={"image": ("f.jpg", image, "image/jpeg")},
                data={"metadata": json.dumps(meta)},
            )
            assert response.status_code == 200, response.text
            return response.json()

        for i, image in enumerate(frames):
            answers.append(send(f"f{i}", image, t0 + timedelta(seconds=0.2 * i)))
        blank = jpeg_bytes(np.full((240, 320, 3), 90, np.uint8))
        barrier.wait(timeout=60)
        answers.append(send("gap", blank, t0 + timedelta(seconds=30)))
    return answers


@pytest.mark.postgres
def test_two_processes_two_vehicles_same_violation_one_case(two_services) -> None:
    url_a, url_b, keys, inspector, evidence = two_services
    image = bus_image()
    if image is None:
        pytest.skip("ultralytics' bus.jpg not installed (training extra)")
    frames = [jpeg_bytes(f) for f in pan_frames(image, FRAMES, (320, 240))]
    t0 = datetime.now(UTC).replace(microsecond=0)
    barrier = threading.Barrier(2)
    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(_drive_by, url_a, "veh-A", keys["veh-A"], frames, t0, barrier)
        b = pool.submit(_drive_by, url_b, "veh-B", keys["veh-B"], frames, t0, barrier)
        answers = {"veh-A": a.result(), "veh-B": b.result()}
    assert all(ans[0]["detections"] for ans in answers.values()), "the model must see the bus"
    touched = {v: {c["case_id"] for c in ans[-1]["cases"]} for v, ans in answers.items()}
    assert touched["veh-A"] and touched["veh-B"], "the gap frame ends the tracks: cases are opened/updated"
    opened: dict[int, int] = {}
    for ans in answers.values():
        for c in ans[-1]["cases"]:
            opened[c["case_id"]] = opened.get(c["case_id"], 0) + int(c["created"])
    assert set(opened.values()) == {1}, f"each case opened by exactly one of the two processes: {opened}"

    headers = {"Authorization": f"Bearer {inspector}"}
    lists = []
    for url in (url_a, url_b):
        response = httpx.get(f"{url}/v1/cases", params={"limit": 100}, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        lists.append(
            sorted((c["id"], c["class_name"], c["observation_count"]) for c in response.json()["items"])
        )
    assert lists[0] == lists[1], "both processes read the same store"
    cases = lists[0]
    classes = [c[1] for c in cases]
    assert "bus" in classes
    assert len(classes) == len(set(classes)), f"one case per violation, got {cases}"
    assert touched["veh-A"] == touched["veh-B"] == {c[0] for c in cases}
    for case_id, class_name, count in cases:
        detail = httpx.get(f"{url_b}/v1/cases/{case_id}", headers=headers, timeout=30).json()
        assert sorted(detail["vehicle_ids"]) == ["veh-A", "veh-B"]
        by_vehicle = [o["vehicle_id"] for o in detail["observations"]]
        assert by_vehicle.count("veh-A") == by_vehicle.count("veh-B") == count // 2  # same footage each
        if class_name == "bus":
            assert count == 2  # one bus, seen once by each vehicle
        # evidence written by either process is served by both (shared bucket or folder)
        key = detail["evidence_key"]
        for url in (url_a, url_b):
            got = httpx.get(f"{url}/v1/evidence/{key}", headers=headers, timeout=30)
            assert got.status_code == 200 and got.content[:2] == b"\xff\xd8"
        if evidence.startswith("s3://"):
            from serve.store.storage import open_storage

            assert open_storage(evidence).get(key) == got.content  # it lives in the bucket


def test_serve_workers_share_one_port_and_prepare_once(
    service_model: Path, service_taxonomy: Path, bus_jpeg: bytes, tmp_path: Path
) -> None:
    """`streetwatch serve --workers 2`: two worker processes behind one port, one SQLite store, the
    first-start credentials written once, footage jobs claimed by exactly one worker."""
    import fcntl
    import json
    import os
    import subprocess
    import sys
    import time

    import psutil
    from api_support import frame_metadata

    from streetwatch.bench.server_process import REPO_ROOT, free_port

    port, data = free_port(), tmp_path / "data"
    env = {
        **os.environ,
        "STREETWATCH_MODEL_PATH": str(service_model),
        "STREETWATCH_TAXONOMY": str(service_taxonomy),
        "STREETWATCH_PIPELINE__DETECTOR__IMGSZ": "320",
        "STREETWATCH_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    cmd = [sys.executable, "-m", "streetwatch", "serve", "--workers", "2", "--host", "127.0.0.1",
           "--port", str(port), "--data-dir", str(data), "--log-level", "warning"]  # fmt: skip
    data.mkdir()
    with (tmp_path / "serve.log").open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        ready = 0
        while ready < 4:  # several answers in a row: both workers are up
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "service not ready in 120 s"
            try:
                ok = httpx.get(url + "/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                ok = False
            ready = ready + 1 if ok else 0
            time.sleep(0.3)
        workers = [p for p in psutil.Process(proc.pid).children() if "spawn_main" in " ".join(p.cmdline())]
        assert len(workers) == 2
        lines = (data / "credentials.txt").read_text().splitlines()
        admin = [line.split("=", 1)[1] for line in lines if line.startswith("admin_api_key=")]
        assert len(admin) == 1
        headers = {"Authorization": f"Bearer {admin[0]}"}
        key = httpx.post(f"{url}/v1/admin/keys", json={"name": "v", "role": "vehicle", "vehicle_id": "V1"},
                         headers=headers, timeout=30)  # fmt: skip
        assert key.status_code in (200, 201), key.text
        vehicle = {"Authorization": f"Bearer {key.json()['key']}"}
        for i in range(4):  # any worker answers with the same store behind it
            response = httpx.post(
                f"{url}/v1/frames",
                files={"image": ("f.jpg", bus_jpeg, "image/jpeg")},
                data={"metadata": frame_metadata("V1", f"f{i}")},
                headers=vehicle,
                timeout=60,
            )
            assert response.status_code == 200, response.text
            assert json.loads(response.text)["detections"]
        with (data / "jobs.lock").open("a+") as fh:  # one worker holds the job lock
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = False
            except OSError:
                held = True
        assert held, "no worker runs footage jobs"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
