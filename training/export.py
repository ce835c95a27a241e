"""Export a trained checkpoint to the ONNX our `detector.model.Detector` runs, with full metadata.

Ultralytics writes names, imgsz, stride, task and its own version into the ONNX metadata; we add
what a deployment needs to know where a model came from: `model_version`, `training_date`,
`data_hash` (sha256 of the sorted training image list + labels), `taxonomy_version`, `license`.
The export is then loaded once through the Detector, so a file that our runtime cannot read never
leaves this function.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from detector.errors import InputError, ModelError

DEFAULT_OPSET = 17  # runs on onnxruntime >= 1.12; what cities' older runtimes also load
LICENSE = "AGPL-3.0"


def _checkpoint_info(weights: Path) -> dict[str, Any]:
    """Training args and date stored in an ultralytics checkpoint (without building the model)."""
    import torch

    ckpt = torch.load(str(weights), map_location="cpu", weights_only=False)
    if not isinstance(ckpt, dict):
        return {}
    return {"train_args": ckpt.get("train_args") or {}, "date": ckpt.get("date")}


def write_metadata(onnx_path: Path, extra: dict[str, str]) -> dict[str, str]:
    """Add/replace metadata_props of an ONNX file in place; returns the full metadata."""
    import onnx

    model = onnx.load(str(onnx_path))
    props = {p.key: p.value for p in model.metadata_props}
    props.update({k: str(v) for k, v in extra.items()})
    del model.metadata_props[:]
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    tmp = onnx_path.with_suffix(".tmp.onnx")
    onnx.save(model, str(tmp))
    os.replace(tmp, onnx_path)
    return props


def export_onnx(
    weights: str | Path,
    out: str | Path,
    imgsz: int | None = None,
    version: str | None = None,
    data: str | Path | None = None,
    opset: int = DEFAULT_OPSET,
    taxonomy_version: str | None = None,
) -> dict[str, str]:
    """Export `weights` (.pt) to `out` (.onnx): simplified, dynamic batch, metadata added.

    `imgsz` defaults to the training size, `data` to the training dataset YAML recorded in the
    checkpoint (used for `data_hash`). Returns the ONNX metadata as written.
    """
    from training.data import training_data_hash
    from training.ultralytics_env import prepare_ultralytics

    weights, out = Path(weights), Path(out)
    if not weights.is_file():
        raise InputError(f"{weights}: checkpoint not found")
    info = _checkpoint_info(weights)
    train_args = info.get("train_args", {})
    imgsz = int(imgsz or train_args.get("imgsz") or 640)
    data_path = Path(data) if data else (Path(train_args["data"]) if train_args.get("data") else None)
    data_hash = "unknown"
    if data_path is not None and data_path.is_file():
        data_hash = training_data_hash(data_path, "train")
    if taxonomy_version is None:
        from detector.taxonomy import load_taxonomy

        taxonomy_version = load_taxonomy().version
    training_date = str(info.get("date") or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    version = version or dt.date.today().strftime("%Y.%m.%d")

    prepare_ultralytics()
    from ultralytics import YOLO

    work = Path(tempfile.mkdtemp(prefix="streetwatch-export-"))
    try:
        pt = work / "model.pt"
        shutil.copyfile(weights, pt)  # ultralytics writes the .onnx beside the .pt
        produced = YOLO(str(pt)).export(
            format="onnx", imgsz=imgsz, dynamic=True, simplify=True, opset=opset, verbose=False
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        staged = work / "staged.onnx"
        shutil.copyfile(produced, staged)
        meta = write_metadata(
            staged,
            {
                "model_version": version,
                "training_date": training_date,
                "data_hash": data_hash,
                "taxonomy_version": taxonomy_version,
                "license": LICENSE,
                "imgsz": str([imgsz, imgsz]),
            },
        )
        from detector.model import Detector

        try:
            Detector(staged, threads=1)
        except ModelError as exc:
            raise ModelError(f"exported model does not load in the detector: {exc}") from exc
        shutil.move(staged, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return meta
