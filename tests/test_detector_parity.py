"""Our ONNX detector finds what ultralytics predict finds on the .pt: same classes, boxes and scores."""

from __future__ import annotations

import numpy as np
import pytest

from detector.model import Detector
from detector.types import Detection

pytest.importorskip("torch", reason="parity needs the train extra (torch + ultralytics)")

CONF, IOU = 0.25, 0.7  # ultralytics' predict defaults


def _iou(a: Detection, b: Detection) -> float:
    iw = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    ih = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = iw * ih
    return inter / (a.area + b.area - inter) if inter > 0 else 0.0


def _match(ours: list[Detection], theirs: list[Detection]) -> tuple[list[tuple], list, list]:
    """Greedy one-to-one matching by IoU within each class, highest scores first."""
    pairs, left = [], list(theirs)
    unmatched_ours = []
    for d in sorted(ours, key=lambda d: -d.score):
        same = [t for t in left if t.class_id == d.class_id]
        best = max(same, key=lambda t: _iou(d, t), default=None)
        if best is not None and _iou(d, best) > 0.5:
            pairs.append((d, best))
            left.remove(best)
        else:
            unmatched_ours.append(d)
    return pairs, unmatched_ours, left


@pytest.fixture(scope="module")
def frames(shared_dir):
    import cv2

    from training.reference_predict import reference_images

    assets = reference_images()
    bus = cv2.imread(str(assets["bus.jpg"]))
    zidane = cv2.imread(str(assets["zidane.jpg"]))
    return {
        "bus.jpg": bus,
        "zidane.jpg": zidane,
        "333x517": cv2.resize(bus[200:900, 0:810], (517, 333)),
        "1280x720": cv2.resize(zidane, (1280, 720)),
        "97x1500": cv2.resize(bus[300:1000, 30:260], (97, 1500)),
        "1500x97 street strip": cv2.resize(bus[380:920, :], (1500, 97)),
    }


@pytest.fixture(scope="module")
def both(shared_dir, coco_onnx_path, frames):
    from training.reference_predict import ReferencePredictor

    reference = ReferencePredictor(shared_dir / "weights" / "yolo11n-coco.pt", imgsz=640, conf=CONF, iou=IOU)
    detector = Detector(coco_onnx_path, conf=CONF, iou=IOU)
    names = list(frames)
    images = [frames[n] for n in names]
    return names, detector.detect_batch(images), reference.predict(images)


def test_same_detections_as_ultralytics_predict(both):
    names, ours_all, theirs_all = both
    total = 0
    for name, ours, theirs in zip(names, ours_all, theirs_all, strict=True):
        pairs, only_ours, only_theirs = _match(ours, theirs)
        # a box may only be missing on one side if its score sits at the threshold
        for d in only_ours + only_theirs:
            assert d.score < CONF + 0.02, f"{name}: unmatched {d}"
        for d, t in pairs:
            assert d.class_name == t.class_name
            assert _iou(d, t) >= 0.98, f"{name}: {d.box} vs {t.box}"
            assert abs(d.score - t.score) <= 0.02, f"{name}: {d.score} vs {t.score}"
        total += len(pairs)
    assert total >= 15  # the comparison must cover real detections, not empty lists
    assert {d.class_name for d in ours_all[0]} >= {"bus", "person"}  # bus.jpg


def test_batch_equals_one_by_one(coco_onnx_path, frames):
    detector = Detector(coco_onnx_path, conf=CONF, iou=IOU)
    images = list(frames.values())
    batch = detector.detect_batch(images)
    for image, dets in zip(images, batch, strict=True):
        single = detector.detect(image)
        assert len(single) == len(dets)
        for a, b in zip(single, dets, strict=True):
            assert a.class_id == b.class_id
            np.testing.assert_allclose(a.box, b.box, atol=0.05)
            assert abs(a.score - b.score) < 1e-3
