"""COCO agreement: does our model still see what the COCO checkpoint sees on real streets?

Fine-tuning on city classes can erase what the COCO-pretrained model knew about real vehicles, people
and two-wheelers, and the pipeline needs them (vehicle -> illegal parking, two-wheeler -> 09010, the
person veto). The measure: on real photos, the share of the COCO checkpoint's boxes (score >= 0.5) that
our model finds with the matching class (IoU >= 0.5) at its operating threshold; one figure per group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from training.distill import COCO_TO_TAXONOMY
from training.evaluate import box_iou


def coco_agreement(
    model: Any,
    teacher: Any,
    images: Iterable[Path],
    teacher_conf: float = 0.5,
    conf: float = 0.25,
    iou: float = 0.5,
    progress: Callable[[Iterable[Path]], Iterable[Path]] | None = None,
) -> dict[str, dict[str, float | int | None]]:
    """{group: {teacher_boxes, found, agreement}} for each group our model has a class for.

    `model` and `teacher` are `detector.model.Detector`s; our model's boxes count from `conf`."""
    import cv2

    teacher_of = {coco: ours for coco, ours in COCO_TO_TAXONOMY.items() if ours in model.names}
    ours = sorted(set(teacher_of.values()), key=list(COCO_TO_TAXONOMY.values()).index)
    boxes_total = dict.fromkeys(ours, 0)
    found = dict.fromkeys(ours, 0)
    paths = list(images)
    for path in progress(paths) if progress else paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        reference = [
            d for d in teacher.detect(image) if d.score >= teacher_conf and d.class_name in teacher_of
        ]
        if not reference:
            continue
        mine = [d for d in model.detect(image) if d.score >= conf]
        for group in ours:
            ref = [d.box for d in reference if teacher_of[d.class_name] == group]
            ref = np.array(ref, float).reshape(-1, 4)
            got = np.array([d.box for d in mine if d.class_name == group], float).reshape(-1, 4)
            boxes_total[group] += len(ref)
            if len(ref) and len(got):
                found[group] += int((box_iou(ref, got) >= iou).any(axis=1).sum())
    return {
        g: {
            "teacher_boxes": boxes_total[g],
            "found": found[g],
            "agreement": round(found[g] / boxes_total[g], 4) if boxes_total[g] else None,
        }
        for g in ours
    }
