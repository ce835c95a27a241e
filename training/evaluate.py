"""Evaluate OUR ONNX detector (`detector.model.Detector`, not ultralytics val) on a dataset split.

- AP50 and AP50-95 per class by the COCO method (pycocotools: 101-point interpolated precision,
  IoU 0.50:0.05:0.95, up to 100 detections per image), from detections at a low confidence (0.001).
- Precision and recall at the operating threshold (conf 0.25, the runtime default) with IoU >= 0.5,
  one-to-one matching by decreasing score.
- A confusion matrix with a background row/column (rows: true class, columns: predicted class).
- PR curves (IoU 0.5) as PNG, `metrics.json` and `report.md` (see training.report).

Conversions to pycocotools' dicts happen only in `coco_ap`; inside, one `ImageResult` per image.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detector.errors import InputError

AP_CONF = 0.001
OPERATING_CONF = 0.25
MATCH_IOU = 0.5
CONFUSION_IOU = 0.45
HARD_NEGATIVES = (("waste_bin", "overflowing_bin"),)  # (compliant look-alike, violation)


@dataclass
class ImageResult:
    """Ground truth and detections of one image, boxes xyxy in pixels."""

    image_id: int
    width: int
    height: int
    gt_boxes: np.ndarray  # (n, 4)
    gt_classes: np.ndarray  # (n,) int
    det_boxes: np.ndarray  # (m, 4)
    det_scores: np.ndarray  # (m,)
    det_classes: np.ndarray  # (m,) int


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of xyxy boxes."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(br - tl, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def yolo_to_xyxy(labels: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 5) [class, cx, cy, w, h] normalised -> (boxes xyxy pixels, classes)."""
    if len(labels) == 0:
        return np.zeros((0, 4)), np.zeros((0,), dtype=int)
    cx, cy, w, h = (labels[:, i] for i in range(1, 5))
    boxes = np.stack(
        [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height], 1
    )
    return boxes, labels[:, 0].astype(int)


# --- COCO AP -----------------------------------------------------------------------------------
# COCO's object sizes, by box area in original-image pixels, plus "medium_up" (at least 32x32 px:
# what an inspector can still judge in a 720p frame). AP in a size range ignores the ground truth and
# the unmatched detections outside it (pycocotools' area ranges, both ends included, as counted here).
SIZE_RANGES: dict[str, tuple[float, float]] = {
    "small": (0.0, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e10),
    "medium_up": (32.0**2, 1e10),
}


def coco_ap(results: list[ImageResult], num_classes: int) -> dict[str, Any]:
    """Per-class AP50, AP50-95 and the IoU-0.5 PR curve (101 recall points), COCO method; AP50 per
    object size (`SIZE_RANGES`).

    Classes without ground truth (in a size range) get None. Returns {"ap50": [...], "ap50_95": [...],
    "recall_points": [...], "pr50": [[...] per class], "ap50_by_size": {size: [...] per class}}.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    recall_points = np.linspace(0.0, 1.0, 101)
    empty = {
        "ap50": [None] * num_classes,
        "ap50_95": [None] * num_classes,
        "recall_points": recall_points.tolist(),
        "pr50": [[0.0] * 101 for _ in range(num_classes)],
        "ap50_by_size": {size: [None] * num_classes for size in SIZE_RANGES},
    }
    images, annotations, detections = [], [], []
    for r in results:
        images.append({"id": r.image_id, "width": r.width, "height": r.height})
        for box, cls in zip(r.gt_boxes, r.gt_classes, strict=True):
            w, h = float(box[2] - box[0]), float(box[3] - box[1])
            annotations.append({
                "id": len(annotations) + 1, "image_id": r.image_id, "category_id": int(cls),
                "bbox": [float(box[0]), float(box[1]), w, h], "area": w * h, "iscrowd": 0,
            })
        for box, score, cls in zip(r.det_boxes, r.det_scores, r.det_classes, strict=True):
            detections.append({
                "image_id": r.image_id, "category_id": int(cls), "score": float(score),
                "bbox": [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])],
            })
    if not annotations:
        return empty
    gt_dict = {
        "images": images, "annotations": annotations,
        "categories": [{"id": k, "name": str(k)} for k in range(num_classes)],
    }
    gt_has_class = {a["category_id"] for a in annotations}
    if not detections:
        out = dict(empty)
        out["ap50"] = [0.0 if k in gt_has_class else None for k in range(num_classes)]
        out["ap50_95"] = list(out["ap50"])
        out["ap50_by_size"] = {
            size: [
                0.0 if any(a["category_id"] == k and lo <= a["area"] <= hi for a in annotations) else None
                for k in range(num_classes)
            ]
            for size, (lo, hi) in SIZE_RANGES.items()
        }
        return out
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = gt_dict
        gt.createIndex()
        dt = gt.loadRes(detections)
        ev = COCOeval(gt, dt, iouType="bbox")
        ev.params.catIds = list(range(num_classes))
        ev.params.areaRng = [[0.0, 1e10], *(list(r) for r in SIZE_RANGES.values())]
        ev.params.areaRngLbl = ["all", *SIZE_RANGES]
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"]  # [T iou, R recall, K class, A area, M maxdets]
    ap50, ap5095, pr50 = [], [], []
    for k in range(num_classes):
        p_all = precision[:, :, k, 0, -1]
        p50 = precision[0, :, k, 0, -1]
        if k not in gt_has_class:
            ap50.append(None)
            ap5095.append(None)
            pr50.append([0.0] * 101)
            continue
        ap50.append(float(np.mean(np.clip(p50, 0, None))))
        ap5095.append(float(np.mean(np.clip(p_all, 0, None))))
        pr50.append(np.clip(p50, 0, None).tolist())
    by_size: dict[str, list[float | None]] = {}
    for a, size in enumerate(SIZE_RANGES, start=1):
        row: list[float | None] = []
        for k in range(num_classes):
            p50 = precision[0, :, k, a, -1]
            row.append(None if np.all(p50 < 0) else float(np.mean(np.clip(p50, 0, None))))
        by_size[size] = row
    return {
        "ap50": ap50,
        "ap50_95": ap5095,
        "recall_points": recall_points.tolist(),
        "pr50": pr50,
        "ap50_by_size": by_size,
    }


def instances_by_size(results: list[ImageResult], class_id: int) -> dict[str, int]:
    """Ground-truth boxes of one class per size range (`SIZE_RANGES`, box area in pixels)."""
    areas = [
        float((box[2] - box[0]) * (box[3] - box[1]))
        for r in results
        for box, cls in zip(r.gt_boxes, r.gt_classes, strict=True)
        if int(cls) == class_id
    ]
    return {size: sum(lo <= a <= hi for a in areas) for size, (lo, hi) in SIZE_RANGES.items()}


# --- operating point ---------------------------------------------------------------------------
def match_counts(
    truth: np.ndarray, boxes: np.ndarray, scores: np.ndarray, iou: float = MATCH_IOU
) -> tuple[int, int]:
    """(true positives, false positives) of `boxes` against `truth` (one class, one image), matched
    one-to-one by decreasing score, each to the unmatched truth box it overlaps most at IoU >= `iou`."""
    if len(boxes) == 0:
        return 0, 0
    order = np.argsort(-scores, kind="stable")
    taken = np.zeros(len(truth), dtype=bool)
    tp = 0
    for row in box_iou(boxes[order], truth):
        candidates = np.where(~taken & (row >= iou))[0]
        if len(candidates):
            taken[candidates[np.argmax(row[candidates])]] = True
            tp += 1
    return tp, len(boxes) - tp


def operating_point(
    results: list[ImageResult], num_classes: int, conf: float = OPERATING_CONF, iou: float = MATCH_IOU
) -> dict[str, list]:
    """Per-class TP, FP, FN, precision and recall of the detections with score >= conf."""
    tp = np.zeros(num_classes, dtype=int)
    fp = np.zeros(num_classes, dtype=int)
    n_gt = np.zeros(num_classes, dtype=int)
    for r in results:
        keep = r.det_scores >= conf
        boxes, scores, classes = r.det_boxes[keep], r.det_scores[keep], r.det_classes[keep]
        for k in range(num_classes):
            g = r.gt_boxes[r.gt_classes == k]
            n_gt[k] += len(g)
            sel = classes == k
            hits, misses = match_counts(g, boxes[sel], scores[sel], iou)
            tp[k] += hits
            fp[k] += misses
    fn = n_gt - tp
    precision = [float(t / (t + f)) if t + f else None for t, f in zip(tp, fp, strict=True)]
    recall = [float(t / g) if g else None for t, g in zip(tp, n_gt, strict=True)]
    return {
        "tp": tp.tolist(), "fp": fp.tolist(), "fn": fn.tolist(), "instances": n_gt.tolist(),
        "precision": precision, "recall": recall,
    }


def confusion_matrix(
    results: list[ImageResult], num_classes: int, conf: float = OPERATING_CONF, iou: float = CONFUSION_IOU
) -> np.ndarray:
    """(nc+1, nc+1) counts; rows true class, columns predicted class; index nc = background.

    Each detection (score >= conf) is paired with at most one ground-truth box of any class
    (highest IoU first, IoU > `iou`); unpaired ground truth counts as missed (background column),
    unpaired detections as false alarms (background row).
    """
    bg = num_classes
    matrix = np.zeros((num_classes + 1, num_classes + 1), dtype=int)
    for r in results:
        keep = r.det_scores >= conf
        d_boxes, d_cls = r.det_boxes[keep], r.det_classes[keep]
        ious = box_iou(r.gt_boxes, d_boxes)
        gi, di = np.where(ious > iou)
        order = np.argsort(-ious[gi, di], kind="stable")
        gt_used = np.zeros(len(r.gt_boxes), dtype=bool)
        det_used = np.zeros(len(d_boxes), dtype=bool)
        for g, d in zip(gi[order], di[order], strict=True):
            if gt_used[g] or det_used[d]:
                continue
            gt_used[g] = det_used[d] = True
            matrix[r.gt_classes[g], d_cls[d]] += 1
        for g in np.where(~gt_used)[0]:
            matrix[r.gt_classes[g], bg] += 1
        for d in np.where(~det_used)[0]:
            matrix[bg, d_cls[d]] += 1
    return matrix


def hard_negative_rate(
    results: list[ImageResult],
    negative: int,
    positive: int,
    conf: float = OPERATING_CONF,
    iou: float = MATCH_IOU,
) -> dict[str, float | int | None]:
    """How often a true `negative` object (an ordinary bin) also gets a `positive` box (overflowing) at
    the operating threshold, IoU >= `iou`, whatever else was detected on it: the false alarms an
    inspector would see for compliant objects."""
    total = called = 0
    for r in results:
        truth = r.gt_boxes[r.gt_classes == negative]
        keep = (r.det_scores >= conf) & (r.det_classes == positive)
        total += len(truth)
        if len(truth) and keep.any():
            called += int((box_iou(truth, r.det_boxes[keep]) >= iou).any(axis=1).sum())
    return {"objects": total, "called": called, "rate": round(called / total, 4) if total else None}


# --- running the detector ----------------------------------------------------------------------
def _read_for_detection(path: Path, detector: Any, reduced_decode: bool) -> tuple[Any, int, int, int]:
    """(pixels, scale, width, height): the full image, or with `reduced_decode` a JPEG decoded only as
    large as the detector needs, as the service decodes live frames (detector.decode)."""
    import cv2

    if not reduced_decode:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise InputError(f"{path}: unreadable image")
        return img, 1, int(img.shape[1]), int(img.shape[0])
    from detector.decode import decode_for_detection, read_header

    data = path.read_bytes()
    try:
        fmt, width, height = read_header(data)
    except ValueError:
        raise InputError(f"{path}: unreadable image") from None
    decoded = decode_for_detection(data, width, height, fmt == "JPEG", tuple(detector.imgsz))
    if decoded is None:
        raise InputError(f"{path}: unreadable image")
    return decoded.pixels, decoded.scale, decoded.width, decoded.height


def collect_results(
    detector: Any,
    images: list[Path],
    progress: bool = True,
    reduced_decode: bool = False,
    label_map: dict[int, int] | None = None,
) -> list[ImageResult]:
    """Run the detector over the images and pair each with its YOLO labels. `label_map`: dataset class
    id -> model class id, for a dataset whose classes differ from the model's (labels of classes the
    model does not have are left out)."""
    from tqdm import tqdm

    from training.data import read_labels

    results = []
    for idx, path in enumerate(tqdm(images, desc="evaluate", unit="img", disable=not progress)):
        img, scale, w, h = _read_for_detection(path, detector, reduced_decode)
        gt_boxes, gt_classes = yolo_to_xyxy(read_labels(path), w, h)
        if label_map is not None:
            keep = np.array([int(c) in label_map for c in gt_classes], dtype=bool)
            gt_boxes = gt_boxes[keep]
            gt_classes = np.array([label_map[int(c)] for c in gt_classes[keep]], dtype=int)
        dets = [d.scaled(scale) for d in detector.detect(img)]
        results.append(ImageResult(
            image_id=idx + 1, width=w, height=h, gt_boxes=gt_boxes, gt_classes=gt_classes,
            det_boxes=np.array([d.box for d in dets], dtype=float).reshape(-1, 4),
            det_scores=np.array([d.score for d in dets], dtype=float),
            det_classes=np.array([d.class_id for d in dets], dtype=int),
        ))
    return results


def measure_latency(detector: Any, images: list[Path], runs: int = 30, warmup: int = 3) -> dict[str, float]:
    """Median/p90 wall time of `detector.detect` (preprocess + ONNX + NMS) on real frames, in ms."""
    import cv2

    if not images:
        raise InputError("no images to time the detector on")
    frames = [cv2.imread(str(p)) for p in images[: max(1, min(len(images), 10))]]
    for i in range(warmup):
        detector.detect(frames[i % len(frames)])
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        detector.detect(frames[i % len(frames)])
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 2),
        "p90_ms": round(times[int(0.9 * (len(times) - 1))], 2),
        "runs": runs,
        "threads": detector.threads,
        "frame_size": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
    }


def evaluate(
    model: str | Path,
    data: str | Path,
    split: str = "test",
    out: str | Path | None = None,
    threads: int | None = 2,
    iou: float = 0.45,
    conf: float = OPERATING_CONF,
    speed_runs: int = 0,
    progress: bool = True,
    imgsz: str | int | tuple[int, int] | None = None,
    reduced_decode: bool = False,
) -> dict[str, Any]:
    """Evaluate an ONNX model on a split; writes metrics.json, report.md and PNGs to `out` if given.

    `imgsz` as `detector.model.open_detector` takes it (None: the model's metadata size, "auto": the
    16:9 input the pipeline and service use); `reduced_decode`: JPEGs decoded as the service decodes
    live frames."""
    from detector.model import open_detector
    from training.data import class_names, load_data_yaml, split_images

    data_cfg = load_data_yaml(data)
    images = split_images(data_cfg, split)
    if not images:
        raise InputError(f"{data}: split '{split}' has no images")
    detector = open_detector(model, imgsz, conf=AP_CONF, iou=iou, threads=threads)
    names = detector.names
    data_names = class_names(data_cfg)
    label_map = None
    if data_names != names:
        shared = [n for n in data_names if n in names]
        if not shared:
            raise InputError(f"{data}: dataset classes {data_names} share none with the model's {names}")
        label_map = {data_names.index(n): names.index(n) for n in shared}  # by name, the rest left out
    t0 = time.perf_counter()
    results = collect_results(
        detector, images, progress=progress, reduced_decode=reduced_decode, label_map=label_map
    )
    elapsed = time.perf_counter() - t0
    nc = len(names)
    ap = coco_ap(results, nc)
    op = operating_point(results, nc, conf=conf)
    cm = confusion_matrix(results, nc, conf=conf)
    have = [k for k in range(nc) if ap["ap50"][k] is not None]
    metrics: dict[str, Any] = {
        "model": str(model),
        "model_metadata": {k: v for k, v in detector.metadata.items() if k != "args"},
        "data": str(data),
        "split": split,
        "images": len(images),
        "dataset_classes_not_in_model": [n for n in data_names if n not in names],
        "imgsz": list(detector.imgsz),
        "decode": "reduced, as the service decodes live JPEGs" if reduced_decode else "full",
        "nms_iou": iou,
        "operating_conf": conf,
        "ap_conf": AP_CONF,
        "classes": [
            {
                "id": k, "name": names[k], "instances": op["instances"][k],
                "ap50": ap["ap50"][k], "ap50_95": ap["ap50_95"][k],
                "precision": op["precision"][k], "recall": op["recall"][k],
                "tp": op["tp"][k], "fp": op["fp"][k], "fn": op["fn"][k],
                "ap50_by_size": {size: ap["ap50_by_size"][size][k] for size in SIZE_RANGES},
                "instances_by_size": instances_by_size(results, k),
            }
            for k in range(nc)
        ],
        "map50": float(np.mean([ap["ap50"][k] for k in have])) if have else None,
        "map50_95": float(np.mean([ap["ap50_95"][k] for k in have])) if have else None,
        "confusion_matrix": {"labels": [*names, "background"], "rows_true_cols_pred": cm.tolist()},
        "pr_curves": {"recall": ap["recall_points"], "precision_iou50": ap["pr50"]},
        "hard_negatives": {
            f"{neg}->{pos}": hard_negative_rate(results, names.index(neg), names.index(pos), conf=conf)
            for neg, pos in HARD_NEGATIVES
            if neg in names and pos in names
        },
        "eval_seconds_per_image": round(elapsed / len(images), 4),
    }
    if speed_runs:
        timing = open_detector(model, imgsz, conf=conf, iou=iou, threads=threads)
        metrics["latency"] = measure_latency(timing, images, runs=speed_runs)
    if out is not None:
        from training.report import write_report

        write_report(metrics, Path(out))
    return metrics

