"""POST /v1/frames: detections, idempotency on (vehicle_id, frame_id), and every limit's error."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from api_support import frame_metadata, jpeg_bytes

from detector.events import render_evidence
from detector.pipeline_config import EvidenceSettings
from detector.track import box_iou
from detector.types import Detection


@pytest.fixture(scope="module")
def svc(make_service):
    return make_service()


def post_form(svc, image: bytes, meta: str, key_headers: dict, content_type: str = "image/jpeg"):
    """The multipart form: `image` + `metadata` fields."""
    return svc.client.post(
        "/v1/frames",
        files={"image": ("frame.jpg", image, content_type)},
        data={"metadata": meta},
        headers=key_headers,
    )


def post_image(svc, image: bytes, meta: str, key_headers: dict, content_type: str = "image/jpeg"):
    """The image as the body, the metadata in a header (the lean path, serve.api.routes.frames)."""
    return svc.client.post(
        "/v1/frames",
        content=image,
        headers={**key_headers, "Content-Type": content_type, "X-Frame-Metadata": meta},
    )


@pytest.fixture(params=[post_form, post_image], ids=["form", "image-body"])
def post(request):
    """Each behaviour below holds for both ways of sending a frame."""
    return request.param


def test_frame_returns_detections_and_a_retry_is_answered_from_the_store(make_service, bus_jpeg, post):
    svc = make_service()
    headers = svc.auth("vehicle", "V1")
    meta = frame_metadata("V1", "frame-1")
    first = post(svc, bus_jpeg, meta, headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["duplicate"] is False
    names = {d["class_name"] for d in body["detections"]}
    assert {"bus", "person"} <= names  # the COCO model on the bus photo
    assert svc.store.idempotency.get_frame_answer("V1", "frame-1") is not None

    retry = post(svc, bus_jpeg, meta, headers)  # e.g. after a dropped connection
    assert retry.status_code == 200
    again = retry.json()
    assert again["duplicate"] is True
    assert again["detections"] == body["detections"]
    metrics = svc.client.get("/metrics").text
    assert 'streetwatch_frames_total{outcome="duplicate",transport="http"} 1.0' in metrics
    assert 'streetwatch_frames_total{outcome="processed",transport="http"} 1.0' in metrics
    assert "streetwatch_frame_latency_seconds_bucket" in metrics
    assert "process_cpu_seconds_total" in metrics  # the service process itself: CPU, memory, open files


def test_live_frames_become_a_case_and_retries_add_no_observation(make_service, bus_jpeg):
    svc = make_service(live_idle_flush_s=2.0)
    headers = svc.auth("vehicle", "V7")
    image = cv2.imdecode(np.frombuffer(bus_jpeg, np.uint8), cv2.IMREAD_COLOR)
    answers = []
    for i in range(6):
        shifted = np.roll(image, 2 * i, axis=1)
        response = post_form(svc, jpeg_bytes(shifted), frame_metadata("V7", f"f{i}"), headers)
        assert response.status_code == 200, response.text
        answers.append(response.json())
    deadline = time.monotonic() + 30  # the vehicle stopped sending: its tracks end and become cases
    cases, previous = [], None
    while time.monotonic() < deadline:
        cases = svc.client.get("/v1/cases", headers=svc.auth()).json()["items"]
        if cases and cases == previous:  # settled: the idle flush has run
            break
        previous = cases
        time.sleep(2.5)
    assert {c["class_name"] for c in cases} >= {"bus"}
    # the detector saw the frames at half size (a 320 model), the evidence is the full 810x1080 frame
    bus_case = next(c for c in cases if c["class_name"] == "bus")
    evidence = svc.client.get(bus_case["evidence_url"], headers=svc.auth())
    assert evidence.status_code == 200
    shown = cv2.imdecode(np.frombuffer(evidence.content, np.uint8), cv2.IMREAD_COLOR)
    assert shown.shape[:2] == image.shape[:2]
    # the upload was kept as it came (no decode and re-encode per event); the box is drawn on request
    detail = svc.client.get(f"/v1/cases/{bus_case['id']}", headers=svc.auth()).json()
    assert detail["frame_key"] and detail["evidence_key"] is None
    kept = svc.store.evidence.get(detail["frame_key"])
    assert kept in {jpeg_bytes(np.roll(image, 2 * i, axis=1)) for i in range(6)}
    assert bus_case["evidence_url"] == f"/v1/observations/{detail['best_observation_id']}/evidence"
    original = cv2.imdecode(np.frombuffer(kept, np.uint8), cv2.IMREAD_COLOR)
    x1, y1, x2, y2 = (int(v) for v in detail["best_box"])
    diff = np.abs(shown.astype(int) - original).sum(axis=2)
    assert diff[y1 : y1 + 2, x1 + 5 : x2 - 5].mean() > 100  # the box's top edge is drawn
    assert diff.mean() < 10  # elsewhere the frame itself
    # labelled as the detector saw it in that frame (class and score of that frame's answer)
    kept_index = next(i for i in range(6) if jpeg_bytes(np.roll(image, 2 * i, axis=1)) == kept)
    seen = max(answers[kept_index]["detections"], key=lambda d: box_iou(d["box"], detail["best_box"]))
    label = Detection(*detail["best_box"], seen["score"], -1, seen["class_name"])
    assert evidence.content == render_evidence(kept, label, EvidenceSettings())
    crop = svc.client.get(bus_case["crop_url"], headers=svc.auth())
    crop_image = cv2.imdecode(np.frombuffer(crop.content, np.uint8), cv2.IMREAD_COLOR)
    margin = 0.1 * (x2 - x1)  # the pipeline's evidence.crop_margin, clipped at the frame's edges
    expected = min(image.shape[1], x2 + margin) - max(0, x1 - margin)
    assert crop.status_code == 200 and crop_image.shape[1] == pytest.approx(expected, abs=4)
    assert svc.client.get(bus_case["evidence_url"], headers=svc.auth("vehicle", "V7")).status_code == 403
    assert svc.client.get("/v1/observations/999999/evidence", headers=svc.auth()).status_code == 404
    observations = sum(c["observation_count"] for c in cases)
    for i in range(3):  # resend frames that were already answered
        again = post_form(
            svc, jpeg_bytes(np.roll(image, 2 * i, axis=1)), frame_metadata("V7", f"f{i}"), headers
        )
        assert again.json()["duplicate"] is True
    after = svc.client.get("/v1/cases", headers=svc.auth()).json()["items"]
    assert sum(c["observation_count"] for c in after) == observations
    assert len(after) == len(cases)


def test_the_same_frame_sent_twice_at_once_is_processed_once(make_service, bus_jpeg, post):
    svc = make_service()
    headers = svc.auth("vehicle", "V8")
    meta = frame_metadata("V8", "twice")
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = [f.result() for f in [pool.submit(post, svc, bus_jpeg, meta, headers) for _ in range(2)]]
    assert [a.status_code for a in answers] == [200, 200]
    bodies = [a.json() for a in answers]
    assert sorted(b["duplicate"] for b in bodies) == [False, True]  # one processed, one answered with it
    assert bodies[0]["detections"] == bodies[1]["detections"]
    metrics = svc.client.get("/metrics").text
    assert 'streetwatch_frames_total{outcome="processed",transport="http"} 1.0' in metrics
    assert "streetwatch_detector_frames_total 1.0" in metrics  # the model ran once


def test_reduced_decode_answers_in_original_pixels_like_a_full_decode(make_service, bus_jpeg):
    """A 320-input model needs only half of the 810x1080 bus photo: the JPEG is decoded at half size,
    and the answer (size, boxes) is in the photo's own pixels, as with a full decode."""
    answers = {}
    for reduced in (True, False):
        svc = make_service(reduced_decode=reduced)
        assert svc.app.state.sw.live.input_shape == ((320, 320) if reduced else None)
        response = post_form(svc, bus_jpeg, frame_metadata("V9", "r1"), svc.auth("vehicle", "V9"))
        assert response.status_code == 200, response.text
        answers[reduced] = response.json()
    assert (answers[True]["width"], answers[True]["height"]) == (810, 1080)
    strong = [d for d in answers[False]["detections"] if d["score"] >= 0.5]
    assert len(strong) >= 3  # the bus and the people
    for full in strong:
        same_class = [d for d in answers[True]["detections"] if d["class_name"] == full["class_name"]]
        best = max(box_iou(full["box"], d["box"]) for d in same_class)
        assert best >= 0.85, (full, same_class)


@pytest.mark.parametrize(
    ("meta", "field"),
    [
        ("not json", "metadata"),
        (json.dumps({"vehicle_id": "V1", "captured_at": "2026-11-21T08:00:00Z"}), "frame_id"),
        (json.dumps({"vehicle_id": "V1", "frame_id": "x", "captured_at": "yesterday"}), "captured_at"),
        (
            json.dumps({"vehicle_id": "V1", "frame_id": "x", "captured_at": "2026-11-21T08:00:00"}),
            "captured_at",
        ),
        (
            json.dumps(
                {"vehicle_id": "V1", "frame_id": "x", "captured_at": "2026-11-21T08:00:00Z", "lat": 91}
            ),
            "lat",
        ),
    ],
)
def test_malformed_metadata_is_422_naming_the_field(svc, bus_jpeg, meta, field, post):
    response = post(svc, bus_jpeg, meta, svc.auth("vehicle", "V1"))
    assert response.status_code == 422
    assert field in response.json()["detail"]


def test_missing_parts_are_422(svc, bus_jpeg):
    response = svc.client.post(
        "/v1/frames", files={"image": ("f.jpg", bus_jpeg, "image/jpeg")}, headers=svc.auth("vehicle", "V1")
    )
    assert response.status_code == 422
    assert "metadata" in response.json()["detail"]
    no_header = svc.client.post(
        "/v1/frames", content=bus_jpeg, headers={**svc.auth("vehicle", "V1"), "Content-Type": "image/jpeg"}
    )
    assert no_header.status_code == 422
    assert "metadata" in no_header.json()["detail"]


def test_an_image_body_gets_the_same_answer_as_the_form(make_service, bus_jpeg):
    svc = make_service()
    headers = svc.auth("vehicle", "V3")
    form = post_form(svc, bus_jpeg, frame_metadata("V3", "same-1"), headers).json()
    body = post_image(svc, bus_jpeg, frame_metadata("V3", "same-2"), headers).json()
    assert body["detections"] == form["detections"]
    assert (body["width"], body["height"], body["duplicate"]) == (form["width"], form["height"], False)
    assert set(body) == set(form)  # the same answer schema (FrameResult)
    crossed = post_form(svc, bus_jpeg, frame_metadata("V3", "same-2"), headers).json()
    assert crossed["duplicate"] is True  # one idempotency key whichever way the frame came
    text = svc.client.get("/metrics").text
    assert 'streetwatch_frames_total{outcome="processed",transport="http"} 2.0' in text


def test_an_image_body_of_another_type_is_415_naming_what_to_send(svc, bus_jpeg):
    response = post_image(svc, bus_jpeg, frame_metadata("V1", "t9"), svc.auth("vehicle", "V1"), "image/gif")
    assert response.status_code == 415
    assert "image/jpeg" in response.json()["detail"] and "multipart" in response.json()["detail"]


def test_corrupt_and_truncated_jpeg_are_400(svc, bus_jpeg, post):
    headers = svc.auth("vehicle", "V1")
    garbage = post(svc, b"\xff\xd8\xff\xe0 this is not a jpeg" * 10, frame_metadata("V1", "bad-1"), headers)
    assert garbage.status_code == 400
    truncated = post(svc, bus_jpeg[: len(bus_jpeg) // 2], frame_metadata("V1", "bad-2"), headers)
    assert truncated.status_code == 400
    assert "truncated" in truncated.json()["detail"] or "corrupt" in truncated.json()["detail"]


def test_wrong_content_type_is_415(svc, bus_jpeg, post):
    headers = svc.auth("vehicle", "V1")
    assert post(svc, bus_jpeg, frame_metadata("V1", "t1"), headers, "text/plain").status_code == 415
    gif = b"GIF89a" + b"\x01\x00\x01\x00\x00\x00\x00;" + b"\x00" * 64
    assert post(svc, gif, frame_metadata("V1", "t2"), headers, "image/png").status_code in (400, 415)


def test_size_and_dimension_limits(make_service, bus_jpeg, post):
    svc = make_service(
        limits={"max_upload_bytes": len(bus_jpeg) - 1, "max_image_side": 1000, "min_image_side": 32}
    )
    headers = svc.auth("vehicle", "V1")
    too_big = post(svc, bus_jpeg, frame_metadata("V1", "s1"), headers)
    assert too_big.status_code == 413
    wide = jpeg_bytes(np.zeros((20 * 3, 1200, 3), np.uint8))  # 1200 px > max_image_side
    assert post(svc, wide, frame_metadata("V1", "s2"), headers).status_code == 413
    huge = b"x" * (len(bus_jpeg) + 200_000)  # refused from its Content-Length, before anything is parsed
    body_413 = svc.client.post(
        "/v1/frames", content=huge, headers={**headers, "Content-Type": "multipart/form-data; boundary=zz"}
    )
    assert body_413.status_code == 413
    tiny = jpeg_bytes(np.zeros((8, 8, 3), np.uint8))
    small = post(svc, tiny, frame_metadata("V1", "s3"), headers)
    assert small.status_code == 422
    assert "smaller" in small.json()["detail"]


def test_rate_limit_per_key_is_429_with_retry_after(make_service, bus_jpeg, post):
    svc = make_service(limits={"rate_per_key": 0.5, "burst_per_key": 2})
    headers = svc.auth("vehicle", "V1")
    statuses = [post(svc, bus_jpeg, frame_metadata("V1", f"r{i}"), headers) for i in range(3)]
    assert [r.status_code for r in statuses[:2]] == [200, 200]
    assert statuses[2].status_code == 429
    assert int(statuses[2].headers["Retry-After"]) >= 1
    other = post(svc, bus_jpeg, frame_metadata("V2", "r0"), svc.auth("vehicle", "V2"))
    assert other.status_code == 200  # the limit is per key


def test_overload_is_503_with_retry_after_never_unbounded(make_service, bus_jpeg, post):
    svc = make_service(
        limits={"queue_depth": 1, "rate_per_key": 1000, "burst_per_key": 1000},
        batching={"max_batch": 1, "max_wait_ms": 0},
    )
    headers = svc.auth("vehicle", "V1")
    with ThreadPoolExecutor(8) as pool:
        responses = list(
            pool.map(lambda i: post(svc, bus_jpeg, frame_metadata("V1", f"o{i}"), headers), range(8))
        )
    codes = sorted(r.status_code for r in responses)
    assert set(codes) <= {200, 503}
    assert 503 in codes and 200 in codes
    refused = next(r for r in responses if r.status_code == 503)
    assert int(refused.headers["Retry-After"]) >= 1
    accepted = {r.json()["frame_id"] for r in responses if r.status_code == 200}
    for i in range(8):  # what was refused was not processed: a retry is processed now
        if f"o{i}" not in accepted:
            assert svc.store.idempotency.get_frame_answer("V1", f"o{i}") is None


def _metric(svc, outcome: str) -> float:
    for line in svc.client.get("/metrics").text.splitlines():
        if line.startswith(f'streetwatch_frames_total{{outcome="{outcome}",transport="http"}}'):
            return float(line.split()[-1])
    return 0.0


def test_a_refused_frame_is_counted_once_in_the_metrics(svc, bus_jpeg, post):
    before = _metric(svc, "refused_422")
    bad = json.dumps({"vehicle_id": "V1", "frame_id": "m1", "captured_at": "yesterday"})
    assert post(svc, bus_jpeg, bad, svc.auth("vehicle", "V1")).status_code == 422
    assert _metric(svc, "refused_422") == before + 1


def test_a_frame_refused_for_its_key_is_counted_in_the_metrics(svc, bus_jpeg, post):
    """No key (401) and a key of another role (403) are frame refusals an operator sees in /metrics,
    whichever way the frame was sent, and each is counted once."""
    meta = frame_metadata("V1", "k1")
    before = {code: _metric(svc, f"refused_{code}") for code in (401, 403)}
    assert post(svc, bus_jpeg, meta, {}).status_code == 401
    assert post(svc, bus_jpeg, meta, svc.auth("inspector")).status_code == 403
    assert {code: _metric(svc, f"refused_{code}") - before[code] for code in (401, 403)} == {401: 1, 403: 1}
