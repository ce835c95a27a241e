"""`streetwatch process` over several videos: in-process, and on a local Ray instance (same cases).

Footage: short clips panned over Ultralytics' bus.jpg (the COCO export finds the bus and the people
in every frame) at three places of a street; the first place is passed twice (the second pass joins
the first pass's cases, so the order between those two videos matters). The model is the real
COCO export through onnxruntime, the store a real SQLite file, the videos real H.264 decoded by PyAV.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from api_support import LAT0, LON0, bus_image, pan_frames, write_clip
from typer.testing import CliRunner

PLACES = {"a_first": 0.0, "b_far": 400.0, "c_farther": 900.0, "d_first_again": 0.0}  # metres east
T0 = 1_795_000_000.0
# The bus is treated like a parked car: it needs a second pass at the same place to become a case,
# so the result depends on processing the first pass before the second (as in-process does).
BUS_RULE = {"min_stationary_seconds": 120, "repeat_pass_counts": True, "same_place_radius_m": 15,
            "stationary_max_spread_m": 30}  # fmt: skip


def _write_track(folder: Path, east0_m: float, frames: int, start: float, fps: int = 5) -> None:
    """A vehicle driving east at 2 m/s from east0_m, with absolute times from `start` (Unix s)."""
    rows = ["time,lat,lon,heading"]
    for k in range(frames + fps):
        east = east0_m + 2.0 * k / fps
        rows.append(f"{start + k / fps:.3f},{LAT0:.8f},{LON0 + east / 95_000:.8f},90")
    (folder / "track.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, service_taxonomy: Path) -> tuple[Path, Path]:
    """(folder of 4 clips, each with its track.csv; pipeline config for the COCO model)."""
    image = bus_image()
    if image is None:
        pytest.skip("ultralytics' bus.jpg not installed (training extra)")
    root = tmp_path_factory.mktemp("archive")
    for i, (name, east) in enumerate(PLACES.items()):
        frames = pan_frames(image, 12 + i, (320, 240))  # different lengths: different files, event keys
        write_clip(root / "footage" / name, frames)
        _write_track(root / "footage" / name, east, len(frames), T0 + 600 * i)  # passes 10 min apart
    config = root / "streetwatch.yaml"  # the data path's settings under `pipeline:`, as every command reads
    config.write_text(
        yaml.safe_dump(
            {
                "pipeline": {
                    "taxonomy": str(service_taxonomy),
                    "detector": {"imgsz": [256, 320], "threads": 1, "batch": 4},
                    "classes": {"bus": BUS_RULE},
                }
            }
        ),
        encoding="utf-8",
    )
    return root / "footage", config


def _process(args: list[str]) -> str:
    from streetwatch.cli import app

    result = CliRunner().invoke(app, ["process", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _signature(db: Path | str, evidence: Path | None = None) -> list[tuple]:
    """The cases as a comparable value: class, place, observations (event keys), vehicles, status."""
    from serve.store import CaseFilter, CaseStore

    url = db if isinstance(db, str) else f"sqlite:///{db}"
    store = CaseStore.open(url, str(evidence or Path(db).parent / "evidence"))
    try:
        rows = []
        for case in store.cases.list_cases(CaseFilter(), limit=500).items:
            detail = store.cases.get_case_detail(case.id)
            rows.append(
                (
                    case.class_name,
                    case.matter_code,
                    round(case.lat, 6),
                    round(case.lon, 6),
                    case.status.value,
                    tuple(sorted(o.event_key for o in detail.observations)),
                )
            )
        return sorted(rows)
    finally:
        store.close()


def _run_args(archive: tuple[Path, Path], coco_onnx_path: Path, out: Path, *more: str) -> list[str]:
    folder, config = archive
    return [str(folder), "--db", f"sqlite:///{out / 'cases.db'}", "--evidence", str(out / "evidence"),
            "--model", str(coco_onnx_path), "--config", str(config), "--json", *more]  # fmt: skip


@pytest.fixture(scope="module")
def inprocess_run(archive, coco_onnx_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("inprocess")
    _process(_run_args(archive, coco_onnx_path, out))
    return out / "cases.db"


def test_folder_in_process_opens_cases_and_rerun_adds_nothing(
    inprocess_run: Path, archive, coco_onnx_path: Path
) -> None:
    import json

    cases = _signature(inprocess_run)
    assert cases, "the bus clips must produce cases"
    places = {round(c[3], 3) for c in cases}
    assert len(places) == 3  # three places; the fourth video passes the first place again
    repeated = [c for c in cases if len({key.split(":")[0] for key in c[5]}) >= 2]  # keys: <source>:...
    assert repeated, "the second pass over the first place joins its cases"
    from detector.events import source_id_for_file

    second_pass = source_id_for_file(archive[0] / "d_first_again" / "clip.mp4")
    buses = [c for c in cases if c[0] == "bus"]
    assert len(buses) == 1 and abs(buses[0][3] - LON0) < 50 / 95_000  # only where it was passed twice
    assert {key.split(":")[0] for key in buses[0][5]} == {second_pass}
    out = _process(_run_args(archive, coco_onnx_path, inprocess_run.parent))
    report = json.loads(out[out.index("{") :])
    assert report["videos"] == 4 and report["new_cases"] == 0 and report["merged_observations"] == 0
    assert report["already_stored"] == report["events"] > 0
    assert _signature(inprocess_run) == cases


def test_videos_are_processed_in_recording_order_whatever_the_order_given(
    inprocess_run: Path, archive, coco_onnx_path: Path, tmp_path: Path
) -> None:
    """The second pass named first on the command line is still judged as the later pass."""
    folder, config = archive
    videos = [str(folder / name / "clip.mp4") for name in reversed(PLACES)]
    args = _run_args(archive, coco_onnx_path, tmp_path)
    _process([*videos, *args[1:]])
    assert _signature(tmp_path / "cases.db") == _signature(inprocess_run)


def test_bad_inputs_are_refused_before_anything_is_written(archive, tmp_path: Path) -> None:
    from detector.errors import InputError
    from serve.engines.common import build_jobs

    folder, _ = archive
    with pytest.raises(InputError, match="--gps given 1 time"):
        build_jobs([folder], [folder / "a_first" / "track.csv"])
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "clip.mp4").write_bytes((folder / "a_first" / "clip.mp4").read_bytes())
    with pytest.raises(InputError, match="no GPS track for"):
        build_jobs([lone])
    jobs = build_jobs([folder])
    assert [j.video.parent.name for j in jobs] == list(PLACES)
    assert all(j.gps.name == "track.csv" for j in jobs)


def test_routes_that_meet_keep_their_order() -> None:
    from serve.engines.common import CheckedJob, VideoJob, route_dependencies

    def at(east_m: float) -> CheckedJob:
        lon = LON0 + east_m / 95_000
        return CheckedJob(VideoJob(Path("v"), Path("g")), None, (LAT0, lon, LAT0, lon + 20 / 95_000))

    deps = route_dependencies([at(0), at(400), at(900), at(10), at(450)])
    assert deps == [[], [], [], [0], [1]]


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray instance (2 CPUs) for the whole test session; shut down at the end."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.ray
def test_ray_engine_leaves_the_same_cases_as_in_process(
    local_ray, inprocess_run: Path, archive, coco_onnx_path: Path, tmp_path: Path
) -> None:
    import json

    out = _process(_run_args(archive, coco_onnx_path, tmp_path, "--engine", "ray", "--workers", "2"))
    report = json.loads(out[out.index("{") :])
    assert report["engine"] == "ray" and report["workers"] == 2 and report["videos"] == 4
    assert _signature(tmp_path / "cases.db") == _signature(inprocess_run)
    # the actors run the same model as an in-process run: a store filled in-process takes the Ray run
    # as a re-run (not as a run with another detector, which it would refuse) and gains nothing
    mixed = tmp_path / "mixed"
    _process(_run_args(archive, coco_onnx_path, mixed))
    again = _process(_run_args(archive, coco_onnx_path, mixed, "--engine", "ray", "--workers", "1"))
    rerun = json.loads(again[again.index("{") :])
    assert rerun["new_cases"] == rerun["merged_observations"] == 0 and rerun["already_stored"] > 0, rerun
    # more workers than the instance has CPUs is refused with a clear message, nothing written
    from streetwatch.cli import app

    refused = CliRunner().invoke(app, ["process", *_run_args(archive, coco_onnx_path, tmp_path / "x"),
                                       "--engine", "ray", "--workers", "3"])  # fmt: skip
    assert refused.exit_code != 0 and "needs 3 CPUs" in str(refused.exception)
    assert not (tmp_path / "x" / "cases.db").exists()


@pytest.mark.ray
@pytest.mark.postgres
def test_ray_engine_writes_to_postgresql_like_a_cluster(
    local_ray, inprocess_run: Path, archive, coco_onnx_path: Path, postgres_url: str, tmp_path: Path
) -> None:
    """The store of record of a cluster: Ray's assembly tasks write concurrently to PostgreSQL.

    Here every video takes the two-stage path (decode + detect on the actors first, then decode again
    and assemble), the path videos whose routes meet take when they run at the same time."""
    from serve.engines.common import ProcessPlan, build_jobs
    from serve.engines.ray_engine import RayEngine
    from serve.settings import load_settings

    folder, config = archive
    plan = ProcessPlan(
        jobs=build_jobs([folder]),
        db_url=postgres_url,
        evidence=str(tmp_path / "evidence"),
        model=coco_onnx_path,
        pipeline=load_settings(config).pipeline,
    )
    result = RayEngine(workers=2, one_pass=False).run(plan)
    assert [v["path"] for v in result.videos] == ["two-stage"] * 4
    assert _signature(postgres_url, tmp_path / "evidence") == _signature(inprocess_run)


def test_long_routes_depend_only_where_their_streets_meet() -> None:
    from serve.engines.common import CheckedJob, VideoJob, route_cells, route_dependencies

    def route(points_m: list[tuple[float, float]]) -> CheckedJob:
        pts = [(LAT0 + n / 111_320, LON0 + e / 95_000) for e, n in points_m]
        lats, lons = [p[0] for p in pts], [p[1] for p in pts]
        bbox = (min(lats), min(lons), max(lats), max(lons))
        return CheckedJob(VideoJob(Path("v"), Path("g")), None, bbox, route_cells(pts))

    ell = route([(0, 0), (2000, 0), (2000, 2000)])  # east 2 km, then north 2 km (sparse fixes)
    inside_box_far_from_streets = route([(500, 1500), (520, 1500)])
    near_the_north_leg = route([(1900, 1000), (1920, 1000)])
    assert route_dependencies([ell, inside_box_far_from_streets, near_the_north_leg]) == [[], [], [0]]


def test_process_and_serve_share_the_store_under_the_data_dir_variable(
    archive, coco_onnx_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With only STREETWATCH_DATA_DIR set, `streetwatch process` files its cases where `streetwatch serve`
    reads them: the inspectors' queue lists what the footage found."""
    import json

    from fastapi.testclient import TestClient

    from serve.api import create_app
    from serve.api.bootstrap import read_credentials
    from serve.settings import load_settings

    folder, config = archive
    data_dir = tmp_path / "city-data"
    monkeypatch.setenv("STREETWATCH_DATA_DIR", str(data_dir))
    monkeypatch.chdir(tmp_path)  # no ./data here: only the variable can put the store in data_dir
    video = folder / "a_first"
    out = _process([str(video / "clip.mp4"), "--gps", str(video / "track.csv"), "--model",
                    str(coco_onnx_path), "--config", str(config), "--json"])  # fmt: skip
    summary = json.loads(out[out.index("{") :])
    assert summary["new_cases"] > 0
    assert (data_dir / "streetwatch.db").is_file() and not (tmp_path / "data").exists()

    settings = load_settings(config, model_path=coco_onnx_path, job_workers=0)
    with TestClient(create_app(settings)) as client:
        key = read_credentials(settings.credentials_file)["admin_api_key"]
        listed = client.get("/v1/cases", headers={"Authorization": f"Bearer {key}"}).json()
    assert len(listed["items"]) == summary["new_cases"]
