"""`streetwatch process`: recorded footage -> detector -> tracker -> events -> cases, for one video in
this process or for several videos, folders or `--engine ray` through the engines (`run_process`).
Cheap to import (heavy imports inside the functions)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from serve.cli_options import DataDirOpt, DbOpt

if TYPE_CHECKING:
    from serve.settings import Settings


def run_process(
    inputs: list[Path],
    gps: list[Path] | None,
    *,
    settings: Settings,
    fps: float | None,
    vehicle: str,
    conf: float | None,
    threads: int | None,
    engine: str,
    address: str | None,
    workers: int | None,
    as_json: bool,
    cache: Path | None = None,
    reprocess: bool = False,
) -> None:
    """`streetwatch process` for a list of videos and/or folders on the chosen engine."""
    from detector.errors import InputError

    if cache is not None:
        raise InputError("--cache works with one video and --engine inprocess (a detections cache per video)")
    from tqdm import tqdm

    from serve.engines.common import ProcessPlan, absolute_db_url, absolute_evidence, build_jobs
    from serve.engines.registry import open_engine
    from serve.settings import zones_folder

    camera = Path(settings.camera_config).resolve() if settings.camera_config else None
    zones = zones_folder(settings)
    jobs = build_jobs(inputs, gps, camera=camera, vehicle_id=vehicle)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    plan = ProcessPlan(
        jobs=jobs,
        db_url=absolute_db_url(settings.db_url),
        evidence=absolute_evidence(str(settings.evidence_dir)),
        model=Path(settings.model_path).resolve(),
        pipeline=settings.pipeline,
        zones=zones.resolve() if zones else None,
        fps=fps,
        conf=conf,
        threads=threads,
        reprocess=reprocess,
    )
    runner = open_engine(engine, address=address, workers=workers)
    bar = tqdm(total=None, unit="frame", desc=f"{len(jobs)} video(s) on {runner.name}", dynamic_ncols=True)

    def progress(done: int, total: int | None) -> None:
        if total and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        result = runner.run(plan, progress)
    finally:
        bar.close()
    report = result.to_dict()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    for video in report["per_video"]:
        typer.echo(
            f"{Path(video['video']).name}: {video['frames']} frames, {video['events']} events, "
            f"{video['new_cases']} new cases, {video['merged_observations']} merged, "
            f"{video['already_stored']} already stored"
        )
    typer.echo(
        f"{report['videos']} videos on {report['engine']} ({report['workers']} worker(s)): "
        f"{report['frames']} frames in {report['wall_seconds']:.1f} s "
        f"({report['frames_per_second']:.1f} frames/s), "
        f"events: {report['events']}  new cases: {report['new_cases']}  "
        f"merged observations: {report['merged_observations']}  already stored: {report['already_stored']}"
    )


def register(app: typer.Typer, bench: typer.Typer, dataset: typer.Typer) -> None:
    """Add `streetwatch process`."""

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
        db: str | None = DbOpt,
        evidence: str | None = typer.Option(
            None,
            "--evidence",
            help="Evidence image folder, or s3://BUCKET/PREFIX?endpoint_url=... Default: the settings'.",
        ),
        data_dir: Path | None = DataDirOpt,
        model: Path | None = typer.Option(
            None, "--model", help="ONNX detector. Default: the settings' model_path (the bundled model)."
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
            None, "--config", help="StreetWatch YAML (default ./streetwatch.yaml or STREETWATCH_CONFIG); "
            "the data path's settings are its `pipeline:` section.",
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
        from serve.settings import camera_mount, load_settings, zone_layers

        settings = load_settings(
            config, data_dir=data_dir, db_url=db, evidence_dir=evidence, model_path=model,
            camera_config=camera, zones_dir=zones,
        )  # fmt: skip
        if engine != "inprocess" or len(video) != 1 or video[0].is_dir() or len(gps or []) != 1:
            return run_process(video, gps, settings=settings, fps=fps, vehicle=vehicle, conf=conf,
                               threads=threads, engine=engine, address=address, workers=workers,
                               as_json=as_json, cache=cache, reprocess=reprocess)  # fmt: skip
        video, gps = video[0], gps[0]  # type: ignore[index,assignment]  # one video with its track
        from tqdm import tqdm

        from detector.pipeline import prepare_inputs, process_video

        cfg = settings.pipeline
        # Check every input before opening the store: bad input leaves nothing behind.
        from detector.sources import VideoFileSource

        with VideoFileSource(video, fps=fps or cfg.sample_fps) as src:
            native = src.native_fps
            total = src.estimated_frames
        prepared = prepare_inputs(gps, cfg, camera_mount(settings), zone_layers(settings), fps_hint=native)
        from detector.pipeline import build_detector, footage_detector

        detector = footage_detector(build_detector(cfg, settings.model_path, conf=conf, threads=threads), cfg)

        from serve.store import CaseStore

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = CaseStore.open(settings.db_url, str(settings.evidence_dir))
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

