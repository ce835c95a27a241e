"""CLI glue of the engines: `streetwatch process` with several videos / folders / `--engine ray`, and
`streetwatch bench ray`. Cheap to import (heavy imports inside the functions)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def run_process(
    inputs: list[Path],
    gps: list[Path] | None,
    *,
    camera: Path | None,
    zones: Path | None,
    db: str,
    evidence: str,
    model: Path | None,
    fps: float | None,
    vehicle: str,
    config: Path | None,
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

    from serve.engines.common import ProcessPlan, absolute_db_url, absolute_evidence, build_jobs, open_engine

    jobs = build_jobs(inputs, gps, camera=camera.resolve() if camera else None, vehicle_id=vehicle)
    plan = ProcessPlan(
        jobs=jobs,
        db_url=absolute_db_url(db),
        evidence=absolute_evidence(evidence),
        model=model.resolve() if model else None,
        config_path=config.resolve() if config else None,
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


def bench_ray_command(
    clips: int = typer.Option(4, "--clips", min=1, max=64, help="Generated clips (synth drive-by passes)."),
    seconds: float = typer.Option(10.0, "--seconds", min=1, max=600, help="Length of each clip."),
    fps: float = typer.Option(5.0, "--fps", help="Sampling rate of the pipeline."),
    workers: str = typer.Option("1,2", "--workers", help="Ray worker counts to measure, e.g. 1,2."),
    model: Path | None = typer.Option(None, "--model", help="ONNX detector (default: the bundled model)."),
    config: Path | None = typer.Option(None, "--config", help="Pipeline configuration YAML."),
    address: str | None = typer.Option(None, "--address", help="Ray cluster (default: a local instance)."),
    work: Path = typer.Option(
        Path("runs/bench-ray"), "--work", help="Scratch folder (clips, stores, report)."
    ),
    threads: int | None = typer.Option(
        None, "--threads", help="ONNX Runtime threads of the in-process run (default: the config's)."
    ),
    pin: bool = typer.Option(
        True,
        "--pin/--no-pin",
        help="Confine each Ray run to as many cores as workers (scaling with cores); --no-pin: all cores.",
    ),
    layout: str = typer.Option(
        "streets",
        "--layout",
        help="streets: each clip on its own street (independent videos); passes: passes of one street.",
    ),
) -> None:
    """Frames/s of the same generated clips in-process, on Ray with 1 worker, with 2 workers (speed-up)."""
    from serve.engines.bench import run_ray_benchmark

    counts = [int(w) for w in workers.split(",") if w.strip()]
    report = run_ray_benchmark(
        clips, seconds, fps, counts, model, config, address, work, threads, layout, pin
    )
    typer.echo(json.dumps({k: v for k, v in report.items() if k not in ("runs", "report")}, indent=2))
    typer.echo(f"report: {report['report']}")


def register(app: typer.Typer, bench: typer.Typer, dataset: typer.Typer) -> None:
    """Adds `bench ray` (the `process` options live in serve/process_cli.py and call run_process)."""
    bench.command("ray")(bench_ray_command)
