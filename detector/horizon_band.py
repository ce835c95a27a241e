"""A second look at the horizon: the detector run again on the band of the frame where far objects are.

Seen from a patrol car, a stall or a bin down the street sits in a horizontal band around the horizon
and is small there: 8-40 px tall in a 720p frame, 3-16 px at the 288x512 model input, where the model
finds few of them (AP50 0.06-0.38 under 32x32 px, docs/training.md). The band (by default rows 28-58 %
of the frame) is run through the same model at 160x896, i.e. at 0.7 of its original size instead of
0.4: the far objects are 1.75 times larger to the model. Its detections are moved into frame
coordinates and merged with the full frame's: a band box that touches the band's top or bottom edge
is an object the band cut (the full frame sees it whole) and is dropped; a band box of the same class
as a full-frame box that it overlaps (IoU >= 0.5, or >= 0.7 of the smaller box) is the same object, and
the higher score is kept.

Written here rather than taken from SAHI (sliced inference): SAHI wraps its own model classes and
tiles the whole frame; this is one band, one extra model call on our ONNX `Detector`, and a merge of
two lists. It doubles the model's work per frame, so recorded footage uses it and the live service
does not (docs/pipeline.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from detector.types import Detection

log = logging.getLogger(__name__)

EDGE_PX = 3.0  # a band box this close to the band's top or bottom edge was cut by the band
SAME_OBJECT_IOU = 0.5
SAME_OBJECT_IOS = 0.7  # intersection over the smaller box: a band box inside a larger full-frame box


def band_rows(height: int, top: float, bottom: float) -> tuple[int, int]:
    """The band's first row and its height, in pixels of an image `height` rows tall."""
    y0 = int(round(top * height))
    y1 = max(y0 + 1, int(round(bottom * height)))
    return y0, y1 - y0


def _overlap(a: Detection, b: Detection) -> tuple[float, float]:
    """(IoU, intersection over the smaller box)."""
    iw = min(a.x2, b.x2) - max(a.x1, b.x1)
    ih = min(a.y2, b.y2) - max(a.y1, b.y1)
    if iw <= 0 or ih <= 0:
        return 0.0, 0.0
    inter = iw * ih
    area_a, area_b = a.area, b.area
    return inter / (area_a + area_b - inter), inter / max(1e-9, min(area_a, area_b))


def merge_band_detections(
    full: list[Detection], band: list[Detection], y0: float, band_height: float
) -> list[Detection]:
    """The full frame's detections plus the band's (in band coordinates, rows from `y0`) that are new.

    A band box touching the band's top or bottom edge is dropped; one that overlaps a same-class box
    already kept replaces it when it scores higher, and is dropped otherwise."""
    kept = list(full)
    for det in band:
        if det.y1 <= EDGE_PX or det.y2 >= band_height - EDGE_PX:
            continue
        moved = Detection(det.x1, det.y1 + y0, det.x2, det.y2 + y0, det.score, det.class_id, det.class_name)
        for i, other in enumerate(kept):
            if other.class_id != moved.class_id:
                continue
            iou, ios = _overlap(other, moved)
            if iou >= SAME_OBJECT_IOU or ios >= SAME_OBJECT_IOS:
                if moved.score > other.score:
                    kept[i] = moved
                break
        else:
            kept.append(moved)
    return kept


class BandedDetector:
    """`full` on whole frames, `band` on each frame's horizon band, merged (a FrameDetector).

    `path`, `conf`, `iou` and `names` are the full detector's; `imgsz` names both inputs and the band,
    so that a detections cache written without the band is not reused with it (detector.pipeline)."""

    def __init__(self, full: Any, band: Any, top: float, bottom: float) -> None:
        self.full = full
        self.band = band
        self.top = top
        self.bottom = bottom

    def __getattr__(self, name: str) -> Any:  # path, conf, iou, names, ...
        return getattr(self.full, name)

    @property
    def imgsz(self) -> str:
        full_hw = getattr(self.full, "imgsz", "")
        band_hw = getattr(self.band, "imgsz", "")
        return f"{full_hw}+band{band_hw}@{self.top:g}-{self.bottom:g}"

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        if len(images) == 0:
            return []
        full = self.full.detect_batch(images)
        rows = [band_rows(image.shape[0], self.top, self.bottom) for image in images]
        crops = [np.ascontiguousarray(im[y0 : y0 + h]) for im, (y0, h) in zip(images, rows, strict=True)]
        band = self.band.detect_batch(crops)
        return [
            merge_band_detections(f, b, y0, h) for f, b, (y0, h) in zip(full, band, rows, strict=True)
        ]


def with_horizon_band(detector: Any, config: Any) -> Any:
    """`detector` wrapped with a band pass of the same model, as the pipeline configuration `config`
    asks (`horizon_band`; None: no band). A model with a fixed input size cannot run the band's shape:
    it is used alone, with a warning."""
    settings = config.horizon_band
    if settings is None:
        return detector
    from detector.errors import FixedInputSize
    from detector.model import Detector

    try:
        band = Detector(
            detector.path,
            imgsz=tuple(settings.imgsz),
            conf=detector.conf,
            iou=detector.iou,
            threads=getattr(detector, "threads", None) or config.detector.threads,
            spin=config.detector.spin,
        )
    except FixedInputSize:
        log.warning("%s has a fixed input size: no horizon band pass", detector.path)
        return detector
    return BandedDetector(detector, band, settings.top, settings.bottom)
