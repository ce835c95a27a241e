"""Shared test fixtures. Keep additions small and generic; area-specific fixtures live in their tests."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = Path(tempfile.gettempdir()) / "streetwatch-test-cache"

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(REPO_ROOT / ".cache" / "ultralytics"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = Path(os.environ.get("STREETWATCH_SHARED", REPO_ROOT.parent / "shared"))
    if not (path / "weights").is_dir():
        pytest.skip(f"shared weights not found at {path}")
    return path


def _export_coco_onnx(shared: Path, imgsz: int) -> Path:
    """Export ../shared/weights/yolo11n-coco.pt to ONNX once, cached under the temp dir."""
    from training.export_coco import export_coco_onnx

    return export_coco_onnx(imgsz, cache_dir=CACHE_DIR, weights=shared / "weights" / "yolo11n-coco.pt")


@pytest.fixture(scope="session")
def coco_onnx_path(shared_dir: Path) -> Path:
    """YOLO11n COCO exported by ultralytics to ONNX (dynamic batch/size, input 640)."""
    return _export_coco_onnx(shared_dir, 640)


@pytest.fixture(scope="session")
def bundled_model_path() -> Path:
    """The project's own trained model, committed under models/."""
    path = REPO_ROOT / "models" / "streetwatch-yolo11n.onnx"
    if not path.exists():
        pytest.skip("bundled model models/streetwatch-yolo11n.onnx not trained yet")
    return path
