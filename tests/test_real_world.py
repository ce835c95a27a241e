"""The bundled model on real photos: what a new user tries first must come out right.

Reads real images at run time: ultralytics' sample photos (bus.jpg, zidane.jpg, installed with the
training extra) and the held-out test photos of ../shared/data/real-garbage-cn (the photo ids of the
test split are committed in datasets/examples/real-garbage-cn-test.txt; the photos never are)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector.taxonomy import default_taxonomy
from training.evaluate import box_iou

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_IDS = REPO_ROOT / "datasets" / "examples" / "real-garbage-cn-test.txt"
VIOLATIONS = {c.name for c in default_taxonomy().violation_classes}


def _asset(name: str) -> Path:
    spec = importlib.util.find_spec("ultralytics")  # located, not imported
    if spec is None or spec.origin is None:
        pytest.skip("ultralytics' sample photos not installed (training extra)")
    return Path(spec.origin).parent / "assets" / name


def _detect(image: Path) -> list[dict]:
    """`streetwatch detect IMAGE` as a user runs it: the bundled model, one JSON line."""
    run = subprocess.run(
        [str(Path(sys.executable).parent / "streetwatch"), "detect", str(image)],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.splitlines()[0])["detections"]


def _iou(a, b) -> float:
    return float(box_iou(np.array([a], float), np.array([b], float))[0, 0])


def test_the_bus_is_a_vehicle_and_the_street_has_no_violation(bundled_model_path: Path):
    detections = _detect(_asset("bus.jpg"))
    bus = [15, 230, 801, 740]  # the bus in ultralytics' bus.jpg (810x1080), as the COCO checkpoint finds it
    assert any(d["class_name"] == "vehicle" and _iou(d["box"], bus) >= 0.5 for d in detections), detections
    assert [d for d in detections if d["class_name"] in VIOLATIONS] == []


@pytest.mark.xfail(
    strict=True,
    reason="target not met by model 2.0.0: one exposed_garbage box (0.29) covers the man on the left, whose "
    "own person box covers under half of it, so the person veto keeps it (models/MODEL_CARD.md)",
)
def test_no_violation_box_lies_on_the_people_of_zidane(bundled_model_path: Path, coco_onnx_path: Path):
    from detector.model import Detector

    photo = _asset("zidane.jpg")
    coco = Detector(coco_onnx_path, conf=0.5, threads=2).detect(cv2.imread(str(photo)))
    people = [d.box for d in coco if d.class_name == "person"]  # where the COCO checkpoint sees people
    assert len(people) >= 2
    detections = _detect(photo)
    on_people = [d for d in detections if d["class_name"] in VIOLATIONS and any(_iou(d["box"], p) > 0.3
                                                                              for p in people)]  # fmt: skip
    assert on_people == []


def test_few_ordinary_bins_on_real_streets_are_called_overflowing(bundled_model_path: Path, shared_dir: Path):
    """Bins labelled `garbage_bin` (not overflowing) in the held-out real photos: at most 1 in 10 gets an
    `overflowing_bin` box from the bundled model (the model card reports the exact share)."""
    from detector.model import open_detector

    root = shared_dir / "data" / "real-garbage-cn"
    if not root.is_dir():
        pytest.skip(f"real photos not found at {root}")
    names = (root / "classes.txt").read_text().split()
    bin_id = names.index("garbage_bin")
    detector = open_detector(bundled_model_path, None, conf=0.25, threads=2)
    bins = called = 0
    for photo_id in TEST_IDS.read_text().split():
        labels = np.loadtxt(root / "labels" / f"{photo_id}.txt", ndmin=2)
        ordinary = labels[labels[:, 0] == bin_id] if labels.size else labels
        if not len(ordinary):
            continue
        image = cv2.imread(str(root / "images" / f"{photo_id}.jpg"))
        h, w = image.shape[:2]
        overflow = [d.box for d in detector.detect(image) if d.class_name == "overflowing_bin"]
        for _, cx, cy, bw, bh in ordinary:
            truth = [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h]
            bins += 1
            called += any(_iou(truth, box) >= 0.5 for box in overflow)
    assert bins >= 300
    assert called / bins <= 0.10, f"{called} of {bins} ordinary bins called overflowing"
