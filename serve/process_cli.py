"""`streetwatch process`: recorded footage -> detector -> tracker -> events -> cases.

Also `streetwatch bench process` (speed against real time) and `streetwatch bench cases` (case-level
recall / duplicates / false cases on synthetic drive-by clips).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def _open_detector(model: Path | None, conf: float | None, threads: int | None, config):
    from detector.errors import ModelError
    from detector.horizon_band import with_horizon_band
    from detector.model import default_model_path, open_detector

    path = model or default_model_path()
    if path is None:
        raise ModelError(
            "no model: pass --model PATH.onnx (the bundled models/streetwatch-yolo11n.onnx is missing)"
        )
    detector = open_detector(
        path,
        config.detector.imgsz,
        conf=conf if conf is not None else config.detector.conf,
        iou=config.detector.iou,
        threads=threads or config.detector.threads,
        spin=config.detector.spin,
    )
    return with_horizon_band(detector, config)  # recorded footage: a second look at the far objects


def register(app: typer.Typer, bench: typer.Typer, dataset: typer.Typer) -> None:
    """Add `process`, `bench process` and `bench cases`."""

    @app.command("process")
    def process_cmd(
        video: list[Path] = typer.Argument(
            ..., help="Video file(s) recorded by patrol vehicles, or folder(s) of them (an archive)."
        ),
        gps: list[Path] | None = typer.Option(
            None,
            "--gps",
            help="GPS track: .gpx, .nmea, .csv or per-frame .json/.jsonl; one per video, in order "
            "(default: <video>.gpx/.csv, or track.gpx/.csv next to a lone video).",
        ),
        camera: Path | None = typer.Option(
            None, "--camera", help="Camera mount YAML (height, pitch, hfov, yaw)."
        ),
        zones: Path | None = typer.Option(
            None, "--zones", help="Folder of GeoJSON layers (road segments, zones)."
        ),
        db: str = typer.Option(
            "sqlite:///data/streetwatch.db", "--db", help="Case store URL (SQLite or PostgreSQL)."
        ),
        evidence: Path = typer.Option(
            Path("data/evidence"),
            "--evidence",
            help="Evidence image folder, or s3://BUCKET/PREFIX?endpoint_url=...",
        ),
        model: Path | None = typer.Option(
            None, "--model", help="ONNX detector (default: the bundled model)."
        ),
        fps: float | None = typer.Option(
            None,
            "--fps",
            help="Frames per second sampled from the video (default: the configuration's sample_fps, 10).",
        ),
        vehicle: str = typer.Option(
            "vehicle-1", "--vehicle", help="Id of the patrol vehicle that filmed it."
        ),
        config: Path | None = typer.Option(
            None, "--config", help="Pipeline configuration YAML (thresholds, rules)."
        ),
        cache: Path | None = typer.Option(
            None,
            "--cache",
            help="Detections cache (JSON Lines): an interrupted run resumes without re-inference.",
        ),
        conf: float | None = typer.Option(
            None, "--conf", help="Minimum detection score (default from config)."
        ),
        threads: int | None = typer.Option(None, "--threads", help="ONNX Runtime threads."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
        engine: str = typer.Option(
            "inprocess", "--engine", help="inprocess, or ray (decode, inference and cases on a Ray cluster)."
        ),
        address: str | None = typer.Option(
            None, "--address", help="Ray cluster address (default: start a local Ray instance)."
        ),
        workers: int | None = typer.Option(
            None, "--workers", help="Ray inference actors, one CPU each (default: 2/3 of the cluster's CPUs)."
        ),
        reprocess: bool = typer.Option(
            False,
            "--reprocess",
            help="Process a video this store already holds from a run with other settings (model, --fps, "
            "tracker) anyway: some of its objects' observations may be added to their cases a second time.",
        ),
    ) -> None:
        """Detect, track, geolocate and judge videos; open or update cases in the store."""
        if engine != "inprocess" or len(video) != 1 or video[0].is_dir() or len(gps or []) != 1:
            from serve.engines.cli import run_process  # several videos, folders, or --engine ray

            return run_process(video, gps, camera=camera, zones=zones, db=db, evidence=str(evidence),
                               model=model, fps=fps, vehicle=vehicle, config=config, conf=conf,
                               threads=threads, engine=engine, address=address, workers=workers,
                               as_json=as_json, cache=cache, reprocess=reprocess)  # fmt: skip
        video, gps = video[0], gps[0]  # type: ignore[index,assignment]  # one video with its track
        from tqdm import tqdm

        from detector.pipeline_config import load_pipeline_config
        from serve.processing import prepare_inputs, process_video

        cfg = load_pipeline_config(config)
        # Check every input before opening the store: bad input leaves nothing behind.
        from detector.sources import VideoFileSource

        with VideoFileSource(video, fps=fps or cfg.sample_fps) as src:
            native = src.native_fps
            total = src.estimated_frames
        prepared = prepare_inputs(gps, cfg, camera, zones, fps_hint=native)
        detector = _open_detector(model, conf, threads, cfg)

        from serve.store import CaseStore

        store = CaseStore.open(db, str(evidence))
        bars: list[tqdm] = []  # opened at the first frame: a refused run prints no empty bar

        def progress(done: int, _total: int | None) -> None:
            if not bars:
                bars.append(tqdm(total=total, unit="frame", desc=video.name, dynamic_ncols=True))
            bars[0].update(done - bars[0].n)

        try:
            summary = process_video(
                video,
                prepared.gps,
                store,
                detector,
                cfg,
                vehicle_id=vehicle,
                progress=progress,
                detections_cache=cache,
                camera=prepared.camera,
                zones=prepared.zones,
                fps=fps,
                reprocess=reprocess,
            )
        finally:
            for bar in bars:
                bar.close()
            store.close()
        if as_json:
            typer.echo(json.dumps(summary.to_dict(), indent=2))
            return
        s = summary
        typer.echo(
            f"{video.name}: {s.frames} frames at {s.fps:g} fps ({s.video_seconds:.1f} s of video in "
            f"{s.wall_seconds:.1f} s, "
            f"{s.speed_x_realtime:.1f}x real time), {s.detections} detections, {s.tracks} tracks"
        )
        typer.echo(
            f"events: {s.events}  new cases: {s.new_cases}  merged observations: {s.merged_observations}  "
            f"already stored: {s.already_stored}"
        )
        if s.rejected:
            typer.echo(
                "tracks not turned into events: "
                + ", ".join(f"{k}: {v}" for k, v in sorted(s.rejected.items()))
            )

    @bench.command("process")
    def bench_process(
        video: Path | None = typer.Option(
            None, "--video", help="720p clip (default: generate one with synth)."
        ),
        gps: Path | None = typer.Option(None, "--gps", help="Its GPS track (default: the generated one)."),
        model: Path | None = typer.Option(
            None, "--model", help="ONNX detector (default: the bundled model)."
        ),
        fps: float = typer.Option(5.0, "--fps", help="Sampling rate."),
        seconds: float = typer.Option(20.0, "--seconds", help="Length of the generated clip."),
        threads: int | None = typer.Option(None, "--threads", help="ONNX Runtime threads (default 2)."),
        work: Path = typer.Option(Path("runs/bench-process"), "--work", help="Scratch folder (clip, store)."),
        config: Path | None = typer.Option(
            None, "--config", help="Pipeline configuration YAML to measure (e.g. another input size)."
        ),
    ) -> None:
        """Processing speed of the whole path (decode + detect + track + events + store) vs. real time."""
        from serve.case_benchmark import run_speed_benchmark

        result = run_speed_benchmark(video, gps, model, fps, seconds, threads, work, config_path=config)
        (work / "result.json").write_text(json.dumps(result, indent=2))
        typer.echo(json.dumps(result, indent=2))

    @bench.command("cases")
    def bench_cases(
        seeds: str = typer.Option(
            "101-105", "--seeds", help="Synth seeds (not used in training), e.g. 101-105."
        ),
        passes: int = typer.Option(3, "--passes", help="Passes of the same street per seed."),
        seconds: float = typer.Option(20.0, "--seconds", help="Clip length per pass."),
        model: Path | None = typer.Option(
            None, "--model", help="ONNX detector (default: the bundled model)."
        ),
        oracle: bool = typer.Option(
            False,
            "--oracle",
            help="DIAGNOSTIC: ground-truth boxes instead of a model (tests tracker/geo/merge only).",
        ),
        fps: float | None = typer.Option(
            None, "--fps", help="Sampling rate (default: the pipeline configuration's sample_fps, 10)."
        ),
        work: Path = typer.Option(
            Path("runs/bench-cases"), "--work", help="Folder for clips, stores and report."
        ),
        match_m: float = typer.Option(
            10.0, "--match-m", help="A case matches a ground-truth object within this."
        ),
        config: Path | None = typer.Option(None, "--config", help="Pipeline configuration YAML to measure."),
        detections_cache: bool = typer.Option(
            False,
            "--detections-cache",
            help="Keep each pass's detections under WORK/detections and reuse them while model, input "
            "size and thresholds are unchanged: re-measuring tracker and rule settings skips the model "
            "(the wall time then no longer measures speed).",
        ),
        live: bool = typer.Option(
            False,
            "--live",
            help="Send each pass as a patrol vehicle streams it (the live service's path after the model, "
            "frame by frame with its GPS fix) instead of processing it as recorded footage.",
        ),
        live_jpeg: int | None = typer.Option(
            None,
            "--live-jpeg",
            help="As --live, each frame sent as a JPEG of this quality (e.g. 85) and detected on the pixels "
            "the service decodes from it.",
        ),
    ) -> None:
        """Case-level recall, duplicate and false cases on synthetic drive-by clips (issue 4 acceptance)."""
        from serve.case_benchmark import parse_seeds, report_name, run_case_benchmark

        report = run_case_benchmark(
            parse_seeds(seeds),
            passes,
            seconds,
            model,
            oracle,
            fps,
            work,
            match_m,
            config_path=config,
            detections_cache=detections_cache,
            live=live,
            live_jpeg=live_jpeg,
        )
        typer.echo("all labelled violations (>= 3 frames): " + json.dumps(report["totals"], indent=2))
        typer.echo("clearly visible violations: " + json.dumps(report["totals_clearly_visible"], indent=2))
        typer.echo(f"report: {work / report_name(oracle, live, live_jpeg)}")
