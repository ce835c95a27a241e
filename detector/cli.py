"""Commands of the `detector` package (registered on the `streetwatch` app by streetwatch.cli).

`streetwatch detect` runs the ONNX detector over an image, folder, video or live URL and writes one
JSON line per frame; `streetwatch bench detector` measures the README's detector speed figures.
Heavy imports (onnxruntime, cv2, av, tqdm) happen inside the commands to keep `--help` fast.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

import typer

from detector.errors import InputError, ModelError


def resolve_model(model: Path | None) -> Path:
    """--model if given, else the default model ($STREETWATCH_MODEL_PATH, else the bundled one)."""
    from detector.model import default_model_path

    if model is not None:
        return model
    found = default_model_path()
    if found is None:
        raise ModelError(
            "no model: models/streetwatch-yolo11n.onnx is not there yet; pass --model PATH.onnx "
            "or set STREETWATCH_MODEL_PATH"
        )
    return found


IMAGE_OUTPUTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_OUTPUTS = {".mp4", ".m4v", ".mov", ".mkv"}


def _annotate_target(out: Path, kind: str) -> str:
    """How --annotate OUT is written for this input kind: 'image', 'folder' or 'video'."""
    if kind == "folder":
        if out.exists() and not out.is_dir():
            raise InputError("--annotate for a folder of images must be a folder", out)
        return "folder"
    if kind == "image":
        if out.suffix.lower() not in IMAGE_OUTPUTS:
            raise InputError(f"--annotate for an image must end in one of {sorted(IMAGE_OUTPUTS)}", out)
        return "image"
    if out.suffix.lower() not in VIDEO_OUTPUTS:
        raise InputError("--annotate for video input must be a video file name (.mp4)", out)
    return "video"


def _open_output(out: Path | None):
    if out is None:
        return sys.stdout
    try:
        return out.open("w", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write output ({exc.strerror or exc})", out) from exc


def detect_command(
    input: str = typer.Argument(
        ..., help="Image file, folder of images, video file, or rtsp://, http(s):// URL."
    ),
    model: Path | None = typer.Option(
        None,
        "--model",
        "-m",
        help="YOLO detection ONNX (default: STREETWATCH_MODEL_PATH or models/streetwatch-yolo11n.onnx).",
    ),
    fps: float | None = typer.Option(
        None, "--fps", help="Sample frames at this rate (video and live input)."
    ),
    every: int | None = typer.Option(None, "--every", help="Keep every Nth frame."),
    conf: float = typer.Option(0.25, "--conf", help="Minimum detection score."),
    iou: float = typer.Option(0.45, "--iou", help="NMS IoU threshold."),
    threads: int | None = typer.Option(
        None, "--threads", help="onnxruntime intra-op threads (default: all cores)."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="JSON lines output (default: standard output)."
    ),
    annotate: Path | None = typer.Option(
        None,
        "--annotate",
        help="Write boxes drawn: an image for image input, a folder for a folder, an H.264 mp4 for video.",
    ),
    max_frames: int | None = typer.Option(
        None, "--max-frames", help="Stop after this many frames (live input)."
    ),
    all_boxes: bool = typer.Option(
        False, "--all-boxes", help="Keep violation boxes that lie on a person (the pipeline drops them)."
    ),
) -> None:
    """Detect objects in an image, a folder of images, a video or a live stream: one JSON line per frame."""
    import cv2
    from tqdm import tqdm

    from detector.annotate import VideoWriter, draw_detections
    from detector.model import Detector
    from detector.pipeline.assembler import person_veto
    from detector.pipeline_config import load_pipeline_config
    from detector.sources import open_source, source_kind
    from detector.taxonomy import default_taxonomy

    if not 0.0 <= conf <= 1.0:
        raise InputError(f"--conf must be within 0..1, got {conf}")
    if not 0.0 <= iou <= 1.0:
        raise InputError(f"--iou must be within 0..1, got {iou}")
    model_path = resolve_model(model)
    target = _annotate_target(annotate, source_kind(input)) if annotate else None
    source = open_source(input, fps=fps, every=every)  # bad input fails before the model loads
    try:
        detector = Detector(model_path, conf=conf, iou=iou, threads=threads)
        veto = None if all_boxes else person_veto(load_pipeline_config(), default_taxonomy())
        sink = _open_output(out)
    except BaseException:
        source.close()
        raise
    writer = VideoWriter(annotate, fps=source.output_fps or 25.0) if target == "video" else None
    if target == "folder":
        annotate.mkdir(parents=True, exist_ok=True)

    per_class: Counter[str] = Counter()
    frames = 0
    started = time.perf_counter()
    show_bar = source.kind in {"video", "live", "folder"}
    bar = tqdm(
        total=source.estimated_frames,
        unit="frame",
        disable=not show_bar,
        file=sys.stderr,
        desc=Path(str(input)).name[:40],
    )
    try:
        with source:
            for frame in source:
                detections = detector.detect(frame.image)
                if veto is not None:
                    detections = veto(detections)
                record = {
                    "source": frame.source,
                    "index": frame.index,
                    "timestamp": round(frame.timestamp, 6),
                    "width": frame.width,
                    "height": frame.height,
                    "detections": [d.to_dict() for d in detections],
                }
                sink.write(json.dumps(record) + "\n")
                per_class.update(d.class_name for d in detections)
                frames += 1
                bar.update(1)
                if target is not None:
                    drawn = draw_detections(frame.image, detections)
                    if target == "video":
                        writer.write(drawn)
                    else:
                        dest = annotate if target == "image" else annotate / Path(frame.source).name
                        if not cv2.imwrite(str(dest), drawn):
                            raise InputError("cannot write annotated image", dest)
                if max_frames is not None and frames >= max_frames:
                    break
    finally:
        bar.close()
        if writer is not None:
            writer.close()
        if out:
            sink.close()
        else:
            sink.flush()
    elapsed = time.perf_counter() - started
    classes = ", ".join(f"{name} {n}" for name, n in per_class.most_common()) or "none"
    rate = frames / elapsed if elapsed > 0 else 0.0
    typer.echo(
        f"frames: {frames}  detections: {sum(per_class.values())} ({classes})  speed: {rate:.1f} fps"
        + (f"  annotated: {annotate}" if annotate else "")
        + (f"  output: {out}" if out else ""),
        err=True,
    )


def register(app: typer.Typer, bench: typer.Typer, dataset: typer.Typer) -> None:
    """Add this package's commands to the root app and the `bench` and `dataset` groups."""
    app.command("detect")(detect_command)
