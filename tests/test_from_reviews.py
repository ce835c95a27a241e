"""`streetwatch dataset from-reviews`: inspectors' decisions -> a YOLO dataset the training import reads."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from api_support import LAT0, LON0, REPO_ROOT, make_event

from detector.events import encode_evidence
from detector.pipeline_config import EvidenceSettings
from detector.types import Detection

OBJECT_BOX = (200.0, 120.0, 330.0, 260.0)
OBJECT_BGR = (20, 200, 240)


def event_with_real_crop(
    key: str, class_name: str, code: str, class_id: int, north: float, box=OBJECT_BOX, live: bool = False
):
    """An event whose evidence is cut the way the pipeline cuts it, from a frame with one coloured object.
    `live`: as from a live upload, the original JPEG kept and no evidence drawn yet."""
    frame = np.full((360, 640, 3), 90, np.uint8)
    x1, y1, x2, y2 = (int(v) for v in box)
    cv2.rectangle(frame, (x1, y1), (x2 - 1, y2 - 1), OBJECT_BGR, -1)
    det = Detection(*box, 0.9, class_id, class_name)
    base = make_event(key, class_name, code, LAT0 + north, LON0, class_id=class_id)
    if live:
        original = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
        return dataclasses.replace(
            base, detection=det, evidence_jpeg=None, crop_jpeg=None, frame_jpeg=original
        )
    evidence, crop = encode_evidence(frame, det, EvidenceSettings())
    return dataclasses.replace(base, detection=det, evidence_jpeg=evidence, crop_jpeg=crop)


@pytest.fixture
def reviewed_store(tmp_path: Path) -> Path:
    from serve.store import CaseStore

    data = tmp_path / "data"
    store = CaseStore.open(f"sqlite:///{data / 'streetwatch.db'}", str(data / "evidence"))
    confirmed = store.cases.ingest_event(
        event_with_real_crop("c1", "out_of_store_vending", "09005", 0, 0.0)
    ).case.id
    corrected = store.cases.ingest_event(  # a live observation: its crop is cut from the kept frame on export
        event_with_real_crop(
            "c2", "exposed_garbage", "06010", 4, 0.01, box=(0.0, 100.0, 150.0, 300.0), live=True
        )
    ).case.id
    rejected = store.cases.ingest_event(
        event_with_real_crop("c3", "overflowing_bin", "06042", 3, 0.02)
    ).case.id
    # pending: no decision
    store.cases.ingest_event(event_with_real_crop("c4", "exposed_soil", "L-0001", 2, 0.03))
    store.cases.apply_action(confirmed, "confirm", "inspector")
    store.cases.apply_action(corrected, "correct", "inspector", class_name="overflowing_bin")
    store.cases.apply_action(rejected, "reject", "inspector", note="shadow, not a bin")
    store.close()
    return data


def test_reviews_become_labelled_and_background_images(reviewed_store: Path, tmp_path: Path):
    out = tmp_path / "from-reviews"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "streetwatch",
            "dataset",
            "from-reviews",
            "--out",
            str(out),
            "--data-dir",
            str(reviewed_store),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "2 labelled images" in result.stdout and "1 background" in result.stdout

    from datasets.importers.yolo import read
    from detector.taxonomy import default_taxonomy

    dataset = read(out)
    assert dataset.declared_classes == default_taxonomy().model_names
    by_class = {}
    for record in dataset.records:
        by_class.setdefault(tuple(sorted(b.label for b in record.boxes)), []).append(record)
    assert set(by_class) == {
        ("out_of_store_vending",),
        ("overflowing_bin",),
        (),
    }  # corrected class, background
    assert all(r.group for r in dataset.records)
    for record in dataset.records:  # each label covers the object's pixels in the crop, and only them
        image = cv2.imread(str(record.image))
        for box in record.boxes:
            x1, y1, x2, y2 = (int(round(v)) for v in (box.x1, box.y1, box.x2, box.y2))
            inside = image[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2].reshape(-1, 3).mean(axis=0)
            assert np.allclose(inside, OBJECT_BGR, atol=12), (record.name, inside)
            assert (x2 - x1) * (y2 - y1) < 0.95 * record.width * record.height  # the margin is not labelled


def test_refuses_a_non_empty_output(reviewed_store: Path, tmp_path: Path):
    from detector.errors import InputError
    from serve.from_reviews import export_reviews

    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        export_reviews(f"sqlite:///{reviewed_store / 'streetwatch.db'}", reviewed_store / "evidence", out)
