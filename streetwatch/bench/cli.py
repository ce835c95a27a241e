"""`streetwatch bench ...`: the commands behind the README's speed and case figures.

Nothing in the product imports this package; heavy imports happen inside the commands.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from detector.errors import InputError

#: Options that mean the same in several commands.
_SERVICE_MODEL = typer.Option(None, "--model", help="ONNX model (default: the service default).")
_REPORT_OUT = typer.Option(None, "--out", help="Also write the report as JSON here.")
_DETECTOR_MODEL = typer.Option(None, "--model", help="ONNX detector (default: the bundled model).")
_PIPELINE_CONFIG = typer.Option(
    None, "--config", help="Pipeline configuration YAML to measure (e.g. another input size)."
)


def bench_detector_command(
    repeats: int = typer.Option(20, "--repeats", help="Timed calls per configuration and pipeline."),
    warmup: int = typer.Option(3, "--warmup", help="Untimed calls before timing each configuration."),
    sizes: str = typer.Option("640,320", "--sizes", help="Model input sizes, comma-separated."),
    batches: str = typer.Option("1,4", "--batches", help="Batch sizes, comma-separated."),
    threads: str = typer.Option("1,2", "--threads", help="Thread counts (onnxruntime intra-op and torch)."),
    model: Path | None = typer.Option(
        None,
        "--model",
        help="ONNX with dynamic input size (default: export ../shared/weights/yolo11n-coco.pt).",
    ),
    weights: Path | None = typer.Option(
        None, "--weights", help=".pt for ultralytics (default: shared yolo11n-coco.pt)."
    ),
    image: Path | None = typer.Option(
        None, "--image", help="Frame to time (resized to 1280x720; default bus.jpg)."
    ),
    no_ultralytics: bool = typer.Option(False, "--no-ultralytics", help="Skip column (c) (no torch needed)."),
    gflops: float | None = typer.Option(
        None, "--gflops", help="Model GFLOPs at 640 (default: ultralytics' count)."
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the measurements as JSON."),
    spin: bool | None = typer.Option(
        None, "--spin/--no-spin", help="onnxruntime threads busy-wait for work (default: onnxruntime's, on)."
    ),
) -> None:
    """Per-frame latency of our detector (a), the bare onnxruntime session (b) and ultralytics predict (c)."""
    from streetwatch.bench.detector import BenchConfig, run_detector_bench

    def ints(text: str, name: str) -> list[int]:
        try:
            return [int(v) for v in text.split(",") if v.strip()]
        except ValueError as exc:
            raise InputError(f"--{name} must be comma-separated integers, got {text!r}") from exc

    config = BenchConfig(
        repeats=repeats,
        warmup=warmup,
        sizes=ints(sizes, "sizes"),
        batches=ints(batches, "batches"),
        threads=ints(threads, "threads"),
        model=model,
        weights=weights,
        image=image,
        ultralytics=not no_ultralytics,
        gflops=gflops,
        spin=spin,
    )
    report = run_detector_bench(config, progress=lambda msg: typer.echo(msg, err=True))
    typer.echo(report.markdown())
    if json_out:
        json_out.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")


def bench_load_command(
    vehicles: int = typer.Option(8, "--vehicles", min=1, max=64, help="Simulated vehicles."),
    fps: float = typer.Option(5.0, "--fps", min=0.1, max=30, help="Frames per second each vehicle sends."),
    seconds: float = typer.Option(60.0, "--seconds", min=1, max=600, help="How long the vehicles send."),
    width: int = typer.Option(1280, "--width", min=64, max=4096),
    height: int = typer.Option(720, "--height", min=64, max=4096),
    model: Path = _SERVICE_MODEL,
    out: Path = _REPORT_OUT,
    max_batch: int = typer.Option(None, "--max-batch", help="Micro-batcher max batch."),
    threads: int = typer.Option(None, "--threads", help="ONNX Runtime threads."),
    workers: int = typer.Option(None, "--workers", min=1, help="Detector worker threads in the service."),
    full_decode: bool = typer.Option(
        False, "--full-decode", help="Service decodes every JPEG in full (reduced_decode off), to compare."
    ),
    transport: str = typer.Option(
        "image",
        "--transport",
        help="image: POST /v1/frames with the JPEG as the body; form: as a multipart form; "
        "ws: one WebSocket stream per vehicle.",
    ),
) -> None:
    """Load test on loopback: N vehicles x F fps of JPEG frames over HTTP or WebSocket for S seconds."""
    from streetwatch.bench.load import run_load_test

    report = run_load_test(
        vehicles=vehicles,
        fps=fps,
        seconds=seconds,
        width=width,
        height=height,
        model=model,
        max_batch=max_batch,
        threads=threads,
        workers=workers,
        reduced_decode=not full_decode,
        transport=transport,
    )
    _echo_report(report, out)


def bench_live_path_command(
    rounds: int = typer.Option(5, "--rounds", min=1, max=50, help="Timed rounds (the medians are reported)."),
    frames: int = typer.Option(20, "--frames", min=1, max=1000, help="Frames per vehicle in each round."),
    vehicles: int = typer.Option(8, "--vehicles", min=1, max=64, help="Simulated vehicles."),
    model: Path = _SERVICE_MODEL,
    out: Path = _REPORT_OUT,
) -> None:
    """CPU per live frame beyond the model, on one thread: the load's frames through the live path."""
    from tqdm import tqdm

    from streetwatch.bench.live_path import run_live_path_benchmark

    with tqdm(total=(rounds + 1) * frames * vehicles, desc="live path", unit="frame") as bar:
        report = run_live_path_benchmark(
            rounds=rounds, frames_per_vehicle=frames, vehicles=vehicles, model=model, progress=bar.update
        )
    _echo_report(report, out)


def _echo_report(report: dict, out: Path | None) -> None:
    """Print the report as JSON; with `out`, write it there too."""
    text = json.dumps(report, indent=2)
    typer.echo(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")


def bench_ray_command(
    clips: int = typer.Option(4, "--clips", min=1, max=64, help="Generated clips (synth drive-by passes)."),
    seconds: float = typer.Option(10.0, "--seconds", min=1, max=600, help="Length of each clip."),
    fps: float = typer.Option(5.0, "--fps", help="Sampling rate of the pipeline."),
    workers: str = typer.Option("1,2", "--workers", help="Ray worker counts to measure, e.g. 1,2."),
    model: Path | None = _DETECTOR_MODEL,
    config: Path | None = _PIPELINE_CONFIG,
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
    from streetwatch.bench.engines import run_ray_benchmark

    counts = [int(w) for w in workers.split(",") if w.strip()]
    report = run_ray_benchmark(
        clips, seconds, fps, counts, model, config, address, work, threads, layout, pin
    )
    typer.echo(json.dumps({k: v for k, v in report.items() if k not in ("runs", "report")}, indent=2))
    typer.echo(f"report: {report['report']}")


def bench_process(
    video: Path | None = typer.Option(
        None, "--video", help="720p clip (default: generate one with synth)."
    ),
    gps: Path | None = typer.Option(None, "--gps", help="Its GPS track (default: the generated one)."),
    model: Path | None = _DETECTOR_MODEL,
    fps: float = typer.Option(5.0, "--fps", help="Sampling rate."),
    seconds: float = typer.Option(20.0, "--seconds", help="Length of the generated clip."),
    threads: int | None = typer.Option(None, "--threads", help="ONNX Runtime threads (default 2)."),
    work: Path = typer.Option(Path("runs/bench-process"), "--work", help="Scratch folder (clip, store)."),
    config: Path | None = _PIPELINE_CONFIG,
) -> None:
    """Processing speed of the whole path (decode + detect + track + events + store) vs. real time."""
    from streetwatch.bench.cases import run_speed_benchmark

    result = run_speed_benchmark(video, gps, model, fps, seconds, threads, work, config_path=config)
    (work / "result.json").write_text(json.dumps(result, indent=2))
    typer.echo(json.dumps(result, indent=2))


def bench_cases(
    seeds: str = typer.Option(
        "101-105", "--seeds", help="Synth seeds (not used in training), e.g. 101-105."
    ),
    passes: int = typer.Option(3, "--passes", help="Passes of the same street per seed."),
    seconds: float = typer.Option(20.0, "--seconds", help="Clip length per pass."),
    model: Path | None = _DETECTOR_MODEL,
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
    config: Path | None = _PIPELINE_CONFIG,
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
    from streetwatch.bench.cases import parse_seeds, report_name, run_case_benchmark

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


def bench_synth(
    frames: int = typer.Option(20, "--frames", min=1, help="Frames to render."),
    seed: int = typer.Option(0, "--seed", min=0),
) -> None:
    """Measure the generator's CPU time per frame on one core (rendering + effects + labels, no disk)."""
    from datasets.synth.frames import render_training_frame
    from datasets.synth.textures import texture_bank

    texture_bank()
    render_training_frame(seed, 0)
    t0 = time.process_time()
    w0 = time.time()
    for i in range(1, frames + 1):
        render_training_frame(seed, i)
    cpu = (time.process_time() - t0) / frames
    wall = (time.time() - w0) / frames
    typer.echo(
        json.dumps(
            {"frames": frames, "cpu_s_per_frame": round(cpu, 4), "wall_s_per_frame": round(wall, 4)}
        )
    )


def register(app: typer.Typer, bench: typer.Typer, dataset: typer.Typer) -> None:
    """Add the `bench` subcommands."""
    for name, command in _COMMANDS.items():
        bench.command(name)(command)


#: `streetwatch bench NAME`: its command.
_COMMANDS = {
    "detector": bench_detector_command,
    "load": bench_load_command,
    "live-path": bench_live_path_command,
    "ray": bench_ray_command,
    "process": bench_process,
    "cases": bench_cases,
    "synth": bench_synth,
}
