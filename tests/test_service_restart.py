"""SIGKILL in the middle of a batch job, restart: the job resumes; the case list equals an uninterrupted run.

Real service processes (`streetwatch serve` on a free loopback port), real model, real video, real SQLite.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from api_support import bus_image, case_signature, pan_frames, write_clip

from serve.api.bootstrap import read_credentials
from streetwatch.bench.server_process import ServiceProcess

FRAMES = 240  # long enough (seconds of work on a fast machine) to be killed part-way


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> tuple[Path, Path]:
    image = bus_image()
    if image is None:
        pytest.skip("ultralytics' bus.jpg not installed (training extra)")
    return write_clip(tmp_path_factory.mktemp("restart-clip"), pan_frames(image, FRAMES, (320, 240)))


def service(data_dir: Path, model: Path, taxonomy: Path) -> ServiceProcess:
    env = {
        "STREETWATCH_MODEL_PATH": str(model),
        "STREETWATCH_TAXONOMY": str(taxonomy),
        "STREETWATCH_PIPELINE__DETECTOR__IMGSZ": "320",
        "STREETWATCH_THREADS": "1",
    }
    return ServiceProcess(data_dir, env=env)


def submit(svc: ServiceProcess, headers: dict, clip: tuple[Path, Path]) -> str:
    video, track = clip
    with video.open("rb") as v, track.open("rb") as g:
        response = httpx.post(
            svc.url + "/v1/jobs",
            files={"video": ("drive.mp4", v, "video/mp4"), "gps": ("track.csv", g, "text/csv")},
            data={"vehicle_id": "V1"},
            headers=headers,
            timeout=30,
        )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def wait_done(svc: ServiceProcess, headers: dict, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = httpx.get(f"{svc.url}/v1/jobs/{job_id}", headers=headers, timeout=10).json()
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def all_cases(svc: ServiceProcess, headers: dict) -> list[dict]:
    return httpx.get(f"{svc.url}/v1/cases", params={"limit": 500}, headers=headers, timeout=10).json()[
        "items"
    ]


def test_sigkill_mid_job_then_restart_gives_the_same_cases(
    tmp_path, long_clip, service_model, service_taxonomy
):
    # 1. the uninterrupted run
    with service(tmp_path / "reference", service_model, service_taxonomy) as ref:
        headers = {
            "Authorization": f"Bearer {read_credentials(ref.data_dir / 'credentials.txt')['admin_api_key']}"
        }
        reference_job = wait_done(ref, headers, submit(ref, headers, long_clip))
        assert reference_job["status"] == "done"
        expected = case_signature(all_cases(ref, headers))
    assert expected, "the reference run must open cases, else this test proves nothing"

    # 2. the same job, killed with SIGKILL part-way
    data = tmp_path / "crashed"
    victim = service(data, service_model, service_taxonomy).start()
    headers = {"Authorization": f"Bearer {read_credentials(data / 'credentials.txt')['admin_api_key']}"}
    try:
        job_id = submit(victim, headers, long_clip)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = httpx.get(f"{victim.url}/v1/jobs/{job_id}", headers=headers, timeout=10).json()
            if job["frames_done"] >= 4:
                break
            time.sleep(0.05)
        assert job["status"] == "running" and 0 < job["frames_done"] < FRAMES, job
        victim.kill()
    finally:
        victim.stop()
    cache = data / "jobs" / job_id / "detections.jsonl"
    assert cache.is_file()

    # 3. restart on the same data directory: the job resumes by itself
    with service(data, service_model, service_taxonomy) as restarted:
        finished = wait_done(restarted, headers, job_id)
        assert finished["status"] == "done", finished
        assert finished["frames_done"] == FRAMES
        summary = finished["params"]["summary"]
        assert summary["inferred_frames"] < FRAMES  # the frames done before the kill came from the cache
        got = case_signature(all_cases(restarted, headers))
        stream_ack_over_real_server(restarted, headers)
    assert got == expected


def stream_ack_over_real_server(svc: ServiceProcess, admin: dict) -> None:
    """The real server (uvicorn) speaks the WebSocket protocol (needs a WebSocket library installed)."""
    import asyncio

    import websockets
    from api_support import bus_image, frame_metadata, jpeg_bytes

    key = httpx.post(
        f"{svc.url}/v1/admin/keys",
        headers=admin,
        json={"name": "ws", "role": "vehicle", "vehicle_id": "WS1"},
        timeout=10,
    ).json()["key"]

    async def one_frame() -> dict:
        url = svc.url.replace("http://", "ws://") + "/v1/vehicles/WS1/stream"
        async with websockets.connect(url, additional_headers={"X-API-Key": key}) as ws:
            await ws.send(frame_metadata("WS1", "ws-1"))
            await ws.send(jpeg_bytes(bus_image()))
            return json.loads(await asyncio.wait_for(ws.recv(), 60))

    answer = asyncio.run(one_frame())
    assert answer["type"] == "ack" and answer["frame_id"] == "ws-1"
