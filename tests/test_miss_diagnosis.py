"""The case benchmark says why each missed violation was missed (streetwatch.bench.miss_diagnosis)."""

from __future__ import annotations

import json

from store_events import make_event

from detector.pipeline import read_detections_cache
from detector.pipeline_config import CaseMerging, load_pipeline_config
from detector.types import Detection
from streetwatch.bench.cases import GroundTruthObject
from streetwatch.bench.miss_diagnosis import explain_misses, verdict_counts

LAT, LON = 31.2304, 121.4737
BOX = (100.0, 100.0, 160.0, 150.0)
RULES = load_pipeline_config().rule_for  # min_hits 3, min median score 0.45 (soil 0.4)


def _object(oid: str, case_class: str, class_name: str | None = None, frames: int = 10) -> GroundTruthObject:
    return GroundTruthObject(
        id=oid,
        class_name=class_name or case_class,
        violation=class_name is None,
        lat=LAT,
        lon=LON,
        frames=tuple(range(frames)),
        boxes=(BOX,) * frames,
        case_class=case_class,
    )


def _seen(class_name: str, score: float, frames: int = 10) -> dict[int, list[Detection]]:
    shifted = (BOX[0] + 4, BOX[1] + 2, BOX[2] + 4, BOX[3] + 2)  # IoU ~0.8 with the labelled box
    return {f: [Detection(*shifted, score, 0, class_name)] for f in range(frames)}


def test_each_miss_gets_the_stage_that_lost_it(tmp_path) -> None:
    from serve.store import CaseFilter, CaseStore

    weak = _object("1", "overflowing_bin")  # seen, but below the class's score in every frame
    merged = _object("2", "exposed_soil")  # seen well; a soil case 12 m away took it
    unseen = _object("3", "out_of_store_vending")  # no vending detection ever covers it
    parked = _object("4", "illegal_parking", class_name="vehicle")  # seen as `vehicle`: that counts
    second = {f: _seen("exposed_soil", 0.9)[f] + _seen("vehicle", 0.8)[f] for f in range(10)}
    passes = [([weak, merged, unseen, parked], _seen("overflowing_bin", 0.3)), ([merged, parked], second)]
    store = CaseStore.open(f"sqlite:///{tmp_path / 'cases.db'}", tmp_path / "evidence")
    store.cases.ingest_event(make_event("soil", north_m=12, class_name="exposed_soil"))
    store.cases.ingest_event(make_event("car", east_m=950, class_name="illegal_parking"))
    cases = store.cases.list_cases(CaseFilter()).items
    store.close()

    out = explain_misses(
        [weak, merged, unseen, parked], passes, cases, 10, merging=CaseMerging(), rule_for=RULES
    )

    verdicts = {e["id"]: e["verdict"] for e in out}
    assert verdicts == {
        "1": "rarely detected",
        "2": "case at 12 m",
        "3": "rarely detected",
        "4": "detected, no case near",  # the only parking case is ~950 m away
    }
    first = out[0]["passes"][0]
    assert (first["frames_detected"], first["frames_at_min_score"], first["best_score"]) == (10, 0, 0.3)
    assert out[3]["passes"][1]["frames_at_min_score"] == 10
    assert verdict_counts(out) == {"rarely detected": 2, "case nearby": 1, "detected, no case near": 1}


def test_without_detections_only_the_nearest_case_is_known() -> None:
    obj = _object("7", "exposed_garbage")
    out = explain_misses([obj], [([obj], None)], [], match_m=10, merging=CaseMerging(), rule_for=RULES)
    assert out[0]["verdict"] == "unknown (no detections cache)" and out[0]["nearest_case_m"] is None


def test_cached_detections_are_read_up_to_a_cut_off_line(tmp_path) -> None:
    path = tmp_path / "pass.jsonl"
    det = {"box": [1, 2, 30, 40], "score": 0.7, "class_id": 3, "class_name": "overflowing_bin"}
    lines = [json.dumps({"header": {"source": "x"}}), json.dumps({"frame": 0, "dets": [det]})]
    path.write_text("\n".join([*lines, json.dumps({"frame": 2, "dets": []}), '{"frame": 4, "de']))
    frames = read_detections_cache(path)
    assert sorted(frames) == [0, 2] and frames[0][0].class_name == "overflowing_bin"
