"""Builds the live pipeline (detector.pipeline.LivePipeline) from the service settings."""

from __future__ import annotations

import logging
from typing import Any

from serve.settings import Settings, camera_mount, zone_layers

log = logging.getLogger("streetwatch.service")


def build_live_pipeline(settings: Settings, store: Any, detector: Any, config: Any) -> Any:
    """LivePipeline with the pipeline configuration `config` (Settings.pipeline), the zones
    and the camera; the detector is only used by callers that do not pass detections (the API always
    runs the model through the micro-batcher first)."""
    from detector.pipeline import LivePipeline

    pipeline = LivePipeline(
        store,
        detector,
        config=config,
        zones=zone_layers(settings),
        camera=camera_mount(settings),
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
