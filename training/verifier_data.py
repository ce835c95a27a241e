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

from detector.track import box_iou
from detector.verifier import BACKGROUND, verification_crop

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def read_yolo_labels(
    path: Path, width: int, height: int
) -> list[tuple[int, tuple[float, float, float, float]]]:
    """(class id, pixel box) per line of a YOLO label file; a missing file is an image without objects."""
    if not path.exists():
        return []
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            raise ValueError(f"{path}:{n}: expected 'class cx cy w h', got {line!r}")
        cls, cx, cy, bw, bh = int(parts[0]), *map(float, parts[1:])
        out.append(
            (
                cls,
                (
                    (cx - bw / 2) * width,
                    (cy - bh / 2) * height,
                    (cx + bw / 2) * width,
                    (cy + bh / 2) * height,
                ),
            )
        )
    return out


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
    """Write the crops of every image under `source/images` (labels in `source/labels`) to `out`.

    Returns the number of crops per class. `detector`: anything with `detect(image) -> [Detection]`."""
    rng = random.Random(seed)
    images = sorted(p for p in (source / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise FileNotFoundError(f"{source / 'images'}: no images")
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
            raise ValueError(f"{path}: not a readable image")
        h, w = image.shape[:2]
        labels = read_yolo_labels(source / "labels" / (path.stem + ".txt"), w, h)
        for cls, box in labels:
            if min(box[2] - box[0], box[3] - box[1]) >= min_side_px:
                save(image, _jitter(box, rng, jitter), class_names[cls], path.stem)
        for det in detector.detect(image):
            ious = [(box_iou(det.box, box), cls) for cls, box in labels]
            best_iou, best_cls = max(ious, default=(0.0, -1))
            if best_iou >= match_iou:
                save(image, det.box, class_names[best_cls], path.stem)
            elif best_iou < background_iou:
                save(image, det.box, BACKGROUND, path.stem)
        if progress is not None:
            progress(1)
    return counts
