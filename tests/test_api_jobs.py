"""Batch footage jobs over the API: upload streamed to disk, progress, cases, cancel; admin zone layers."""

from __future__ import annotations

import json
import time


def wait_for(svc, job_id: str, statuses: set[str], timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = svc.client.get(f"/v1/jobs/{job_id}", headers=svc.auth("inspector")).json()
        if job["status"] in statuses:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not {statuses} after {timeout} s: {job}")


def upload(svc, video, track, headers=None, **fields):
    with video.open("rb") as v, track.open("rb") as g:
        return svc.client.post(
            "/v1/jobs",
            files={"video": ("drive.mp4", v, "video/mp4"), "gps": ("track.csv", g, "text/csv")},
            data={k: str(val) for k, val in fields.items()},
            headers=headers or svc.auth("inspector"),
        )


def test_uploaded_job_runs_to_done_with_progress_and_cases(make_service, bus_clip):
    svc = make_service()
    video, track = bus_clip
    created = upload(svc, video, track, vehicle_id="V9")
    assert created.status_code == 202, created.text
    job = created.json()
    assert job["params"]["sample_fps"] == 10  # the configured rate, kept with the job for its resume
    stored = svc.settings.uploads_dir
    assert any(p.name == "video.mp4" and p.stat().st_size == video.stat().st_size for p in stored.rglob("*"))
    done = wait_for(svc, job["id"], {"done", "failed"})
    assert done["status"] == "done", done
    assert done["frames_done"] == done["frames_total"] == 20
    assert done["cases_so_far"] >= 1
    cases = svc.client.get("/v1/cases", params={"vehicle_id": "V9"}, headers=svc.auth("inspector")).json()[
        "items"
    ]
    assert len(cases) == done["cases_so_far"]
    assert {c["class_name"] for c in cases} >= {"bus"}
    # the same footage again (a second upload) adds no case and no observation
    again = wait_for(svc, upload(svc, video, track, vehicle_id="V9").json()["id"], {"done", "failed"})
    assert again["status"] == "done"
    after = svc.client.get("/v1/cases", params={"vehicle_id": "V9"}, headers=svc.auth("inspector")).json()[
        "items"
    ]
    assert [(c["id"], c["observation_count"]) for c in after] == [
        (c["id"], c["observation_count"]) for c in cases
    ]
    # at another rate it would file some objects twice: the job fails and says why, unless `reprocess`
    refused = wait_for(
        svc, upload(svc, video, track, vehicle_id="V9", sample_fps=2).json()["id"], {"done", "failed"}
    )
    assert refused["status"] == "failed" and "sample_fps" in refused["error"], refused
    assert "2.0 now" in refused["error"] and "--reprocess" in refused["error"]
    forced = upload(svc, video, track, vehicle_id="V9", sample_fps=2, reprocess="true").json()
    assert forced["params"]["reprocess"] is True
    assert wait_for(svc, forced["id"], {"done", "failed"})["status"] == "done"


def test_job_requests_are_validated(make_service, bus_clip, tmp_path):
    svc = make_service(job_workers=0)
    video, track = bus_clip
    bad_type = tmp_path / "notes.txt"
    bad_type.write_text("hello")
    with bad_type.open("rb") as fh:
        response = svc.client.post(
            "/v1/jobs", files={"video": ("notes.txt", fh, "text/plain")}, headers=svc.auth("inspector")
        )
    assert response.status_code == 415
    assert (
        svc.client.post(
            "/v1/jobs", content=b"x", headers={**svc.auth("inspector"), "Content-Type": "text/plain"}
        ).status_code
        == 415
    )
    path_job = {"path": str(video), "gps_path": str(track)}
    assert svc.client.post("/v1/jobs", json=path_job, headers=svc.auth("inspector")).status_code == 403
    assert svc.client.post("/v1/jobs", json={"path": "/nope.mp4"}, headers=svc.auth()).status_code == 422
    # a home that does not exist, a name longer than the file system takes: no 500
    for user_home in ("~0", "~no-such-user/clip.mp4", "x" * 300 + ".mp4"):
        missing = svc.client.post("/v1/jobs", json={"path": user_home}, headers=svc.auth())
        assert missing.status_code == 422 and missing.json()["detail"].startswith("path: no such file")
    no_gps = svc.client.post("/v1/jobs", json={"path": str(video), "gps_path": "~0"}, headers=svc.auth())
    assert no_gps.status_code == 422 and no_gps.json()["detail"].startswith("gps_path: no such file")
    assert svc.client.post("/v1/jobs", json={"pth": "x"}, headers=svc.auth()).status_code == 422
    created = svc.client.post("/v1/jobs", json=path_job, headers=svc.auth())
    assert created.status_code == 202
    assert svc.client.post("/v1/jobs", json=path_job, headers=svc.auth("vehicle", "V1")).status_code == 403
    limited = make_service(job_workers=0, limits={"max_video_bytes": 1000})
    too_big = upload(limited, video, track)
    assert too_big.status_code == 413
    assert not any(p.is_file() for p in limited.settings.uploads_dir.rglob("*"))  # nothing half-written kept


def test_cancel_stops_a_job(make_service, bus_clip):
    svc = make_service(job_workers=0)  # nothing picks it up: cancel before it runs
    video, track = bus_clip
    job = upload(svc, video, track).json()
    cancelled = svc.client.delete(f"/v1/jobs/{job['id']}", headers=svc.auth("inspector"))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert svc.client.get("/v1/jobs/nope", headers=svc.auth("inspector")).status_code == 404


def test_admin_uploads_a_zone_layer_with_a_version(make_service, tmp_path):
    svc = make_service(job_workers=0)
    layer = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "school gate"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [
                            [121.47, 31.23],
                            [121.471, 31.23],
                            [121.471, 31.231],
                            [121.47, 31.231],
                            [121.47, 31.23],
                        ]
                    ],
                },
            }
        ],
    }
    response = svc.client.post(
        "/v1/admin/zones",
        files={"file": ("np.geojson", json.dumps(layer), "application/json")},
        data={"name": "no_parking", "version": "2026-11-a"},
        headers=svc.auth(),
    )
    assert response.status_code == 201, response.text
    assert response.json()["version"] == "2026-11-a"
    assert [layer["name"] for layer in response.json()["layers"]] == ["no_parking"]
    broken = svc.client.post(
        "/v1/admin/zones",
        files={"file": ("x.geojson", b"{not json", "application/json")},
        data={"name": "no_parking"},
        headers=svc.auth(),
    )
    assert broken.status_code == 422
    assert svc.client.get("/v1/admin/zones", headers=svc.auth()).json()["version"] == "2026-11-a"  # unchanged
    assert svc.client.get("/v1/admin/zones", headers=svc.auth("inspector")).status_code == 403


def test_a_job_runs_the_horizon_band_when_the_configuration_asks(make_service, bus_clip):
    svc = make_service(pipeline={"horizon_band": {"top": 0.28, "bottom": 0.58, "imgsz": [160, 896]}})
    video, track = bus_clip
    done = wait_for(svc, upload(svc, video, track, vehicle_id="V7").json()["id"], {"done", "failed"})
    assert done["status"] == "done", done
    assert done["frames_done"] == done["frames_total"] == 20
    # the job's detections came from both passes: its detections cache says so (and is not reused
    # by a job without the band)
    cache = svc.settings.data_dir / "jobs" / done["id"] / "detections.jsonl"
    header = json.loads(cache.read_text().splitlines()[0])["header"]
    assert "+band(160, 896)@0.28-0.58" in header["detector"]


def test_a_job_runs_the_model_under_the_identity_the_cli_gives_it(make_service, bundled_model_path):
    """A recording processed by `streetwatch process` and then by a footage job (through the service's
    micro-batcher) counts as processed with the same detector: a re-run, not a run to refuse."""
    import threading

    from detector.pipeline import build_detector, footage_detector
    from detector.pipeline.cache import detector_identity
    from detector.pipeline_config import load_pipeline_config
    from serve.api.jobs import BatcherDetector

    svc = make_service(model_path=bundled_model_path, pipeline={}, taxonomy=None)
    state = svc.app.state.sw
    job_detector = BatcherDetector(state.batcher, state.detector, threading.Event())
    config = load_pipeline_config()
    cli_detector = footage_detector(build_detector(config, bundled_model_path, threads=1), config)
    assert detector_identity(job_detector) == detector_identity(cli_detector)
