"""End to end: a rendered drive-by through tracker, geolocation, rules and a real SQLite case store.

The stages after the detector are exercised with the clip's ground-truth boxes replayed as
detections (`GroundTruthDetector`), so the expected cases are known exactly; the `streetwatch process`
command itself runs a real ONNX model through onnxruntime.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from drive_scene import DEFAULT_OBJECTS, render_pass, write_zones
from typer.testing import CliRunner

from detector.pipeline import LivePipeline, process_video
from detector.taxonomy import default_taxonomy
from detector.types import FrameMeta
from streetwatch.bench.cases import GroundTruthDetector, expected_cases, load_ground_truth, match_cases


@pytest.fixture(autouse=True)
def _boxes_are_not_street_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    """This scene's objects are coloured boxes: the crop verifier (rightly) calls them background. These
    tests are about tracking, rules, merging and re-runs, so they run without it; tests/test_verifier.py
    runs it on a street rendered as the model's training frames are."""
    monkeypatch.setenv("STREETWATCH_VERIFIER", "none")


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("drive")
    t0 = 1_795_000_000.0  # GPS tracks with absolute times, the second pass 10 minutes later
    render_pass(root / "pass_00", start_s=0.0, speed=10.0, time_offset=t0)
    render_pass(root / "pass_01", start_s=-5.0, speed=9.0, time_offset=t0 + 600)
    # a day later the bin has been emptied: only the stall and the car are still there
    kept = tuple(o for o in DEFAULT_OBJECTS if o.id != "bin-1")
    render_pass(root / "pass_02", start_s=-2.0, speed=10.0, time_offset=t0 + 86400, objects=kept)
    write_zones(root / "zones")
    return root


def _open_store(folder: Path):
    from serve.store import CaseStore

    return CaseStore.open(f"sqlite:///{folder / 'cases.db'}", str(folder / "evidence"))


def _all_cases(store):
    from serve.store import CaseFilter

    return store.cases.list_cases(CaseFilter(), limit=500).items


def _process(store, scene: Path, name: str, vehicle: str, **kw):
    pdir = scene / name
    truth = load_ground_truth(pdir / "ground_truth.json")
    detector = kw.pop("detector", None) or GroundTruthDetector(truth, default_taxonomy().names)
    return process_video(
        pdir / "clip.mp4",
        pdir / "track.csv",
        store,
        detector,
        vehicle_id=vehicle,
        camera=pdir / "camera.yaml",
        zones=scene / "zones",
        **kw,
    )


def test_two_passes_give_one_case_per_violation_and_rerun_adds_nothing(scene: Path, tmp_path: Path) -> None:
    store = _open_store(tmp_path)
    try:
        s1 = _process(store, scene, "pass_00", "v1")
        # the 10 fps scene at the default 10 fps sample rate: every frame
        assert s1.frames == 40 and s1.fps == 10 and s1.new_cases == 2  # stall + bin; the car needs a 2nd pass
        assert s1.rejected.get("seen for") == 1
        s2 = _process(store, scene, "pass_01", "v2")
        assert s2.new_cases == 1 and s2.merged_observations == 2  # car -> illegal_parking; others merge
        cases = _all_cases(store)
        expected, tolerated = expected_cases(
            [load_ground_truth(scene / p / "ground_truth.json") for p in ("pass_00", "pass_01")]
        )
        assert sorted(g.case_class for g in expected) == [
            "illegal_parking",
            "out_of_store_vending",
            "overflowing_bin",
        ]
        m = match_cases(cases, expected, 10.0, tolerated)
        assert (m["gt_found"], m["duplicate_cases"], m["false_cases"]) == (3, 0, 0)
        assert max(m["position_errors_m"]) < 5.0
        by_class = {c.class_name: c for c in cases}
        assert by_class["out_of_store_vending"].road_segment_id == "seg-west"
        assert by_class["overflowing_bin"].responsible_unit == "District B city management"
        assert by_class["illegal_parking"].layer_version == "test-1"
        assert by_class["overflowing_bin"].vehicle_ids == ["v1", "v2"]
        observations = {c.id: c.observation_count for c in cases}
        # running both passes again: same event keys, nothing new
        again1 = _process(store, scene, "pass_00", "v1")
        again2 = _process(store, scene, "pass_01", "v2")
        assert again1.new_cases == again2.new_cases == 0
        assert again1.merged_observations == again2.merged_observations == 0
        assert again1.already_stored + again2.already_stored == s1.events + s2.events
        after = _all_cases(store)
        assert {c.id: c.observation_count for c in after} == observations
        detail = store.cases.get_case_detail(by_class["overflowing_bin"].id)
        assert detail.evidence_key and detail.crop_key and len(detail.observations) == 2

        # the bin case is handled; the next pass no longer sees the bin -> verification from the patrol
        bin_id = by_class["overflowing_bin"].id
        for action in ("confirm", "dispatch", "handle"):
            store.cases.apply_action(bin_id, action, actor="inspector-1")
        s3 = _process(store, scene, "pass_02", "v3")
        assert s3.verifications == 1 and s3.new_cases == 0
        verified = store.cases.get_case_detail(bin_id)
        assert verified.status == "verified"
        assert [o.kind for o in verified.observations].count("verification") == 1
        assert _process(store, scene, "pass_02", "v3").verifications == 0  # already verified: nothing new
    finally:
        store.close()


class _Interrupt(Exception):
    pass


class _CountingOracle(GroundTruthDetector):
    frames_seen = 0

    def detect_frames(self, frames):
        self.frames_seen += len(frames)
        return super().detect_frames(frames)


def test_interrupted_run_resumes_from_the_detections_cache(scene: Path, tmp_path: Path) -> None:
    truth = load_ground_truth(scene / "pass_00" / "ground_truth.json")
    clean_store = _open_store(tmp_path / "clean")
    try:
        clean = _process(clean_store, scene, "pass_00", "v1")
        clean_cases = sorted(
            (c.class_name, round(c.lat, 7), round(c.lon, 7)) for c in _all_cases(clean_store)
        )
    finally:
        clean_store.close()

    cache = tmp_path / "run" / "detections.jsonl"
    store = _open_store(tmp_path / "run")
    try:

        def stop_after_8(done: int, total: int | None) -> None:
            if done == 8:
                raise _Interrupt

        first = _CountingOracle(truth, default_taxonomy().names)
        with pytest.raises(_Interrupt):
            _process(
                store, scene, "pass_00", "v1", detector=first, detections_cache=cache, progress=stop_after_8
            )
        assert cache.exists()
        second = _CountingOracle(truth, default_taxonomy().names)
        resumed = _process(store, scene, "pass_00", "v1", detector=second, detections_cache=cache)
        assert resumed.frames == 40
        assert second.frames_seen == resumed.inferred_frames == 40 - 8  # only the frames not cached
        cases = sorted((c.class_name, round(c.lat, 7), round(c.lon, 7)) for c in _all_cases(store))
        assert cases == clean_cases
        assert resumed.events == clean.events
    finally:
        store.close()


def _drive_live(
    store,
    scene: Path,
    detector,
    step: int,
    vehicles: tuple[tuple[str, float], ...] = (("car-a", 0.0),),
    swap_pairs: bool = False,
) -> list:
    """Send pass_00's frames live (every `step`-th of the 10 fps clip) from each of `vehicles` (id, clock
    lag in seconds), with `detector`'s detections; returns every ingest result, the final flush's too.
    swap_pairs: every second pair of frames arrives swapped (parallel uploads finishing out of order)."""
    import av

    from detector.geo import load_camera_mount
    from detector.gps import load_gps_track
    from detector.pipeline_config import load_pipeline_config
    from detector.types import Frame
    from detector.zones import load_zones

    pdir = scene / "pass_00"
    gps = load_gps_track(pdir / "track.csv")
    live = LivePipeline(
        store,
        detector,
        load_pipeline_config(),
        zones=load_zones(scene / "zones"),
        camera=load_camera_mount(pdir / "camera.yaml"),
        nominal_fps=5.0,
    )
    with av.open(str(pdir / "clip.mp4")) as container:
        images = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    order = list(range(0, len(images), step))
    if swap_pairs:
        order = [j for k in range(0, len(order), 2) for j in reversed(order[k : k + 2])]
    t0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    results = []
    for i in order:
        for vehicle, lag in vehicles:
            p = gps.at(i / 10)
            meta = FrameMeta(
                vehicle, f"{vehicle}-{i}", t0 + timedelta(seconds=i / 10 + lag), p.lat, p.lon, p.heading
            )
            dets = detector.detect_frames([Frame(images[i], i, i / 10, "live")])[0]
            results += live.process_detections(images[i], meta, dets)
    return results + live.flush()


def _oracle(scene: Path, score: float = 0.9) -> GroundTruthDetector:
    truth = load_ground_truth(scene / "pass_00" / "ground_truth.json")
    return GroundTruthDetector(truth, default_taxonomy().names, score=score)


@pytest.mark.parametrize("out_of_order", [False, True], ids=["in-order", "uploads-finish-out-of-order"])
def test_live_pipeline_keeps_per_vehicle_tracks(scene: Path, tmp_path: Path, out_of_order: bool) -> None:
    """Two vehicles' frames interleaved: each vehicle's tracks end on its own and open cases. Frames of
    a vehicle that arrive slightly out of order (parallel uploads) change nothing: no track is cut."""
    store = _open_store(tmp_path)
    try:
        two = (("car-a", 0.0), ("car-b", 0.05))
        results = _drive_live(store, scene, _oracle(scene), 2, two, swap_pairs=out_of_order)  # 5 fps
        created = [r for r in results if r.created]
        assert len(created) == 2  # stall and bin; the second vehicle's events merge into them
        assert sum(1 for r in results if r.observation_added and not r.created) == 2
        assert {v for c in _all_cases(store) for v in c.vehicle_ids} == {"car-a", "car-b"}
        assert len(results) == 4  # one event per object and vehicle: no track was cut
    finally:
        store.close()


@pytest.mark.parametrize(("step", "cases"), [(2, 2), (1, 0)], ids=["5-fps", "10-fps"])
def test_a_live_vehicle_is_held_to_the_rules_of_the_rate_it_sends(
    scene: Path, tmp_path: Path, step: int, cases: int
) -> None:
    """Objects seen at a median score of 0.48 open cases from a vehicle sending 5 frames/s (the class
    rules: 0.45), and none from one sending 10 (dense sampling: 0.5), as in footage sampled at those
    rates."""
    store = _open_store(tmp_path)
    try:
        results = _drive_live(store, scene, _oracle(scene, score=0.48), step)
        assert sum(1 for r in results if r.created) == cases
        assert len(_all_cases(store)) == cases
    finally:
        store.close()


def test_every_observation_of_a_track_is_placed(scene: Path) -> None:
    """The detection that started a track (handed back by the tracker one frame late) is placed too:
    a case's observations all carry a ground position."""
    import av

    from detector.geo import load_camera_mount
    from detector.gps import load_gps_track
    from detector.pipeline import EventAssembler
    from detector.pipeline_config import load_pipeline_config
    from detector.rules import RuleEngine
    from detector.types import Frame

    pdir = scene / "pass_00"
    truth = load_ground_truth(pdir / "ground_truth.json")
    oracle = GroundTruthDetector(truth, default_taxonomy().names)
    gps = load_gps_track(pdir / "track.csv")
    config, taxonomy = load_pipeline_config(), default_taxonomy()
    asm = EventAssembler(
        config,
        taxonomy,
        RuleEngine(config, taxonomy),
        load_camera_mount(pdir / "camera.yaml"),
        5.0,
        "car-a",
        key_for=lambda t: f"t{t.number}",
        source="test",
    )
    t0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    ended = []
    with av.open(str(pdir / "clip.mp4")) as container:
        images = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    for i in range(0, len(images), 2):
        p = gps.at(i / 10)
        meta = FrameMeta("car-a", str(i), t0 + timedelta(seconds=i / 10), p.lat, p.lon, p.heading)
        frame = Frame(images[i], i, i / 10, "test", meta)
        ended += asm.observe(frame, oracle.detect_frames([frame])[0])
    ended += asm.flush()
    assert ended and all(t.hits >= 2 for t in ended)
    unplaced = [(t.number, o.frame_index) for t in ended for o in t.observations if o.position is None]
    assert unplaced == []


# ------------------------------------------------------------------------------------ the command


def test_process_command_twice_and_bad_gps_writes_nothing(
    scene: Path, tmp_path: Path, coco_onnx_path: Path
) -> None:
    from streetwatch.cli import app

    runner = CliRunner()
    pdir = scene / "pass_00"
    db = tmp_path / "cases.db"
    args = [
        "process",
        str(pdir / "clip.mp4"),
        "--gps",
        str(pdir / "track.csv"),
        "--camera",
        str(pdir / "camera.yaml"),
        "--zones",
        str(scene / "zones"),
        "--db",
        f"sqlite:///{db}",
        "--evidence",
        str(tmp_path / "ev"),
        "--model",
        str(coco_onnx_path),
        "--vehicle",
        "v1",
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "40 frames at 10 fps" in first.output and "new cases:" in first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "new cases: 0" in second.output and "merged observations: 0" in second.output

    bad = tmp_path / "bad.csv"
    bad.write_text("time,lat,lon\n0,31.0,121.0\n1,north,121.0\n")
    other_db = tmp_path / "other.db"
    args_bad = [*args[:3], str(bad), *args[4:]]
    args_bad[args_bad.index(f"sqlite:///{db}")] = f"sqlite:///{other_db}"
    from detector.errors import InputError

    result = runner.invoke(app, args_bad)
    assert result.exit_code != 0
    assert isinstance(result.exception, InputError) and "bad.csv: line 3" in str(result.exception)
    assert not other_db.exists()  # nothing half-written


def test_case_matching_counts_clusters_duplicates_false_and_tolerated() -> None:
    """The acceptance metric itself: one expected case per same-class cluster within the merge distance."""
    from types import SimpleNamespace

    from detector.geo import offset_latlon
    from streetwatch.bench.cases import GroundTruthObject

    lat0, lon0 = 31.23, 121.47

    def at(east_m: float) -> tuple[float, float]:
        return offset_latlon(lat0, lon0, 90.0, east_m, 0.0)

    def gt(oid: str, cls: str, east: float, frames: int = 5, **kw) -> GroundTruthObject:
        lat, lon = at(east)
        violation = cls != "vehicle"
        return GroundTruthObject(
            oid,
            cls,
            violation,
            lat,
            lon,
            tuple(range(frames)),
            (),
            case_class=cls if violation else None,
            **kw,
        )

    pass1 = [
        gt("b1", "overflowing_bin", 0),
        gt("b2", "overflowing_bin", 1.0),
        gt("s1", "exposed_soil", 40),
        gt("car", "vehicle", 80, parked=True, no_parking_zone="z"),
        gt("tiny", "exposed_garbage", 120, 1),
    ]
    pass2 = [
        gt("car", "vehicle", 80, parked=True, no_parking_zone="z"),
        gt("car2", "vehicle", 160, parked=True, no_parking_zone="z"),
    ]
    expected, tolerated = expected_cases([pass1, pass2])
    assert [g.id for g in expected] == ["b1", "b2", "car", "s1"]
    assert {g.id for g in tolerated} == {"tiny", "car2"}

    def case(cls: str, east: float):
        lat, lon = at(east)
        return SimpleNamespace(class_name=cls, lat=lat, lon=lon)

    cases = [
        case("overflowing_bin", 0.3),
        case("illegal_parking", 81),
        case("exposed_soil", 60),
        case("exposed_garbage", 121),
        case("overflowing_bin", -1.5),  # a second case for bin b1: a duplicate
        case("overflowing_bin", 3),  # nearest to b2: two bins of one station may have a case each
    ]
    m = match_cases(cases, expected, 10.0, tolerated)
    assert (m["gt_clusters"], m["clusters_found"]) == (3, 2)  # the two bins are one cluster; soil 20 m off
    assert m["gt_found"] == 3 and m["missed"] == ["s1:exposed_soil"]
    assert m["duplicate_cases"] == 1 and m["duplicate_detail"][0].endswith("~b1")
    assert m["false_cases"] == 1 and m["tolerated_cases"] == 1  # soil 20 m off; the barely visible garbage


def test_case_benchmark_reports_how_sure_its_rates_are() -> None:
    """Wilson 95 % intervals: textbook values at the edges, and the width ~80 violations leave."""
    from streetwatch.bench.cases import wilson_interval

    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-4))
    assert wilson_interval(10, 10) == (pytest.approx(0.7225, abs=1e-4), 1.0)
    low, high = wilson_interval(65, 76)
    assert low == pytest.approx(0.759, abs=1e-3) and high == pytest.approx(0.917, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 1.0)  # nothing measured: nothing known


def test_detector_input_is_a_16_9_rectangle_at_the_model_scale(coco_onnx_path: Path) -> None:
    from detector.pipeline import build_detector, footage_detector
    from detector.pipeline_config import load_pipeline_config

    config = load_pipeline_config()
    assert footage_detector(build_detector(config, coco_onnx_path), config).imgsz == (384, 640)
    square = load_pipeline_config(overrides={"detector": {"imgsz": None}})
    assert footage_detector(build_detector(square, coco_onnx_path), square).imgsz == (640, 640)


def test_case_benchmark_reuses_its_detections_cache(tmp_path: Path, coco_onnx_path: Path) -> None:
    """`bench cases --detections-cache`: a second run with the same model answers from the cache
    (no inference) and reaches the same cases."""
    from streetwatch.bench.cases import run_case_benchmark

    def run() -> dict:
        return run_case_benchmark([7], 1, 2.0, coco_onnx_path, False, 5.0, tmp_path, detections_cache=True)

    first, report = run(), run()
    first, second = first["totals"], report["totals"]
    assert first["inferred_frames"] == 10 and second["inferred_frames"] == 0
    keep = ("gt_violations", "cases", "gt_found", "false_cases", "duplicate_cases")
    assert {k: second[k] for k in keep} == {k: first[k] for k in keep}
    assert list((tmp_path / "detections").glob("seed_7_pass_*.*.jsonl"))
    # every missed violation says, from the cached detections, which stage lost it (bench.miss_diagnosis)
    clear = report["per_seed"][0]["clearly_visible"]
    assert clear["missed"]  # a COCO model finds none of the city classes
    assert len(clear["missed_detail"]) == len(clear["missed"])
    assert all(e["passes"] and not e["verdict"].startswith("unknown") for e in clear["missed_detail"])
    assert sum(report["totals_clearly_visible"]["missed_by_verdict"].values()) == len(clear["missed"])


def test_streaming_a_pass_live_files_the_cases_its_recording_files(tmp_path: Path) -> None:
    """`bench cases --live`: the same passes sent frame by frame through the live service's path (with
    their GPS fixes as frame metadata) open the cases that processing them as footage opens."""
    from streetwatch.bench.cases import run_case_benchmark

    def run(live: bool) -> dict:
        return run_case_benchmark([7], 2, 3.0, None, True, 5.0, tmp_path, live=live)

    footage, live = run(False), run(True)
    keep = ("gt_violations", "cases", "gt_found", "false_cases", "duplicate_cases")
    assert footage["totals"]["gt_found"] > 0
    assert {k: live["totals"][k] for k in keep} == {k: footage["totals"][k] for k in keep}
    assert live["path"].startswith("live") and footage["path"].startswith("footage")
    assert (tmp_path / "report-oracle-live.json").is_file() and (tmp_path / "report-oracle.json").is_file()
    frames = [p["frames"] for s in live["per_seed"] for p in s["passes"]]
    assert frames == [p["frames"] for s in footage["per_seed"] for p in s["passes"]] and min(frames) > 0


@pytest.mark.parametrize(
    ("seeds", "message"),
    [("abc", "'abc' is not a seed"), ("105-101", "runs backwards"), (" , ", "no seeds")],
)
def test_bench_cases_names_a_bad_seed_list(seeds: str, message: str) -> None:
    """`bench cases --seeds` with something that is not a seed list: one line naming it, exit 2."""
    import subprocess
    import sys

    code = "from streetwatch.cli import main; main()"
    args = [sys.executable, "-c", code, "bench", "cases", "--seeds", seeds]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_seed_lists_take_ranges_and_single_seeds() -> None:
    from streetwatch.bench.cases import parse_seeds

    assert parse_seeds("101-103, 110") == [101, 102, 103, 110]


def test_a_recording_processed_with_other_settings_is_refused_unless_reprocessed(
    scene: Path, tmp_path: Path
) -> None:
    """The same video at another sampling rate may file its objects a second time (tracks that start on
    other frames get other event keys): it is refused with the reason and nothing is written;
    `reprocess` runs it anyway. The same settings again stay a harmless re-run."""
    from detector.errors import InputError

    store = _open_store(tmp_path)
    try:
        first = _process(store, scene, "pass_00", "v1")
        counts = {c.id: c.observation_count for c in _all_cases(store)}
        assert first.new_cases == 2 and _process(store, scene, "pass_00", "v1").already_stored == 2
        with pytest.raises(InputError, match=r"sample_fps 10\.0 then, 5\.0 now.*--reprocess") as refused:
            _process(store, scene, "pass_00", "v1", fps=5)
        assert "clip.mp4" in str(refused.value)
        assert {c.id: c.observation_count for c in _all_cases(store)} == counts  # nothing written
        again = _process(store, scene, "pass_00", "v1", fps=5, reprocess=True)
        assert again.frames == 20 and again.events == 2 and again.new_cases == 0  # the same two cases
        assert _process(store, scene, "pass_00", "v1", fps=5).already_stored == 2  # now recorded at 5 fps
        # other rules decide which tracks become events, not their keys: a re-run under them is welcome
        from detector.pipeline_config import load_pipeline_config

        stricter = load_pipeline_config(overrides={"default_rule": {"min_hits": 4}})
        assert _process(store, scene, "pass_00", "v1", fps=5, config=stricter).new_cases == 0
        longer = load_pipeline_config(overrides={"tracker": {"lost_track_seconds": 2.0}})
        with pytest.raises(InputError, match=r"tracker\.lost_track_seconds 1\.2 then, 2\.0 now"):
            _process(store, scene, "pass_00", "v1", fps=5, config=longer)
    finally:
        store.close()


def test_live_jpeg_replay_detects_on_the_pixels_the_service_decodes(
    tmp_path: Path, coco_onnx_path: Path
) -> None:
    """`bench cases --live-jpeg 85`: every frame is JPEG-encoded and decoded as the service decodes an
    upload (half size for this model), so the model runs on those pixels: its own detections cache."""
    from detector.errors import InputError
    from streetwatch.bench.cases import run_case_benchmark

    report = run_case_benchmark(
        [7], 1, 2.0, coco_onnx_path, False, 5.0, tmp_path, detections_cache=True, live_jpeg=85
    )
    assert report["path"].endswith("JPEG q85") and (tmp_path / "report-live-jpeg85.json").is_file()
    assert report["totals"]["inferred_frames"] == 10  # not the footage path's cache
    footage = run_case_benchmark([7], 1, 2.0, coco_onnx_path, False, 5.0, tmp_path, detections_cache=True)
    assert (
        footage["totals"]["inferred_frames"] == 10
        and len(list((tmp_path / "detections").glob("*.jsonl"))) == 2
    )
    with pytest.raises(InputError, match="--oracle"):
        run_case_benchmark([7], 1, 2.0, None, True, 5.0, tmp_path, live_jpeg=85)
    with pytest.raises(InputError, match="quality"):
        run_case_benchmark([7], 1, 2.0, coco_onnx_path, False, 5.0, tmp_path, live_jpeg=0)
