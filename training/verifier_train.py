"""Train the crop verifier (`detector.verifier.CropVerifier`) and export it to ONNX.

An ultralytics YOLO11n classify network on the crops of `training.verifier_data`. Its backbone starts
from the street detector's own (`models/streetwatch-yolo11n.pt`: the layers the two networks share),
so it begins knowing the street scenes rather than COCO. Augmentation is mild on purpose: the crops
are cut the way serving cuts them, so a random resized crop may take at most 20 % of the area away
and there is no auto-augment or erasing (those would cut off the context the class lives in).
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

from training.export import DEFAULT_OPSET, LICENSE, write_metadata


@dataclass
class VerifierTrainOptions:
    data: Path  # folder with train/<class>/ and val/<class>/
    init_weights: Path | None  # detector checkpoint whose shared layers start the network
    imgsz: int = 96
    epochs: int = 12
    batch: int = 64
    workers: int = 2
    project: Path = Path("runs/verifier")
    name: str = "verifier"
    device: str = "cpu"
    lr0: float = 0.01
    seed: int = 0


def train_verifier(opts: VerifierTrainOptions) -> Path:
    """Train; returns the run folder (weights/best.pt inside)."""
    from training.ultralytics_env import prepare_ultralytics

    ultralytics = prepare_ultralytics()
    model = ultralytics.YOLO("yolo11n-cls.yaml", task="classify")
    if opts.init_weights is not None:
        model.load(str(opts.init_weights))
    model.train(
        data=str(opts.data),
        imgsz=opts.imgsz,
        epochs=opts.epochs,
        batch=opts.batch,
        workers=opts.workers,
        device=opts.device,
        project=str(opts.project.resolve()),
        name=opts.name,
        exist_ok=True,
        optimizer="SGD",
        lr0=opts.lr0,
        warmup_epochs=0.5,
        scale=0.2,
        fliplr=0.5,
        auto_augment=None,
        erasing=0.0,
        plots=False,
        seed=opts.seed,
        deterministic=False,
        amp=False,
    )
    return opts.project / opts.name


def export_verifier(
    weights: Path, out: Path, imgsz: int, context: float, version: str | None = None
) -> dict[str, str]:
    """ONNX (dynamic batch) with the crop geometry it was trained on in its metadata."""
    from training.ultralytics_env import prepare_ultralytics

    ultralytics = prepare_ultralytics()
    model = ultralytics.YOLO(str(weights), task="classify")
    exported = Path(
        model.export(format="onnx", imgsz=imgsz, dynamic=True, opset=DEFAULT_OPSET, simplify=True)
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(exported), out)
    return write_metadata(
        out,
        {
            "crop_context": str(context),
            "model_version": version or dt.date.today().isoformat(),
            "license": LICENSE,
            "role": "streetwatch crop verifier",
        },
    )


def evaluate_verifier(onnx_path: Path, folder: Path, batch: int = 256) -> dict:
    """Top-1 accuracy and the confusion (true class -> predicted class -> crops) of an exported
    verifier over a crop folder (`folder/<class>/*.jpg`), through `detector.verifier.CropVerifier`:
    the runtime that serves it, not the training framework."""
    import cv2

    from detector.verifier import CropVerifier

    verifier = CropVerifier(onnx_path)
    confusion: dict[str, dict[str, int]] = {}
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(class_dir.glob("*.jpg"))
        row = confusion.setdefault(class_dir.name, {})
        for start in range(0, len(files), batch):
            crops = [cv2.imread(str(f)) for f in files[start : start + batch]]
            for probs in verifier.classify(crops):
                top = max(probs, key=probs.__getitem__)
                row[top] = row.get(top, 0) + 1
    total = sum(sum(r.values()) for r in confusion.values())
    right = sum(r.get(name, 0) for name, r in confusion.items())
    per_class = {name: round(r.get(name, 0) / max(1, sum(r.values())), 4) for name, r in confusion.items()}
    return {
        "crops": total,
        "top1": round(right / max(1, total), 4),
        "per_class": per_class,
        "confusion": confusion,
    }
