"""The one place a detector is built from the configuration, so that live frames, footage jobs,
`streetwatch process`, Ray workers and the benchmarks see the same detections for the same frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from detector.errors import ModelError
from detector.horizon_band import with_horizon_band
from detector.model import Detector, default_model_path, open_detector
from detector.pipeline_config import PipelineConfig


def build_detector(
    config: PipelineConfig,
    model: str | Path | None = None,
    *,
    conf: float | None = None,
    iou: float | None = None,
    imgsz: Any = None,
    threads: int | None = None,
    spin: bool | None = None,
) -> Detector:
    """The model at `model` (default: $STREETWATCH_MODEL_PATH, else the bundled one) at the configuration's
    input size and thresholds; each keyword, when given, overrides the configuration's value."""
    path = model or default_model_path()
    if path is None:
        raise ModelError(
            "no model: pass --model PATH.onnx (the bundled models/streetwatch-yolo11n.onnx is missing)"
        )
    settings = config.detector
    return open_detector(
        path,
        imgsz if imgsz is not None else settings.imgsz,
        conf=conf if conf is not None else settings.conf,
        iou=iou if iou is not None else settings.iou,
        threads=threads or settings.threads,
        spin=settings.spin if spin is None else spin,
    )


def footage_detector(detector: Any, config: PipelineConfig) -> Any:
    """What recorded footage runs: `detector` plus the horizon band's second look at far objects (when
    the configuration asks for it). Live frames run `detector` alone: the band doubles the model's work."""
    return with_horizon_band(detector, config)
