"""Commands of the `training` package: `train`, `export`, `evaluate` (registered by streetwatch.cli).

Heavy imports (torch, ultralytics, onnx, pycocotools, matplotlib) happen inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def _default_weights() -> Path:
    from training.ultralytics_env import coco_weights

    return coco_weights()


def train_command(
    data: Path = typer.Option(..., "--data", help="Dataset YAML (from `streetwatch dataset split`)."),
    weights: Path | None = typer.Option(
        None, "--weights", help="Starting checkpoint (default ../shared/weights/yolo11n-coco.pt)."
    ),
    imgsz: int = typer.Option(416, "--imgsz", help="Training input size (multiple of 32)."),
    epochs: int = typer.Option(30, "--epochs", help="Number of epochs."),
    time_hours: float | None = typer.Option(
        None, "--time", help="Wall-clock budget in hours (epochs recomputed to fit; overrides --epochs)."
    ),
    batch: int = typer.Option(16, "--batch", help="Images per batch."),
    freeze: int | None = typer.Option(None, "--freeze", help="Freeze the first N layers (10 = backbone)."),
    workers: int = typer.Option(2, "--workers", help="Dataloader worker processes."),
    project: Path = typer.Option(Path("runs/train"), "--project", help="Folder holding run folders."),
    name: str = typer.Option("streetwatch", "--name", help="Run folder name."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run's weights/last.pt."),
    device: str = typer.Option("auto", "--device", help="auto (GPU if present), cpu, 0, ..."),
    cache: str = typer.Option("ram", "--cache", help="Image cache: ram, disk or none."),
    close_mosaic: int = typer.Option(3, "--close-mosaic", help="No mosaic in the last N epochs."),
    nbs: int = typer.Option(64, "--nbs", help="Images per optimizer step (= --batch for short runs)."),
    warmup_epochs: float = typer.Option(3.0, "--warmup-epochs", help="LR warm-up epochs (1 for short runs)."),
    patience: int = typer.Option(100, "--patience", help="Early-stop patience (epochs)."),
    optimizer: str = typer.Option(
        "auto", "--optimizer", help="auto, SGD, AdamW, ... (SGD to continue a trained model unfrozen)."
    ),
    lr0: float = typer.Option(None, "--lr0", help="Initial learning rate (default: the optimizer's)."),
    exist_ok: bool = typer.Option(False, "--exist-ok", help="Reuse the run folder if it exists."),
) -> None:
    """Fine-tune YOLO on a dataset (offline; writes <project>/<name>/weights/best.pt)."""
    from training.train import TrainOptions, train

    opts = TrainOptions(
        data=data, weights=weights or _default_weights(), imgsz=imgsz, epochs=epochs, time_hours=time_hours,
        batch=batch, freeze=freeze, workers=workers, project=project, name=name, device=device,
        cache=False if cache == "none" else cache, close_mosaic=close_mosaic, patience=patience,
        warmup_epochs=warmup_epochs, nbs=nbs, optimizer=optimizer, lr0=lr0,
        exist_ok=exist_ok,
    )
    run_dir = train(opts, resume=resume)
    typer.echo(f"run folder: {run_dir}")
    typer.echo(f"best weights: {run_dir / 'weights' / 'best.pt'}")


def export_command(
    weights: Path = typer.Option(..., "--weights", help="Trained checkpoint (best.pt)."),
    out: Path = typer.Option(..., "--out", help="ONNX file to write."),
    imgsz: int | None = typer.Option(None, "--imgsz", help="Input size (default: the training size)."),
    version: str | None = typer.Option(None, "--version", help="Model version (default: today's date)."),
    data: Path | None = typer.Option(
        None, "--data", help="Training dataset YAML for the data hash (default: the one in the checkpoint)."
    ),
    opset: int | None = typer.Option(None, "--opset", help="ONNX opset (default 17)."),
) -> None:
    """Export a checkpoint to ONNX for the detector, with provenance metadata."""
    from training.export import DEFAULT_OPSET, export_onnx

    meta = export_onnx(weights, out, imgsz=imgsz, version=version, data=data, opset=opset or DEFAULT_OPSET)
    size_mb = out.stat().st_size / 1e6
    typer.echo(f"wrote {out} ({size_mb:.1f} MB)")
    for key in ("names", "imgsz", "stride", "model_version", "training_date", "data_hash",
                "taxonomy_version", "license"):
        typer.echo(f"  {key}: {meta.get(key)}")


def _parse_imgsz(text: str | None) -> str | int | tuple[int, int] | None:
    """`--imgsz`: None, "auto", "512" or "288x512" (height x width)."""
    if text is None or text == "auto":
        return text
    try:
        parts = [int(v) for v in text.lower().split("x")]
    except ValueError:
        raise typer.BadParameter(f"{text!r}: use 512, 288x512 (height x width) or auto") from None
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        return (parts[0], parts[1])
    raise typer.BadParameter(f"{text!r}: use 512, 288x512 (height x width) or auto")


def evaluate_command(
    model: Path = typer.Option(..., "--model", help="ONNX model to evaluate."),
    data: Path = typer.Option(..., "--data", help="Dataset YAML."),
    split: str = typer.Option("test", "--split", help="Split to evaluate: test, val or train."),
    out: Path | None = typer.Option(None, "--out", help="Report folder (report.md, metrics.json, PNGs)."),
    threads: int = typer.Option(2, "--threads", help="onnxruntime threads."),
    iou: float = typer.Option(0.45, "--iou", help="NMS IoU threshold (the runtime's)."),
    conf: float = typer.Option(0.25, "--conf", help="Operating threshold for precision/recall."),
    speed_runs: int = typer.Option(0, "--speed-runs", help="Also time N detector calls (0: skip)."),
    imgsz: str | None = typer.Option(
        None, "--imgsz", help="Input size: 512, 288x512 (h x w), or auto (16:9 as the pipeline runs it). "
        "Default: the model's own (square) size."
    ),
    reduced_decode: bool = typer.Option(
        False, "--reduced-decode", help="Decode JPEGs as the service decodes live frames (at 1/2, 1/4...)."
    ),
    synthetic_data: Path | None = typer.Option(
        None, "--synthetic-data", help="Also evaluate this synthetic dataset's split and report it beside "
        "--data (the real images come first)."
    ),
    agreement: bool = typer.Option(
        False, "--coco-agreement", help="Also measure agreement with the COCO checkpoint on --data's images "
        "(vehicles, people, two-wheelers)."
    ),
    teacher: Path | None = typer.Option(
        None, "--teacher", help="COCO ONNX model for --coco-agreement (default: ../shared/weights/"
        "yolo11n-coco.pt exported at 640, cached)."
    ),
) -> None:
    """Evaluate an ONNX model with StreetWatch's own detector: AP50, AP50-95, P/R, confusion matrix.

    With --synthetic-data the report puts the real split (--data) first and the synthetic one beside it."""
    from training.evaluate import evaluate
    from training.report import metrics_table

    out = out or Path("runs/evaluate") / f"{model.stem}-{split}"
    size = _parse_imgsz(imgsz)
    if synthetic_data is None and not agreement:
        metrics = evaluate(model, data, split=split, out=out, threads=threads, iou=iou, conf=conf,
                           speed_runs=speed_runs, imgsz=size, reduced_decode=reduced_decode)
        typer.echo(metrics_table(metrics))
        if "latency" in metrics:
            typer.echo(json.dumps(metrics["latency"]))
        typer.echo(f"report: {out / 'report.md'}")
        return
    from training.report import write_comparison

    real = evaluate(model, data, split=split, threads=threads, iou=iou, conf=conf, speed_runs=speed_runs,
                    imgsz=size, reduced_decode=reduced_decode)
    synthetic = None
    if synthetic_data is not None:
        synthetic = evaluate(model, synthetic_data, split=split, threads=threads, iou=iou, conf=conf,
                             imgsz=size, reduced_decode=reduced_decode)
    coco = None
    if agreement:
        from tqdm import tqdm

        from detector.model import open_detector
        from training.agreement import coco_agreement
        from training.data import load_data_yaml, split_images

        if teacher is None:
            from training.export_coco import export_coco_onnx

            teacher = export_coco_onnx(640)
        images = split_images(load_data_yaml(data), split)
        coco = coco_agreement(
            open_detector(model, size, conf=conf, iou=iou, threads=threads),
            open_detector(teacher, None, conf=0.5, iou=iou, threads=threads),
            images, conf=conf, progress=lambda items: tqdm(items, desc="COCO agreement", unit="img"),
        )
    report = write_comparison(out, real, synthetic, coco)
    typer.echo(report.read_text(encoding="utf-8"))
    typer.echo(f"report: {report}")


def verifier_crops_command(
    source: list[Path] = typer.Option(
        ..., "--source", help="Labelled image folder (images/ + labels/, e.g. from `streetwatch synth`); "
        "repeat for train and val: SOURCE/../<split> is kept as the split name."
    ),
    out: Path = typer.Option(..., "--out", help="Crop dataset folder (OUT/<split>/<class>/*.jpg)."),
    model: Path | None = typer.Option(None, "--model", help="Detector proposing boxes (default: bundled)."),
    conf: float = typer.Option(0.1, "--conf", help="Detector score floor for proposals."),
    size: int = typer.Option(96, "--size", help="Crop side in pixels (the verifier's input)."),
    context: float = typer.Option(0.3, "--context", help="Surroundings per side, fraction of the box."),
) -> None:
    """Crops for the crop verifier: labelled objects, and the detector's proposals under what they are."""
    from tqdm import tqdm

    from datasets.layout import dataset_images
    from detector.errors import StreetWatchError
    from detector.model import default_model_path, open_detector
    from training.verifier_data import build_verifier_crops

    model = model or default_model_path()
    if model is None:
        raise typer.BadParameter("no bundled model: pass --model", param_hint="--model")
    detector = open_detector(model, conf=conf, iou=0.5, threads=2)
    for folder in source:
        images = folder / "images"
        if not images.is_dir():
            typer.echo(f"{folder}: no images/ folder (expected images/ and labels/)", err=True)
            raise typer.Exit(2)
        with tqdm(total=len(dataset_images(folder)), desc=f"crops {folder.name}", unit="img") as bar:
            try:
                counts = build_verifier_crops(
                    folder, out / folder.name, detector, detector.names, size=size, context=context,
                    progress=bar.update,
                )
            except StreetWatchError as exc:  # an unreadable image, a broken label line
                bar.close()
                typer.echo(str(exc), err=True)
                raise typer.Exit(2) from None
        typer.echo(f"{out / folder.name}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


def train_verifier_command(
    data: Path = typer.Option(
        ..., "--data", help="Crop dataset (train/ and val/ from `dataset verifier-crops`)."
    ),
    out: Path = typer.Option(
        Path("models/streetwatch-verifier.onnx"), "--out", help="ONNX file to write."
    ),
    weights: Path | None = typer.Option(
        None, "--weights", help="Detector checkpoint whose backbone starts the network "
        "(default models/streetwatch-yolo11n.pt)."
    ),
    imgsz: int = typer.Option(96, "--imgsz", help="Input side: the crops' size."),
    context: float = typer.Option(0.3, "--context", help="The crops' context (written into the ONNX)."),
    epochs: int = typer.Option(12, "--epochs", help="Epochs."),
    batch: int = typer.Option(64, "--batch", help="Crops per batch."),
    device: str = typer.Option("cpu", "--device", help="cpu, 0, ..."),
    project: Path = typer.Option(Path("runs/verifier"), "--project", help="Folder holding run folders."),
    version: str | None = typer.Option(None, "--version", help="Verifier version (default: today's date)."),
) -> None:
    """Train the crop verifier (YOLO11n classify) and export it to ONNX."""
    from training.ultralytics_env import REPO_ROOT
    from training.verifier_train import (
        VerifierTrainOptions,
        evaluate_verifier,
        export_verifier,
        train_verifier,
    )

    for split in ("train", "val"):
        if not (data / split).is_dir():
            hint = "make it with `streetwatch dataset verifier-crops`"
            typer.echo(f"{data}: no {split}/ folder ({hint})", err=True)
            raise typer.Exit(2)
    if weights is not None and not weights.is_file():  # a named file must exist; the default may not
        typer.echo(f"{weights}: no such checkpoint (--weights)", err=True)
        raise typer.Exit(2)
    init = weights or REPO_ROOT / "models" / "streetwatch-yolo11n.pt"
    run = train_verifier(
        VerifierTrainOptions(
            data=data, init_weights=init if init.exists() else None, imgsz=imgsz, epochs=epochs,
            batch=batch, device=device, project=project,
        )
    )
    meta = export_verifier(run / "weights" / "best.pt", out, imgsz=imgsz, context=context, version=version)
    typer.echo(f"wrote {out}: classes {meta.get('names')}, context {meta.get('crop_context')}")
    report = evaluate_verifier(out, data / "val")
    (run / "val_confusion.json").write_text(json.dumps(report, indent=1))
    typer.echo(f"val crops {report['crops']}: top-1 {report['top1']}; per class {report['per_class']}")


def distill_command(
    src: Path = typer.Argument(..., help="Dataset folder as `dataset import` writes it."),
    out: Path = typer.Option(..., "--out", "-o", help="New dataset folder (images linked, labels extended)."),
    teacher: Path | None = typer.Option(
        None, "--teacher", help="Teacher: a COCO ONNX model (default: ../shared/weights/yolo11n-coco.pt, "
        "exported at 640 and cached)."
    ),
    conf: float = typer.Option(0.4, "--conf", help="Teacher boxes kept from this score."),
    threads: int = typer.Option(2, "--threads", help="onnxruntime threads."),
) -> None:
    """Add the COCO model's person, vehicle and two-wheeler boxes to a dataset that leaves them unlabelled."""
    from tqdm import tqdm

    from training.distill import distill_dataset

    if teacher is None:
        from training.export_coco import export_coco_onnx

        teacher = export_coco_onnx(640)
    report = distill_dataset(
        src, out, teacher, conf=conf, threads=threads,
        progress=lambda items, total: tqdm(items, total=total, desc="teacher", unit="img"),
    )
    typer.echo(f"wrote {report.images} images to {out}; teacher classes: {', '.join(report.teacher_classes)}")
    for name, count in sorted(report.boxes_added.items()):
        typer.echo(f"  {name:<14} +{count} boxes")
    typer.echo(f"next: streetwatch dataset split {out} --out ...")


def verifier_effect_command(
    model: Path = typer.Option(..., "--model", help="ONNX detector whose boxes the verifier judges."),
    data: Path = typer.Option(..., "--data", help="Labelled dataset YAML (the real split first)."),
    split: str = typer.Option("test", "--split", help="Split to measure on."),
    verifier: Path | None = typer.Option(None, "--verifier", help="Verifier ONNX (default: the bundled)."),
    min_prob: float = typer.Option(0.3, "--min-prob", help="The pipeline's verifier.min_prob."),
    conf: float = typer.Option(0.25, "--conf", help="Detector operating threshold."),
    out: Path | None = typer.Option(None, "--out", help="Also write the figures as JSON here."),
) -> None:
    """Per class: precision and recall of the detector's boxes without and with the crop verifier."""
    from tqdm import tqdm

    from detector.model import open_detector
    from detector.verifier import CropVerifier, default_verifier_path
    from training.data import load_data_yaml, split_images
    from training.verifier_effect import verifier_effect

    path = verifier or default_verifier_path()
    if path is None:
        raise typer.BadParameter("no bundled verifier: pass --verifier", param_hint="--verifier")
    judge = CropVerifier(path)
    detector = open_detector(model, None, conf=conf, threads=2)
    images = split_images(load_data_yaml(data), split)
    classes = [n for n in judge.names if n in detector.names]
    result = verifier_effect(detector, judge, images, classes, min_prob=min_prob, conf=conf,
                             progress=lambda items: tqdm(items, desc="verifier", unit="img"))  # fmt: skip
    typer.echo("| class | instances | P without | R without | P with | R with |")
    typer.echo("|---|---:|---:|---:|---:|---:|")
    for name, row in result.items():
        a, b = row["without"], row["with"]
        cells = [row["instances"], a["precision"], a["recall"], b["precision"], b["recall"]]
        typer.echo(f"| {name} | " + " | ".join(str(v) for v in cells) + " |")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"verifier": str(path), "min_prob": min_prob, "classes": result}, indent=2))


def register(app: typer.Typer, bench: typer.Typer, dataset: typer.Typer) -> None:
    """Add train/export/evaluate to the root app."""
    app.command("train")(train_command)
    app.command("export")(export_command)
    app.command("evaluate")(evaluate_command)
    app.command("train-verifier")(train_verifier_command)
    app.command("verifier-effect")(verifier_effect_command)
    dataset.command("verifier-crops")(verifier_crops_command)
    dataset.command("distill")(distill_command)
