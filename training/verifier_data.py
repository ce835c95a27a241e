"""Training crops for the crop verifier (`detector.verifier`) from a labelled YOLO image folder.

Two kinds of crops, both cut by `verification_crop` exactly as serving cuts them:
- every labelled object big enough to judge, its box jittered a little (detector boxes are not exact),
  filed under its own class;
- every detection the detector makes on the image: under the class of the labelled object it covers
  (IoU >= `match_iou`; a confusion, e.g. a legally parked car read as illegal parking, is filed under
  what it really is), under `background` when it covers none (IoU < `background_iou` with every
  label), and left out in between.
The second kind are the verifier's real questions: what the detector proposes and gets wrong.

Output: `OUT/<class>/<image stem>_<n>.jpg`, the folder layout ultralytics' classify trainer reads.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from datasets.importers.yolo import label_path_for, parse_label_file
from datasets.layout import dataset_images
from detector.errors import InputError
from detector.track import box_iou
from detector.verifier import BACKGROUND, verification_crop


def _jitter(box: Sequence[float], rng: random.Random, amount: float) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    dx, dy = rng.uniform(-amount, amount) * w, rng.uniform(-amount, amount) * h
    sw, sh = 1 + rng.uniform(-amount, amount), 1 + rng.uniform(-amount, amount)
    cx, cy = (x1 + x2) / 2 + dx, (y1 + y2) / 2 + dy
    return (cx - w * sw / 2, cy - h * sh / 2, cx + w * sw / 2, cy + h * sh / 2)


def build_verifier_crops(
    source: Path,
    out: Path,
    detector,
    class_names: Sequence[str],
    size: int = 96,
    context: float = 0.3,
    min_side_px: float = 10.0,
    match_iou: float = 0.5,
    background_iou: float = 0.2,
    jitter: float = 0.08,
    seed: int = 0,
    progress=None,
) -> Counter[str]:
    """Write the crops of every image under `source/images` (labels in `source/labels`, read as
    `streetwatch dataset import` reads YOLO labels) to `out`.

    Returns the number of crops per class. `detector`: anything with `detect(image) -> [Detection]`."""
    rng = random.Random(seed)
    images = dataset_images(source)
    if not images:
        raise InputError("no images", source)
    counts: Counter[str] = Counter()
    for name in (*class_names, BACKGROUND):
        (out / name).mkdir(parents=True, exist_ok=True)

    def save(image: np.ndarray, box: Sequence[float], label: str, stem: str) -> None:
        crop = verification_crop(image, box, size, context)
        cv2.imwrite(str(out / label / f"{stem}_{counts[label]}.jpg"), crop, [cv2.IMWRITE_JPEG_QUALITY, 92])
        counts[label] += 1

    for path in images:
        image = cv2.imread(str(path))
        if image is None:
            raise InputError("not a readable image", path)
        h, w = image.shape[:2]
        label_file = label_path_for(path, source)  # none: an image without objects
        boxes = parse_label_file(label_file, list(class_names), w, h) if label_file.is_file() else []
        labels = [(b.label, (b.x1, b.y1, b.x2, b.y2)) for b in boxes]
        for name, box in labels:
            if min(box[2] - box[0], box[3] - box[1]) >= min_side_px:
                save(image, _jitter(box, rng, jitter), name, path.stem)
        for det in detector.detect(image):
            covered = ((box_iou(det.box, box), name) for name, box in labels)
            best_iou, best_name = max(covered, default=(0.0, ""))
            if best_iou >= match_iou:
                save(image, det.box, best_name, path.stem)
            elif best_iou < background_iou:
                save(image, det.box, BACKGROUND, path.stem)
        if progress is not None:
            progress(1)
    return counts
