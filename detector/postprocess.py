"""Decode YOLO detection output and run class-aware NMS, vectorised in numpy.

Follows ultralytics' `non_max_suppression` for single-label detection: candidates whose best class
score exceeds `conf`, boxes xywh -> xyxy, sorted by score, at most `max_nms` into NMS, classes kept
apart by offsetting boxes by `class_id * max_wh` (one NMS call for all classes), at most `max_det`
kept, boxes mapped back through the letterbox and clipped to the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detector.preprocess import LetterboxParams
from detector.types import Detection

MAX_WH = 7680  # class offset in pixels, larger than any input canvas
MAX_NMS = 30000  # boxes entering NMS at most (ultralytics' default)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS: indices of kept boxes, by decreasing score (torchvision.ops.nms semantics).

    A box is suppressed when its IoU with a kept, higher-scoring box is greater than `iou_threshold`.
    One vectorised IoU computation per *kept* box; nothing loops over suppressed boxes.
    """
    if boxes.shape[0] == 0:
        return np.empty((0,), dtype=np.int64)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size > 0:
        i = order[0]
        keep.append(int(i))
        if order.size == 1:
            break
        rest = order[1:]
        w = np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest])
        h = np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest])
        inter = np.clip(w, 0, None) * np.clip(h, 0, None)
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-12)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def decode_one(
    pred: np.ndarray,
    conf: float,
    iou: float,
    max_det: int = 300,
    agnostic: bool = False,
) -> np.ndarray:
    """One image's raw output (4+nc, N) -> kept rows (K, 6): x1, y1, x2, y2, score, class_id (canvas px)."""
    class_scores = pred[4:]
    best = class_scores.max(axis=0)
    candidates = np.flatnonzero(best > conf)
    if candidates.size == 0:
        return np.empty((0, 6), dtype=np.float32)
    scores = best[candidates]
    class_ids = class_scores[:, candidates].argmax(axis=0)
    if candidates.size > MAX_NMS:
        top = np.argsort(-scores, kind="stable")[:MAX_NMS]
        candidates, scores, class_ids = candidates[top], scores[top], class_ids[top]
    cx, cy, w, h = pred[0, candidates], pred[1, candidates], pred[2, candidates], pred[3, candidates]
    boxes = np.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), axis=1)
    offset = 0.0 if agnostic else (class_ids.astype(np.float32) * MAX_WH)[:, None]
    keep = nms(boxes + offset, scores, iou)[:max_det]
    out = np.empty((keep.size, 6), dtype=np.float32)
    out[:, :4] = boxes[keep]
    out[:, 4] = scores[keep]
    out[:, 5] = class_ids[keep]
    return out


def decode_end2end_one(pred: np.ndarray, conf: float, max_det: int = 300) -> np.ndarray:
    """One image's NMS-free output (max_det, 6: x1, y1, x2, y2, score, class) -> rows above `conf`."""
    rows = pred[pred[:, 4] > conf][:max_det]
    return np.ascontiguousarray(rows[:, :6], dtype=np.float32)


def to_detections(rows: np.ndarray, params: LetterboxParams, names: Sequence[str]) -> list[Detection]:
    """Map kept rows from canvas to original-image pixels and build Detection objects."""
    if rows.shape[0] == 0:
        return []
    boxes = params.to_original(rows[:, :4].astype(np.float64))
    n = len(names)
    out = []
    scores, classes = rows[:, 4].tolist(), rows[:, 5].tolist()
    for (x1, y1, x2, y2), score, cls in zip(boxes.tolist(), scores, classes, strict=True):
        cid = int(cls)
        out.append(Detection(x1, y1, x2, y2, score, cid, names[cid] if cid < n else str(cid)))
    return out


def postprocess(
    raw: np.ndarray,
    params: Sequence[LetterboxParams],
    names: Sequence[str],
    conf: float = 0.25,
    iou: float = 0.45,
    max_det: int = 300,
    end2end: bool = False,
    agnostic: bool = False,
) -> list[list[Detection]]:
    """Raw batch output -> detections per image, in original-image pixels.

    `raw` is (B, 4+nc, N) for standard YOLO heads (v8/11) or (B, max_det, 6) for end-to-end heads.
    """
    if raw.shape[0] != len(params):
        raise ValueError(f"output batch {raw.shape[0]} does not match {len(params)} letterbox params")
    results = []
    for pred, p in zip(raw, params, strict=True):
        if end2end:
            rows = decode_end2end_one(pred, conf, max_det)
        else:
            rows = decode_one(pred, conf, iou, max_det, agnostic)
        results.append(to_detections(rows, p, names))
    return results
