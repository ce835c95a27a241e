"""Builds the live pipeline (detector.pipeline.LivePipeline) from the service settings."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from serve.settings import Settings

log = logging.getLogger("streetwatch.service")


def zones_for(settings: Settings) -> Any:
    """The zone layers in the settings' zones folder, or None when it holds no layer yet."""
    from detector.zones import load_zones

    folder = Path(settings.zones_dir)
    if not folder.is_dir() or not any(folder.glob("*.geojson")):
        return None
    return load_zones(folder)


def pipeline_config(settings: Settings) -> Any:
    from detector.pipeline_config import load_pipeline_config

    overrides = {"taxonomy": str(settings.taxonomy)} if settings.taxonomy else None
    return load_pipeline_config(settings.pipeline_config, overrides=overrides)


def camera_for(settings: Settings) -> Any:
    if settings.camera_config is None:
        return None
    from detector.geo import load_camera_mount

    return load_camera_mount(settings.camera_config)


def build_live_pipeline(settings: Settings, store: Any, detector: Any, config: Any) -> Any:
    """LivePipeline with the pipeline configuration `config` (ServiceState.pipeline_settings), the zones
    and the camera; the detector is only used by callers that do not pass detections (the API always
    runs the model through the micro-batcher first)."""
    from detector.pipeline import LivePipeline

    pipeline = LivePipeline(
        store,
        detector,
        config=config,
        zones=zones_for(settings),
        camera=camera_for(settings),
    )
    warm_up(pipeline)
    return pipeline


def warm_up(pipeline: Any) -> None:
    """One empty frame through a throwaway vehicle: the tracker's lazy imports and first-call costs are
    paid at start-up, not by the first patrol vehicle. No detections, so nothing reaches the store."""
    from datetime import UTC, datetime

    import numpy as np

    from detector.types import FrameMeta

    meta = FrameMeta(vehicle_id="__warm_up__", frame_id="0", captured_at=datetime.now(UTC))
    try:
        pipeline.process_detections(np.zeros((64, 64, 3), np.uint8), meta, [])
        pipeline.flush(vehicle_id="__warm_up__")
    except Exception:  # noqa: BLE001 - a warm-up must never stop the service
        log.warning("live pipeline warm-up failed", exc_info=True)
