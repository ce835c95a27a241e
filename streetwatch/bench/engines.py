"""`streetwatch bench ray`: the same generated clips in-process, on Ray with 1 worker, with 2 workers.

Reports frames/s (sampled frames through the whole path: decode, inference, tracker, events, store),
the speed-up over Ray with 1 worker, whether every run left the same cases, and the parts of one
frame's cost measured alone (decode + sampling, inference with one onnxruntime thread) that explain
the speed-up. Ray's start-up is measured and kept out of the per-run times (a cluster is started
once for a whole archive). By default each Ray run gets a fresh local instance confined to as many
cores as it has workers (`--pin`), so the runs show how throughput scales with cores; `--no-pin`
runs every worker count on all cores.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from detector.errors import InputError, ModelError
from detector.pipeline_config import load_pipeline_config


def _clips(work: Path, clips: int, seconds: float) -> list[Path]:
    from streetwatch.bench.cases import ensure_synth_clips

    return ensure_synth_clips(work / f"clips-{clips}x{seconds:g}s", 301, clips, seconds)


def _config_for_model(model: Path, config: Path | None, work: Path) -> tuple[Path | None, bool]:
    """The pipeline config to use: the given one; else, for a model whose classes are not the
    StreetWatch taxonomy (e.g. a COCO export), one whose taxonomy is the model's own classes, each a
    violation, so the clips produce events and cases to compare. Returns (config, generated)."""
    import yaml

    from detector.model import Detector
    from detector.taxonomy import default_taxonomy

    if config is not None:
        return config, False
    names = Detector(model, threads=1).names
    if [n.replace(" ", "_") for n in names] == list(default_taxonomy().names):
        return None, False
    classes = [
        {"name": n.replace(" ", "_"), "id": i, "zh": n, "en": n, "matter_code": f"B{i:03d}",
         "violation": True, "severity": 1, "default_deadline_hours": 24}
        for i, n in enumerate(names)
    ]  # fmt: skip
    taxonomy = work / "model-taxonomy.yaml"
    taxonomy.write_text(yaml.safe_dump({"version": "bench", "classes": classes}), encoding="utf-8")
    generated = work / "model-pipeline.yaml"
    generated.write_text(yaml.safe_dump({"taxonomy": str(taxonomy)}), encoding="utf-8")
    return generated, True


def _ray_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds of this process's descendants that are Ray's own daemons (raylet, GCS, agents,
    monitors) of a local instance; workers are counted by the tasks and actors themselves."""
    import psutil

    out: dict[int, tuple[str, float]] = {}
    for proc in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(proc.cmdline())
            times = proc.cpu_times()
        except psutil.Error:
            continue
        agents = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")
        if cmd.startswith("ray::") and not cmd.startswith(agents):
            continue  # task/actor workers: the tasks and actors report their own CPU time
        out[proc.pid] = ("ray_daemons", times.user + times.system)
    return out


def _cpu_delta(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    parts: dict[str, float] = {}
    for pid, (kind, cpu) in after.items():
        parts[kind] = parts.get(kind, 0.0) + cpu - before.get(pid, (kind, 0.0))[1]
    return parts


def _streets_apart(dirs: list[Path], out: Path) -> list[Path]:
    """Copies of the clips' track.csv moved 0.01° (~1.1 km) north per clip: one street each."""
    import csv

    tracks = []
    for i, d in enumerate(dirs):
        with (d / "track.csv").open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        target = out / d.name / "track.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            for row in rows:
                writer.writerow({**row, "lat": f"{float(row['lat']) + 0.01 * i:.8f}"})
        tracks.append(target)
    return tracks


def _signature(db_url: str, evidence: str) -> list[tuple]:
    from serve.store import CaseFilter, CaseStore

    store = CaseStore.open(db_url, evidence)
    try:
        out = []
        for case in store.cases.list_cases(CaseFilter(), limit=10_000).items:
            keys = tuple(sorted(o.event_key for o in store.cases.get_case_detail(case.id).observations))
            out.append((case.class_name, round(case.lat, 6), round(case.lon, 6), keys))
        return sorted(out)
    finally:
        store.close()


def _stage_costs(plan, cfg, sample: int = 12) -> dict[str, float]:
    """CPU milliseconds per sampled frame (process time: robust to a busy machine): decode + sampling
    alone, inference alone with one onnxruntime thread."""
    from detector.sources import VideoFileSource
    from serve.engines.inprocess import open_detector

    fps = plan.fps or cfg.sample_fps
    frames = 0
    images = []
    t0 = time.process_time()
    for job in plan.jobs:
        with VideoFileSource(job.video, fps=fps) as src:
            for frame in src:
                frames += 1
                if len(images) < sample:
                    images.append(frame.image)
    decode_ms = (time.process_time() - t0) * 1000 / max(frames, 1)
    detector = open_detector(plan, cfg, threads=1)
    detector.detect_batch(images[:1])  # warm-up
    batch = max(1, cfg.detector.batch)
    t0 = time.process_time()
    for i in range(0, len(images), batch):
        detector.detect_batch(images[i : i + batch])
    infer_ms = (time.process_time() - t0) * 1000 / max(len(images), 1)
    return {
        "decode_cpu_ms_per_frame": round(decode_ms, 1),
        "inference_cpu_ms_per_frame_1_thread": round(infer_ms, 1),
    }


def run_ray_benchmark(
    clips: int,
    seconds: float,
    fps: float,
    worker_counts: list[int],
    model: Path | None,
    config: Path | None,
    address: str | None,
    work: Path,
    threads: int | None = None,
    layout: str = "streets",
    pin: bool = True,
) -> dict[str, Any]:
    """layout: `passes` = the clips are passes of one street (their cases interact: assembly in order,
    two-stage path); `streets` = each clip's GPS track moved ~1.1 km apart (independent: one pass).
    pin: each Ray run gets a fresh local instance confined to as many cores as workers (scaling with
    cores); False: one instance on all cores for every run (what more actors give on the same cores).
    """
    import ray

    from serve.engines.common import ProcessPlan, build_jobs
    from serve.engines.inprocess import InProcessEngine
    from serve.engines.ray_engine import RayEngine

    if model is None:
        from detector.model import default_model_path

        model = default_model_path()
        if model is None:
            raise ModelError("no model: pass --model PATH.onnx (the bundled model is missing)")
    work = work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    config, generated_config = _config_for_model(model.resolve(), config, work)
    dirs = _clips(work, clips, seconds)
    zones = dirs[0].parent / "zones"
    if layout == "streets":
        jobs = build_jobs(dirs, _streets_apart(dirs, work / "streets"), vehicle_id="bench")
    elif layout == "passes":
        jobs = build_jobs(dirs, [d / "track.csv" for d in dirs], vehicle_id="bench")
    else:
        raise InputError(f"--layout must be streets or passes, not {layout!r}")

    def plan_for(name: str) -> ProcessPlan:
        run_dir = work / "runs" / name
        if run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        return ProcessPlan(
            jobs=jobs,
            db_url=f"sqlite:///{run_dir / 'cases.db'}",
            evidence=str(run_dir / "evidence"),
            model=model.resolve(),
            pipeline=load_pipeline_config(config),
            zones=zones if zones.is_dir() else None,
            fps=fps,
            threads=threads,
        )

    base = plan_for("probe")
    cfg = base.config()
    costs = _stage_costs(base, cfg)
    runs: list[dict[str, Any]] = []
    signatures: dict[str, list[tuple]] = {}

    def record(name: str, plan: ProcessPlan, result: Any, extra: dict[str, Any]) -> None:
        report = result.to_dict()
        cpu = sum(result.cpu_seconds.values())
        report["cpu_seconds_total"] = round(cpu, 2)
        report["frames_per_cpu_second"] = round(result.frames / cpu, 2) if cpu > 0 else None
        busy = result.wall_seconds - result.startup_seconds
        # On a shared machine a run gets only part of its cores: how many it really used, and the
        # frames/s its CPU cost allows when its cores are free (frames per CPU-second x cores).
        report["cores_used"] = round(cpu / busy, 2) if busy > 0 else None
        cores = extra.get("cores") or 1
        # (Ray runs only: in-process decoding and assembly are serial, it cannot fill its cores.)
        parallel = name.startswith("ray")
        report["frames_per_second_if_cores_free"] = (
            round(result.frames / cpu * cores, 2) if cpu > 0 and parallel else None
        )
        runs.append({"run": name, **extra, **report})
        signatures[name] = _signature(plan.db_url, plan.evidence)

    load_start = os.getloadavg()
    plan = plan_for("inprocess")
    record(
        "inprocess",
        plan,
        InProcessEngine().run(plan),
        {"onnx_threads": threads or cfg.detector.threads, "cores": len(os.sched_getaffinity(0))},
    )
    ray_starts: list[float] = []

    def start_ray(cores: int | None) -> bool:
        if ray.is_initialized():
            return False
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            kwargs["address"] = address
        else:
            kwargs["num_cpus"] = cores or os.cpu_count() or 1
        t0 = time.perf_counter()
        ray.init(**kwargs)
        ray_starts.append(time.perf_counter() - t0)
        return True

    all_cores = os.sched_getaffinity(0)
    pinning = pin and address is None
    started = False
    try:
        if not pinning:
            started = start_ray(None)
        for n in worker_counts:
            if pinning:
                # A fresh local instance confined to n cores (affinity is inherited by Ray's daemons
                # and workers): n workers on n cores, decoding and Ray's overhead included.
                if n > len(all_cores):
                    raise InputError(f"--workers {n}: this machine has {len(all_cores)} cores")
                os.sched_setaffinity(0, sorted(all_cores)[:n])
                started = start_ray(n)
            name = f"ray-{n}"
            plan = plan_for(name)
            before = _ray_cpu()
            result = RayEngine(workers=n).run(plan)
            result.cpu_seconds.update(_cpu_delta(before, _ray_cpu()))  # actors were killed: counted above
            record(name, plan, result, {"onnx_threads": 1, "cores": n if pinning else len(all_cores)})
            if pinning and started:
                ray.shutdown()
                started = False
                os.sched_setaffinity(0, all_cores)
    finally:
        if started:
            ray.shutdown()
        os.sched_setaffinity(0, all_cores)
    ray_start = sum(ray_starts) / len(ray_starts) if ray_starts else 0.0
    by_name = {r["run"]: r for r in runs}
    one = by_name.get("ray-1")
    for r in runs:
        if one and one["frames_per_second"]:
            r["speedup_vs_ray_1"] = round(r["frames_per_second"] / one["frames_per_second"], 2)
        if one and one.get("frames_per_second_if_cores_free") and r.get("frames_per_second_if_cores_free"):
            r["speedup_if_cores_free_vs_ray_1"] = round(
                r["frames_per_second_if_cores_free"] / one["frames_per_second_if_cores_free"], 2
            )
        if one and one["steady_frames_per_second"]:
            r["steady_speedup_vs_ray_1"] = round(
                r["steady_frames_per_second"] / one["steady_frames_per_second"], 2
            )
    reference = signatures["inprocess"]
    frames = runs[0]["frames"]
    paths: dict[str, list[str]] = {
        r["run"]: sorted({v.get("path", "in-process") for v in r.get("per_video", [])}) for r in runs
    }
    report = {
        "layout": layout,
        "config": str(config) if config else None,
        "taxonomy_from_model": generated_config,
        "pinned": pin and address is None,
        "assembly_paths": paths,
        "clips": len(jobs),
        "clip_seconds": seconds,
        "sample_fps": fps,
        "frames": frames,
        "model": str(model),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load_start],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "ray_start_seconds": round(ray_start, 2),
        **costs,
        "cases": len(reference),
        "cases_equal_across_runs": all(sig == reference for sig in signatures.values()),
        "results": {
            r["run"]: {
                k: r[k]
                for k in (
                    "workers",
                    "cores",
                    "onnx_threads",
                    "wall_seconds",
                    "startup_seconds",
                    "frames_per_second",
                    "steady_frames_per_second",
                    "speedup_vs_ray_1",
                    "steady_speedup_vs_ray_1",
                    "cpu_seconds",
                    "cpu_seconds_total",
                    "frames_per_cpu_second",
                    "cores_used",
                    "frames_per_second_if_cores_free",
                    "speedup_if_cores_free_vs_ray_1",
                )
                if k in r
            }
            for r in runs
        },
        "runs": [{k: v for k, v in r.items() if k != "per_video"} for r in runs],
    }
    name = f"report-{layout}{'' if report['pinned'] else '-unpinned'}.json"
    report["report"] = str(work / name)
    (work / name).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report
