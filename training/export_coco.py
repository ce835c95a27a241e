"""Export the shared COCO YOLO checkpoint to ONNX once, cached, for tests and benchmarks.

The cache lives outside the repo (temp dir by default) and is written atomically, so parallel test
processes never see half a file. ultralytics is imported only here (through `prepare_ultralytics`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from training.ultralytics_env import coco_weights, prepare_ultralytics

DEFAULT_CACHE_DIR = Path(tempfile.gettempdir()) / "streetwatch-test-cache"


def export_coco_onnx(
    imgsz: int = 640,
    cache_dir: str | Path | None = None,
    weights: str | Path | None = None,
    dynamic: bool = True,
) -> Path:
    """Return `<cache>/<stem>-<imgsz>.onnx`, exporting `weights` (default shared yolo11n-coco.pt) if missing.

    `dynamic=True` gives a dynamic batch and input size (ultralytics' `dynamic=True`); the exported
    file carries names, imgsz, stride and version in its metadata.
    """
    src = Path(weights) if weights else coco_weights()
    if not src.exists():
        raise FileNotFoundError(f"{src}: weights not found (set STREETWATCH_SHARED?)")
    cache = Path(cache_dir) if cache_dir else Path(os.environ.get("STREETWATCH_CACHE", DEFAULT_CACHE_DIR))
    suffix = "" if dynamic else "-static"
    target = cache / f"{src.stem}-{imgsz}{suffix}.onnx"
    if target.exists():
        return target
    prepare_ultralytics()
    from ultralytics import YOLO

    work = cache / f"export-{src.stem}-{imgsz}{suffix}-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        pt = work / src.name
        shutil.copyfile(src, pt)
        out = YOLO(str(pt)).export(format="onnx", imgsz=imgsz, dynamic=dynamic, simplify=True, verbose=False)
        os.replace(out, target)  # atomic: a parallel run never sees half a file
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
