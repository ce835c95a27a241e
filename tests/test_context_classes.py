"""The context classes real streets need: people veto violation boxes on them and are blurred in what
leaves the review page; two-wheelers parked in a no-non-motor-parking zone become case type 09010;
ordinary bins never become cases.

The end-to-end test drives a generated clip through the whole path with ground-truth boxes as the
detector (streetwatch.bench.cases.GroundTruthDetector), so the expected cases are known exactly."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import numpy as np
import pytest
from drive_scene import SceneObject, render_pass, street_to_latlon, write_zones

import detector.context
from detector.context import PersonVeto, blur_regions, people_boxes
from detector.types import Detection

BIKES = tuple(
    SceneObject(f"bike-{i}", "two_wheeler", False, 30.0 + 0.7 * i, 2.2, 0.6, 1.6, 1.0, (200, 200, 30))
    for i in range(3)
)
PERSON = SceneObject("walker", "person", False, 42.0, 1.4, 0.6, 0.5, 1.7, (40, 40, 200))
BAG_ON_PERSON = SceneObject("bag", "exposed_garbage", True, 42.0, 1.4, 0.4, 0.3, 0.9, (90, 90, 90))
PILE = SceneObject("pile", "exposed_garbage", True, 44.0, 2.2, 1.2, 1.0, 0.6, (120, 110, 100))
BIN = SceneObject("bin", "waste_bin", False, 26.0, 1.8, 0.8, 0.8, 1.1, (60, 170, 40))


def _decode(jpeg: bytes) -> np.ndarray:
    import cv2

    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


def test_the_module_examples_hold():
    assert doctest.testmod(detector.context).failed == 0


def test_a_violation_box_on_a_person_is_dropped_and_one_beside_kept():
    veto = PersonVeto({"exposed_garbage", "out_of_store_vending"})
    person = Detection(100, 50, 160, 250, 0.9, 6, "person")
    on_person = Detection(105, 60, 155, 240, 0.7, 4, "exposed_garbage")
    beside = Detection(170, 180, 260, 250, 0.7, 4, "exposed_garbage")
    stall_with_vendor = Detection(60, 40, 400, 260, 0.8, 0, "out_of_store_vending")  # the vendor inside
    bin_next = Detection(120, 150, 150, 240, 0.8, 7, "waste_bin")  # context classes are not judged
    kept = veto([person, on_person, beside, stall_with_vendor, bin_next])
    assert kept == [person, beside, stall_with_vendor, bin_next]
    assert veto([on_person]) == [on_person]  # no person seen, nothing to veto


def test_blurring_changes_the_person_and_nothing_else():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    person = Detection(100, 50, 160, 200, 0.9, 6, "person")
    out = blur_regions(image, people_boxes([person], 320, 240), margin=0.0)
    assert out.shape == image.shape and out is not image
    inside, outside = (slice(50, 200), slice(100, 160)), (slice(0, 40), slice(0, 90))
    assert np.abs(out[inside].astype(int) - image[inside]).mean() > 30  # noise is gone
    assert np.array_equal(out[outside], image[outside])


@pytest.fixture(scope="module")
def street(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("context-street")
    render_pass(root / "pass_00", objects=(BIN, *BIKES, PERSON, BAG_ON_PERSON, PILE), seconds=4.0)
    zones = write_zones(root / "zones")

    def ll(s: float, t: float) -> list[float]:
        lat, lon = street_to_latlon(s, t)
        return [lon, lat]

    ring = [ll(28, 0.8), ll(34, 0.8), ll(34, 3.6), ll(28, 3.6), ll(28, 0.8)]  # a blind lane by the kerb
    (zones / "no_non_motor_parking.geojson").write_text(json.dumps({
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                      "properties": {"id": "nnp-1", "name": "Blind lane"}}],
    }))  # fmt: skip
    return root


def test_bikes_in_the_zone_are_one_09010_case_people_and_bins_none(street: Path, tmp_path: Path):
    from detector.pipeline import process_video
    from detector.pipeline_config import load_pipeline_config
    from detector.taxonomy import default_taxonomy
    from serve.store import CaseFilter, CaseStore
    from streetwatch.bench.cases import GroundTruthDetector, load_ground_truth

    pdir = street / "pass_00"
    oracle = GroundTruthDetector(load_ground_truth(pdir / "ground_truth.json"), default_taxonomy().names)
    store = CaseStore.open(f"sqlite:///{tmp_path / 'cases.db'}", str(tmp_path / "evidence"))
    try:
        summary = process_video(
            pdir / "clip.mp4", pdir / "track.csv", store, oracle, vehicle_id="v1",
            camera=pdir / "camera.yaml", zones=street / "zones",
            config=load_pipeline_config(overrides={"verifier": None}),  # flat boxes: nothing to verify
        )  # fmt: skip
        cases = store.cases.list_cases(CaseFilter(), limit=50).items
        by_class = {c.class_name: c for c in cases}
        assert sorted(by_class) == ["exposed_garbage", "non_motor_parking"], summary.rejected
        bikes = by_class["non_motor_parking"]
        assert bikes.matter_code == "09010" and bikes.class_zh == "非机动车乱停放"
        pile = by_class["exposed_garbage"]  # the pile on the ground, not the bag on the walker
        pile_lat, pile_lon = street_to_latlon(PILE.s, PILE.t)
        assert abs(pile.lat - pile_lat) < 3e-5 and abs(pile.lon - pile_lon) < 4e-5
        detail = store.cases.get_case_detail(pile.id)
        observation = detail.observations[0]
        people = observation.people
        assert people and all(0 <= v <= 1 for box in people for v in box)  # the walker, to blur
        # what leaves the review page: the walker blurred, the rest of the frame as the inspector sees it
        settings = load_pipeline_config().evidence
        original = _decode(store.cases.observation_evidence(observation.id, "frame", settings))
        published = _decode(store.cases.published_evidence(observation.id, settings))
        assert pile.published_url == f"/v1/observations/{observation.id}/published"
        h, w = original.shape[:2]
        x1, y1, x2, y2 = people[0]
        walker = (slice(int(y1 * h), int(y2 * h)), slice(int(x1 * w), int(x2 * w)))
        diff = np.abs(published.astype(int) - original.astype(int))
        assert diff[walker].mean() > 3 * diff.mean() > 0
    finally:
        store.close()
