"""What the crop verifier does to the detector's boxes on a labelled split: precision and recall per
class with and without its second look, at the pipeline's operating threshold.

The pipeline asks the verifier about a track's best box and files the track only when the verifier
gives the track's class at least `min_prob`; here every detection of a checked class stands for a
track. A class whose recall the verifier lowers without raising precision is better left unchecked
(`pipeline.verifier.classes`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from training.evaluate import OPERATING_CONF, match_counts, yolo_to_xyxy


def verifier_effect(
    detector: Any,
    verifier: Any,
    images: Iterable[Path],
    classes: list[str],
    min_prob: float = 0.3,
    conf: float = OPERATING_CONF,
    progress: Callable[[Iterable[Path]], Iterable[Path]] | None = None,
) -> dict[str, dict[str, Any]]:
    """{class: {instances, without: {tp, fp, precision, recall}, with: {...}}} over `images`."""
    import cv2

    from training.data import read_labels

    names = detector.names
    stats = {c: {"instances": 0, "without": [0, 0], "with": [0, 0]} for c in classes if c in names}
    paths = list(images)
    for path in progress(paths) if progress else paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        h, w = image.shape[:2]
        gt_boxes, gt_classes = yolo_to_xyxy(read_labels(path), w, h)
        detections = [d for d in detector.detect(image) if d.score >= conf and d.class_name in stats]
        verdicts = verifier.classify([verifier.crop(image, d.box) for d in detections]) if detections else []
        for name, row in stats.items():
            truth = gt_boxes[gt_classes == names.index(name)]
            row["instances"] += len(truth)
            mine = [(d, v) for d, v in zip(detections, verdicts, strict=True) if d.class_name == name]
            kept = [(d, v) for d, v in mine if v.get(name, 0.0) >= min_prob]
            for key, group in (("without", mine), ("with", kept)):
                boxes = np.array([d.box for d, _ in group], float).reshape(-1, 4)
                scores = np.array([d.score for d, _ in group], float)
                tp, fp = match_counts(truth, boxes, scores)
                row[key][0] += tp
                row[key][1] += fp

    def figures(tp: int, fp: int, n: int) -> dict[str, Any]:
        return {
            "tp": tp, "fp": fp,
            "precision": round(tp / (tp + fp), 4) if tp + fp else None,
            "recall": round(tp / n, 4) if n else None,
        }

    return {
        name: {
            "instances": row["instances"],
            "without": figures(*row["without"], row["instances"]),
            "with": figures(*row["with"], row["instances"]),
        }
        for name, row in stats.items()
    }
