"""Measured acceptance of the path frames → cases, on synthetic drive-by clips with ground truth.

`run_case_benchmark`: for each seed, render K passes of the same street (`streetwatch synth`),
process every pass into one fresh case store (so passes merge), then match cases to the ground-truth
violations by class and position (< `match_m`):
- recall: ground-truth violations with at least one matching case / all ground-truth violations;
- duplicate cases: cases that match a ground-truth object another case already matched / all cases;
- false cases: cases matching no ground-truth violation / all cases.

`GroundTruthDetector` replays the ground-truth boxes as detections. It exists ONLY as a diagnostic of
the stages after the detector (tracker, geolocation, rules, merging); figures measured with it are
labelled `oracle` and say nothing about the model.

`run_speed_benchmark`: the whole path on a 720p clip sampled at 5 fps, against real time.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.errors import InputError
from detector.geo import distance_m
from detector.types import Detection, Frame
from streetwatch.bench.miss_diagnosis import explain_misses, verdict_counts

REPO_ROOT = Path(__file__).resolve().parent.parent
# "Clearly visible" violations: in view for about a second (10 labelled frames of a 10 fps clip) with a
# box of at least 24 px on its short side at some point. The strict count (>= 3 labelled frames) is
# reported next to it.
CLEAR_MIN_FRAMES = 10
CLEAR_MIN_BOX_PX = 24.0


def parse_seeds(text: str) -> list[int]:
    """ "101-105" or "101,103,110" -> list of ints; InputError naming the part that is not one."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        first, _, last = part.partition("-")
        try:
            low = int(first)
            high = int(last) if last else low
        except ValueError:
            raise InputError(f"--seeds: {part!r} is not a seed or a range like 101-105") from None
        if high < low:
            raise InputError(f"--seeds: the range {part!r} runs backwards")
        seeds.extend(range(low, high + 1))
    if not seeds:
        raise InputError(f"--seeds: no seeds in {text!r}")
    return seeds


# ------------------------------------------------------------------------------------ ground truth


@dataclass(frozen=True)
class GroundTruthObject:
    id: str
    class_name: str  # as the ground truth names it
    violation: bool  # the class itself is a violation (taxonomy)
    lat: float
    lon: float
    frames: tuple[int, ...]
    boxes: tuple[tuple[float, float, float, float], ...]
    parked: bool = False
    no_parking_zone: str | None = None
    case_class: str | None = None  # the class a case for it is filed under (None: no case expected)


def _boxes_of(obj: dict) -> tuple[tuple[int, ...], tuple[tuple[float, float, float, float], ...]]:
    """Frames and boxes: `boxes` as a list aligned with `frames`, or a {frame: box} mapping."""
    raw = obj.get("boxes", [])
    if isinstance(raw, dict):
        items = sorted((int(k), tuple(float(v) for v in b)) for k, b in raw.items())
        return tuple(f for f, _ in items), tuple(b for _, b in items)  # type: ignore[misc]
    frames = tuple(int(f) for f in obj.get("frames", []))
    return frames, tuple(tuple(float(v) for v in b) for b in raw)  # type: ignore[misc]


def load_ground_truth(path: str | Path) -> list[GroundTruthObject]:
    """Objects of one pass. `case_class` here only covers classes that are violations by themselves;
    parked vehicles in no-parking zones depend on other passes (see `expected_case_classes`)."""
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read ground truth ({exc.__class__.__name__})", file) from exc
    objects = data.get("objects", data) if isinstance(data, dict) else data
    out = []
    for obj in objects:
        frames, boxes = _boxes_of(obj)
        violation = bool(obj.get("violation"))
        name = str(obj["class_name"])
        out.append(
            GroundTruthObject(
                id=str(obj["id"]),
                class_name=name,
                violation=violation,
                lat=float(obj["lat"]),
                lon=float(obj["lon"]),
                frames=frames,
                boxes=boxes,
                parked=bool(obj.get("parked", False)),
                no_parking_zone=obj.get("no_parking_zone"),
                case_class=name if violation and name != "vehicle" else None,
            )
        )
    return out


def _largest_side(g: GroundTruthObject) -> float:
    """The largest min(width, height) over the object's boxes (0 without boxes)."""
    return max((min(b[2] - b[0], b[3] - b[1]) for b in g.boxes), default=0.0)


def expected_cases(
    passes: Sequence[Sequence[GroundTruthObject]], min_frames: int = 3, min_box_px: float = 0.0
) -> tuple[list[GroundTruthObject], list[GroundTruthObject]]:
    """(expected, tolerated): the ground-truth violations a perfect system files one case each for.

    Expected:
    - an object of a violation class, labelled in at least `min_frames` frames of some pass;
    - a vehicle parked in a no-parking zone, labelled (>= min_frames) on at least two passes: one
      drive-by cannot tell parked from stopped, so the parking rule needs a later pass.
    Tolerated (a case for them is neither required nor false): violations labelled in fewer frames
    (barely visible), and vehicles parked in a no-parking zone seen on one pass only.
    `min_box_px`: on a visible pass the object's largest box must also be at least this wide and high.
    """
    seen: dict[str, list[GroundTruthObject]] = {}
    for objs in passes:
        for g in objs:
            seen.setdefault(g.id, []).append(g)
    expected, tolerated = [], []
    for versions in seen.values():
        g = versions[0]
        visible = [v for v in versions if len(v.frames) >= min_frames and _largest_side(v) >= min_box_px]
        if g.case_class:
            (expected if visible else tolerated).append(g)
        elif g.class_name == "vehicle" and g.parked and g.no_parking_zone:
            parking = GroundTruthObject(**{**g.__dict__, "case_class": "illegal_parking"})
            (expected if len(visible) >= 2 else tolerated).append(parking)
    return sorted(expected, key=lambda g: g.id), sorted(tolerated, key=lambda g: g.id)


class GroundTruthDetector:
    """DIAGNOSTIC ONLY: replays ground-truth boxes as detections (score fixed), keyed by frame index."""

    def __init__(
        self,
        objects: Sequence[GroundTruthObject],
        class_names: Sequence[str],
        score: float = 0.9,
        min_box_px: float = 6.0,
    ) -> None:
        self.names = list(class_names)
        self.identity = f"oracle-{len(objects)}"
        self._by_frame: dict[int, list[Detection]] = {}
        ids = {n: i for i, n in enumerate(self.names)}
        for obj in objects:
            if obj.class_name not in ids:
                continue
            for f, box in zip(obj.frames, obj.boxes, strict=False):
                x1, y1, x2, y2 = box
                if x2 - x1 < min_box_px or y2 - y1 < min_box_px:
                    continue
                det = Detection(x1, y1, x2, y2, score, ids[obj.class_name], obj.class_name)
                self._by_frame.setdefault(int(f), []).append(det)

    def detect_frames(self, frames: Sequence[Frame]) -> list[list[Detection]]:
        return [list(self._by_frame.get(f.index, [])) for f in frames]

    def detect_batch(self, images):  # pragma: no cover - the oracle needs frame indices
        raise TypeError("GroundTruthDetector needs frames (detect_frames), not bare images")


# --------------------------------------------------------------------------------------- matching


def _clusters(objs: Sequence[GroundTruthObject], merge_m: float) -> list[int]:
    """Cluster label per object: same case class, chained within merge_m (single linkage)."""
    label = list(range(len(objs)))

    def find(i: int) -> int:
        while label[i] != i:
            label[i] = label[label[i]]
            i = label[i]
        return i

    for i, a in enumerate(objs):
        for j in range(i + 1, len(objs)):
            b = objs[j]
            if a.case_class == b.case_class and distance_m(a.lat, a.lon, b.lat, b.lon) <= merge_m:
                label[find(i)] = find(j)
    return [find(i) for i in range(len(objs))]


def match_cases(
    cases: Sequence[Any],
    expected: Sequence[GroundTruthObject],
    match_m: float = 10.0,
    tolerated: Sequence[GroundTruthObject] = (),
    merge_m: float = 15.0,
) -> dict[str, Any]:
    """Score cases against the expected violations (same class, position within match_m).

    The case model merges same-class detections within `merge_m` into one case, so violations of
    one class standing within `merge_m` of each other (three overflowing bins of one garbage
    station) may share one case: chained within `merge_m` they form a "cluster".
    - recall: expected violations with a case of their class within match_m;
    - cluster recall: clusters with at least one such case;
    - duplicate cases: cases beyond the first whose nearest expected violation is the same object
      (one violation, two cases); several violations sharing one case is the merge rule, not a duplicate;
    - false cases: cases with no expected or tolerated violation of their class within match_m.
    """
    expected = [g for g in expected if g.case_class]
    cluster = _clusters(expected, merge_m)
    found = [False] * len(expected)
    cases_per_cluster: dict[int, int] = {}
    cases_per_object: dict[int, int] = {}
    false_cases, tolerated_cases, errors, duplicates = [], 0, [], []
    for case in cases:
        best = None
        for gi, g in enumerate(expected):
            if case.class_name != g.case_class:
                continue
            d = distance_m(case.lat, case.lon, g.lat, g.lon)
            if d < match_m:
                found[gi] = True
                if best is None or d < best[0]:
                    best = (d, gi)
        if best is not None:
            errors.append(best[0])
            c = cluster[best[1]]
            cases_per_cluster[c] = cases_per_cluster.get(c, 0) + 1
            cases_per_object[best[1]] = cases_per_object.get(best[1], 0) + 1
            if cases_per_object[best[1]] > 1:
                duplicates.append(f"{case.class_name}@{case.lat:.6f},{case.lon:.6f}~{expected[best[1]].id}")
            continue
        near_tolerated = any(
            case.class_name == g.case_class and distance_m(case.lat, case.lon, g.lat, g.lon) < match_m
            for g in tolerated
        )
        if near_tolerated:
            tolerated_cases += 1
        else:
            false_cases.append(case)
    return {
        "gt_violations": len(expected),
        "gt_clusters": len(set(cluster)),
        "cases": len(cases),
        "gt_found": sum(found),
        "clusters_found": len(cases_per_cluster),
        "duplicate_cases": sum(n - 1 for n in cases_per_object.values()),
        "false_cases": len(false_cases),
        "tolerated_cases": tolerated_cases,
        "missed": sorted(f"{g.id}:{g.case_class}" for gi, g in enumerate(expected) if not found[gi]),
        "duplicate_detail": sorted(duplicates),
        "false_case_detail": sorted(f"{c.class_name}@{c.lat:.6f},{c.lon:.6f}" for c in false_cases),
        "position_errors_m": sorted(round(e, 2) for e in errors),
    }


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion: what ~80 violations can tell about a recall.

    Written out (five lines) rather than adding scipy/statsmodels to the runtime for one formula;
    unlike the normal approximation it stays inside [0, 1] at 0 or n successes."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)


def _ratios(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "recall": round(m["gt_found"] / m["gt_violations"], 4) if m["gt_violations"] else 1.0,
        "recall_ci95": wilson_interval(m["gt_found"], m["gt_violations"]),
        "cluster_recall": round(m["clusters_found"] / m["gt_clusters"], 4) if m["gt_clusters"] else 1.0,
        "duplicate_rate": round(m["duplicate_cases"] / m["cases"], 4) if m["cases"] else 0.0,
        "false_rate": round(m["false_cases"] / m["cases"], 4) if m["cases"] else 0.0,
        "false_rate_ci95": wilson_interval(m["false_cases"], m["cases"]),
    }


# ------------------------------------------------------------------------------------------ synth


def _streetwatch_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("streetwatch")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "streetwatch"]


def ensure_synth_clips(out: Path, seed: int, passes: int, seconds: float) -> list[Path]:
    """Render (once) the passes of one seed with `streetwatch synth`; returns the pass folders."""
    done = out / "done.json"
    if not done.exists():
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            *_streetwatch_cmd(),
            "synth",
            "--out",
            str(out),
            "--clip",
            str(seconds),
            "--seed",
            str(seed),
            "--passes",
            str(passes),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ})
        if proc.returncode != 0:
            raise InputError(f"synth failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}", out)
        done.write_text(json.dumps({"seed": seed, "passes": passes, "seconds": seconds}))
    dirs = sorted(p for p in out.glob("pass_*") if p.is_dir())
    if not dirs:
        raise InputError("synth wrote no pass_* folders", out)
    return dirs


def _gps_file(pass_dir: Path) -> Path:
    for name in ("track.csv", "track.gpx", "track.nmea", "track.json"):
        if (pass_dir / name).exists():
            return pass_dir / name
    raise InputError("no track.csv/gpx/nmea/json", pass_dir)


def replay_live(
    video: Path,
    gps_file: Path,
    store: Any,
    detector: Any,
    config: Any,
    vehicle_id: str,
    camera: Path,
    zones: Path | None,
    fps: float,
    detections_cache: Path | None = None,
    jpeg_quality: int | None = None,
) -> Any:
    """One pass sent as a patrol vehicle streams it: every sampled frame, with its GPS fix as the frame's
    metadata, through `LivePipeline.process_detections` (what POST /v1/frames and the vehicle WebSocket
    run after the model), instead of `process_video`. Without `jpeg_quality` the detections come from
    the same detector and the same cache as the footage path's, so the two paths are compared on
    identical detections. With it each frame is sent as the vehicle sends it: a JPEG of that quality,
    decoded as the service decodes it (`serve.api.limits.decode_image`: half size when the model
    needs no more) and detected on those pixels."""
    from detector.events import source_id_for_file
    from detector.pipeline import DetectionsCache, LivePipeline, ProcessSummary, prepare_inputs
    from detector.pipeline.batch import detect_frames, frame_meta, sampled_rate, video_start_time
    from detector.pipeline.cache import detections_cache_header
    from detector.sources import VideoFileSource

    started = time.perf_counter()
    source = VideoFileSource(video, fps=fps)
    try:
        prepared = prepare_inputs(gps_file, config, camera, zones, fps_hint=source.native_fps)
        source_id = source_id_for_file(video)
        live = LivePipeline(store, detector, prepared.config, zones=prepared.zones, camera=prepared.camera)
        header = detections_cache_header(source_id, detector, fps)
        cache = DetectionsCache(detections_cache, header) if detections_cache is not None else None
        start_time = video_start_time(source) if prepared.gps.relative else None
        summary = ProcessSummary(fps=sampled_rate(fps, source.native_fps))
        last_t = 0.0
        for frame in source:
            frame.meta = frame_meta(prepared.gps, frame, start_time, vehicle_id, source_id)
            image = frame.image if jpeg_quality is None else as_uploaded(frame.image, jpeg_quality, detector)
            dets = cache.get(frame.index) if cache is not None else None
            if dets is None:
                if jpeg_quality is None:
                    dets = detect_frames(detector, [frame])[0]
                else:  # as the service does: the reduced pixels, boxes scaled back to the frame
                    dets = [d.scaled(image.scale) for d in detector.detect_batch([image.pixels])[0]]
                summary.inferred_frames += 1
                if cache is not None:
                    cache.put(frame.index, dets)
            summary.detections += len(dets)
            live.process_detections(image, frame.meta, dets, summary)
            summary.frames += 1
            last_t = frame.timestamp
        live.flush(vehicle_id=vehicle_id, summary=summary)
        if cache is not None:
            cache.close()
    finally:
        source.close()
    summary.video_seconds = last_t + 1.0 / fps if summary.frames else 0.0
    summary.wall_seconds = time.perf_counter() - started
    return summary


def as_uploaded(image: Any, quality: int, detector: Any) -> Any:
    """`image` as the service holds an upload of it: JPEG-encoded at `quality`, then decoded by the
    service's own function for the model's input (a DecodedImage, usually at half size)."""
    import cv2

    from serve.api.limits import decode_image
    from serve.settings import Limits

    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise InputError("frame could not be encoded as JPEG")
    return decode_image(encoded.tobytes(), "JPEG", Limits(), tuple(detector.imgsz))


def run_case_benchmark(
    seeds: Sequence[int],
    passes: int,
    seconds: float,
    model: Path | None,
    oracle: bool,
    fps: float | None,
    work: Path,
    match_m: float = 10.0,
    config_path: Path | None = None,
    detections_cache: bool = False,
    live: bool = False,
    live_jpeg: int | None = None,
) -> dict[str, Any]:
    """Process every seed's passes into a fresh store and match the cases with the ground truth.

    live: send each pass through the live service's path (`replay_live`) instead of `process_video`.
    live_jpeg: the same, each frame sent as a JPEG of this quality and detected as the service detects
    it (implies `live`; the live service never runs the horizon band, so neither does this).

    detections_cache: each pass's detections are kept under WORK/detections (model, input size,
    thresholds and sampling rate in the cache's header; another detector discards them), so that
    re-measuring tracker and rule settings does not run the model again.
    """
    from detector.pipeline import process_video, read_detections_cache
    from detector.pipeline.cache import detector_identity
    from detector.pipeline_config import load_pipeline_config
    from detector.taxonomy import default_taxonomy
    from serve.store import CaseStore

    if live_jpeg is not None:
        if oracle:
            raise InputError("--live-jpeg runs the model on the service's pixels: not with --oracle")
        if not 1 <= live_jpeg <= 100:
            raise InputError(f"--live-jpeg: a JPEG quality from 1 to 100, not {live_jpeg}")
        live = True
    config = load_pipeline_config(config_path)
    fps = fps or config.sample_fps
    names = default_taxonomy().names
    detector = None
    model_label = "oracle (ground-truth boxes; DIAGNOSTIC of tracker/geo/rules/merge only)"
    if not oracle:
        from detector.pipeline import build_detector, footage_detector

        # the live service never runs the horizon band: a JPEG replay runs the model as it does
        detector_config = config.model_copy(update={"horizon_band": None}) if live_jpeg else config
        detector = footage_detector(build_detector(detector_config, model), detector_config)
        model_label = str(detector.path)
    work.mkdir(parents=True, exist_ok=True)
    # one cache file per detector (model, input size, thresholds) and rate: switching back and forth
    # between two input sizes keeps both caches
    cache_tag = None
    if detections_cache and not oracle:
        pixels = f":jpeg{live_jpeg}" if live_jpeg else ""  # other pixels, other detections
        cache_tag = hashlib.sha256(f"{detector_identity(detector)}:{fps}{pixels}".encode()).hexdigest()[:10]
    run_pass = functools.partial(replay_live, jpeg_quality=live_jpeg) if live else process_video
    per_seed = []
    totals = dict.fromkeys(
        (
            "gt_violations",
            "gt_clusters",
            "cases",
            "gt_found",
            "clusters_found",
            "duplicate_cases",
            "false_cases",
            "tolerated_cases",
        ),
        0,
    )
    clear_totals = dict(totals)
    missed_by_verdict: collections.Counter[str] = collections.Counter()
    wall = 0.0
    video_s = 0.0
    for seed in seeds:
        clip_dir = work / "clips" / f"seed_{seed}_p{passes}_{int(seconds)}s"
        pass_dirs = ensure_synth_clips(clip_dir, seed, passes, seconds)
        zones = clip_dir / "zones"
        run_dir = work / f"{'oracle' if oracle else 'model'}{_path_suffix(live, live_jpeg)}" / f"seed_{seed}"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        store = CaseStore.open(f"sqlite:///{run_dir / 'cases.db'}", str(run_dir / "evidence"))
        truth_passes: list[list[GroundTruthObject]] = []
        cache_files: list[Path | None] = []
        summaries = []
        try:
            for i, pdir in enumerate(pass_dirs):
                truth = load_ground_truth(pdir / "ground_truth.json")
                truth_passes.append(truth)
                det = GroundTruthDetector(truth, names) if oracle else detector
                cache_file = (
                    work / "detections" / f"seed_{seed}_{pdir.name}.{cache_tag}.jsonl" if cache_tag else None
                )
                cache_files.append(cache_file)
                t0 = time.perf_counter()
                s = run_pass(
                    pdir / "clip.mp4",
                    _gps_file(pdir),
                    store,
                    det,
                    config,
                    vehicle_id=f"vehicle-{1 + i % 2}",
                    camera=pdir / "camera.yaml",
                    zones=zones if zones.is_dir() else None,
                    fps=fps,
                    detections_cache=cache_file,
                )
                wall += time.perf_counter() - t0
                video_s += s.video_seconds
                summaries.append({"pass": pdir.name, **s.to_dict()})
            from serve.store import CaseFilter

            cases = []
            cursor = None
            while True:
                page = store.cases.list_cases(CaseFilter(), cursor=cursor, limit=500)
                cases.extend(page.items)
                cursor = page.next_cursor
                if not cursor:
                    break
        finally:
            store.close()
        expected, tolerated = expected_cases(truth_passes)
        m = match_cases(cases, expected, match_m, tolerated)
        clear_exp, clear_tol = expected_cases(truth_passes, CLEAR_MIN_FRAMES, CLEAR_MIN_BOX_PX)
        clear = match_cases(cases, clear_exp, match_m, clear_tol)
        missed_ids = set(clear["missed"])
        missed = [g for g in clear_exp if f"{g.id}:{g.case_class}" in missed_ids]
        seen = [
            (truth, read_detections_cache(f) if f is not None and f.exists() else None)
            for truth, f in zip(truth_passes, cache_files, strict=True)
        ]
        sampled_at = max((s["fps"] for s in summaries), default=fps)
        clear["missed_detail"] = explain_misses(
            missed,
            seen,
            cases,
            match_m,
            merging=config.cases,
            rule_for=functools.partial(config.rule_for, fps=sampled_at),
        )
        missed_by_verdict.update(verdict_counts(clear["missed_detail"]))
        for k in clear_totals:
            clear_totals[k] += clear[k]
        for k in totals:
            totals[k] += m[k]
        per_seed.append(
            {
                "seed": seed,
                **m,
                **_ratios(m),
                "clearly_visible": {**clear, **_ratios(clear)},
                "passes": summaries,
            }
        )
    report = {
        "detector": model_label,
        "verifier": _verifier_label(config),
        "config": str(config_path) if config_path else "built-in defaults",
        "path": _path_label(live, live_jpeg),
        "seeds": list(seeds),
        "passes": passes,
        "seconds_per_pass": seconds,
        "fps": fps,
        "match_m": match_m,
        "totals": {
            **totals,
            **_ratios(totals),
            "video_seconds": round(video_s, 1),
            "wall_seconds": round(wall, 1),
            "detector": "oracle" if oracle else "model",
            "inferred_frames": sum(p["inferred_frames"] for s in per_seed for p in s["passes"]),
        },
        "totals_clearly_visible": {
            **clear_totals,
            **_ratios(clear_totals),
            "definition": f"violations labelled in >= {CLEAR_MIN_FRAMES} frames (1 s at 10 fps) of a pass, "
            f"with a box of at least {CLEAR_MIN_BOX_PX:.0f} px on its short side",
            "missed_by_verdict": dict(missed_by_verdict),  # miss_diagnosis; per object in per_seed
        },
        "per_seed": per_seed,
    }
    (work / report_name(oracle, live, live_jpeg)).write_text(json.dumps(report, indent=2))
    return report


def _verifier_label(config: Any) -> str:
    """Which crop verifier judged the tracks (detector.verifier), and how strictly."""
    from detector.verifier import open_verifier

    verifier = open_verifier(config.verifier)
    if verifier is None:
        return "none"
    return f"{verifier.identity} (min_prob {config.verifier.min_prob})"


def _path_label(live: bool, live_jpeg: int | None) -> str:
    if not live:
        return "footage (process_video)"
    pixels = f", frames sent as JPEG q{live_jpeg}" if live_jpeg else ", the footage path's detections"
    return f"live (LivePipeline, as POST /v1/frames){pixels}"


def _path_suffix(live: bool, live_jpeg: int | None) -> str:
    return f"-live-jpeg{live_jpeg}" if live_jpeg else ("-live" if live else "")


def report_name(oracle: bool, live: bool, live_jpeg: int | None = None) -> str:
    """The report's file name under the work folder: one per detector and path, so runs do not overwrite
    each other's (their stores are under `model`/`oracle` with the same suffix)."""
    return f"report{'-oracle' if oracle else ''}{_path_suffix(live, live_jpeg)}.json"


def run_speed_benchmark(
    video: Path | None,
    gps: Path | None,
    model: Path | None,
    fps: float,
    seconds: float,
    threads: int | None,
    work: Path,
    config_path: Path | None = None,
) -> dict[str, Any]:
    """Process a clip (720p by default, generated by synth) and report speed against real time, with the
    pipeline configuration at `config_path` (default: the built-in one)."""
    from detector.pipeline import build_detector, footage_detector, process_video
    from detector.pipeline_config import load_pipeline_config
    from detector.sources import VideoFileSource
    from serve.store import CaseStore

    work.mkdir(parents=True, exist_ok=True)
    camera = zones = None
    if video is None:
        pdir = ensure_synth_clips(work / "clip", 201, 1, seconds)[0]
        video, gps = pdir / "clip.mp4", _gps_file(pdir)
        camera = pdir / "camera.yaml"
        zones = (pdir.parent / "zones") if (pdir.parent / "zones").is_dir() else None
    if gps is None:
        raise InputError("--gps is required with --video")
    config = load_pipeline_config(config_path)
    detector = footage_detector(build_detector(config, model, threads=threads), config)
    with VideoFileSource(video) as src:
        first = next(iter(src))
        size = f"{first.width}x{first.height}"
        native = src.native_fps
    db_dir = work / "store"
    if db_dir.exists():
        shutil.rmtree(db_dir)
    db_dir.mkdir(parents=True)
    store = CaseStore.open(f"sqlite:///{db_dir / 'cases.db'}", str(db_dir / "evidence"))
    load_before = os.getloadavg()[0]
    cpu0 = time.process_time()
    try:
        s = process_video(
            video, gps, store, detector, config, vehicle_id="bench", camera=camera, zones=zones, fps=fps
        )
    finally:
        store.close()
    cpu_s = time.process_time() - cpu0
    cores = min(os.cpu_count() or 1, int(detector.threads or os.cpu_count() or 1))
    return {
        "video": str(video),
        "size": size,
        "native_fps": native,
        "sample_fps": fps,
        "frames_processed": s.frames,
        "video_seconds": round(s.video_seconds, 2),
        "wall_seconds": round(s.wall_seconds, 2),
        "speed_x_realtime": round(s.speed_x_realtime, 2),
        "ms_per_sampled_frame": round(1000 * s.wall_seconds / max(1, s.frames), 1),
        # On a shared machine wall time includes waiting for other jobs; CPU time spread over the
        # detector's threads is what the same run costs on an otherwise idle machine of this size.
        "cpu_seconds": round(cpu_s, 2),
        "speed_x_realtime_from_cpu": round(s.video_seconds / (cpu_s / cores), 2) if cpu_s > 0 else None,
        "load_average_at_start": round(load_before, 2),
        "load_average_at_end": round(os.getloadavg()[0], 2),
        "model": str(detector.path),
        "input": "x".join(str(v) for v in detector.imgsz),
        "threads": detector.threads,
        "cpu_count": os.cpu_count(),
        "target": ">= 3x real time",
        "passed": s.speed_x_realtime >= 3.0 and not math.isnan(s.speed_x_realtime),
    }
