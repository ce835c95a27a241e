"""Evaluation metrics on hand-made predictions with known answers (COCO AP, P/R, confusion matrix)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.evaluate import ImageResult, box_iou, coco_ap, confusion_matrix, operating_point


def _img(image_id, gt, dets):
    """gt: [(cls, x1, y1, x2, y2)], dets: [(cls, score, x1, y1, x2, y2)]."""
    g = np.array(gt, dtype=float).reshape(-1, 5)
    d = np.array(dets, dtype=float).reshape(-1, 6)
    return ImageResult(
        image_id=image_id, width=640, height=480,
        gt_boxes=g[:, 1:], gt_classes=g[:, 0].astype(int),
        det_boxes=d[:, 2:], det_scores=d[:, 1], det_classes=d[:, 0].astype(int),
    )


def test_perfect_predictions_score_one():
    results = [
        _img(1, [(0, 10, 10, 110, 90), (1, 200, 50, 300, 200)],
             [(0, 0.9, 10, 10, 110, 90), (1, 0.8, 200, 50, 300, 200)]),
        _img(2, [(1, 20, 20, 60, 60)], [(1, 0.7, 20, 20, 60, 60)]),
    ]
    ap = coco_ap(results, 3)
    assert ap["ap50"][:2] == [pytest.approx(1.0), pytest.approx(1.0)]
    assert ap["ap50_95"][:2] == [pytest.approx(1.0), pytest.approx(1.0)]
    assert ap["ap50"][2] is None  # no ground truth for class 2
    op = operating_point(results, 3)
    assert op["precision"][:2] == [1.0, 1.0] and op["recall"][:2] == [1.0, 1.0]
    assert op["tp"] == [1, 2, 0] and op["fp"] == [0, 0, 0] and op["fn"] == [0, 0, 0]


def test_false_positive_ranked_first_halves_ap():
    # one object; a wrong box scored higher than the right one: precision 1/2 at recall 1
    dets = [(0, 0.9, 300, 300, 350, 350), (0, 0.6, 100, 100, 200, 200)]
    results = [_img(1, [(0, 100, 100, 200, 200)], dets)]
    ap = coco_ap(results, 1)
    assert ap["ap50"][0] == pytest.approx(0.5)
    assert ap["ap50_95"][0] == pytest.approx(0.5)
    op = operating_point(results, 1)
    assert op["precision"][0] == pytest.approx(0.5) and op["recall"][0] == pytest.approx(1.0)


def test_half_recall_uses_101_point_interpolation():
    # two objects, only one found: precision 1 for recall points 0.00..0.50 -> 51 of 101
    results = [_img(1, [(0, 0, 0, 50, 50), (0, 100, 100, 150, 150)], [(0, 0.9, 0, 0, 50, 50)])]
    assert coco_ap(results, 1)["ap50"][0] == pytest.approx(51 / 101)


def test_loose_box_counts_only_at_low_iou_thresholds():
    # IoU 0.72: a match at 0.50..0.70 (5 of 10 thresholds), a miss above
    results = [_img(1, [(0, 0, 0, 100, 100)], [(0, 0.9, 0, 0, 100, 72)])]
    assert box_iou(results[0].gt_boxes, results[0].det_boxes)[0, 0] == pytest.approx(0.72)
    ap = coco_ap(results, 1)
    assert ap["ap50"][0] == pytest.approx(1.0)
    assert ap["ap50_95"][0] == pytest.approx(0.5)


def test_operating_threshold_drops_low_scores_and_duplicates_are_false_positives():
    results = [_img(1, [(0, 0, 0, 100, 100)],
                    [(0, 0.9, 0, 0, 100, 100), (0, 0.8, 2, 2, 100, 100), (0, 0.1, 300, 300, 400, 400)])]
    op = operating_point(results, 1, conf=0.25)
    assert op["tp"] == [1] and op["fp"] == [1] and op["fn"] == [0]


def test_confusion_matrix_counts_confusions_misses_and_false_alarms():
    results = [_img(
        1,
        [(0, 0, 0, 100, 100), (1, 200, 200, 300, 300)],
        [(1, 0.9, 0, 0, 100, 100), (0, 0.8, 400, 400, 450, 450), (0, 0.1, 200, 200, 300, 300)],
    )]
    cm = confusion_matrix(results, 2, conf=0.25)
    expected = np.array([[0, 1, 0],   # class 0 seen as class 1
                         [0, 0, 1],   # class 1 missed (its detection is below the threshold)
                         [1, 0, 0]])  # a false alarm of class 0 on background
    assert (cm == expected).all()


def test_no_detections_gives_zero_ap():
    results = [_img(1, [(0, 0, 0, 10, 10)], [])]
    ap = coco_ap(results, 2)
    assert ap["ap50"] == [0.0, None]


def test_ap_by_object_size_ignores_objects_outside_the_range():
    # a large object found, a small one missed: all-sizes AP50 51/101, large 1.0, small 0.0
    results = [_img(1, [(0, 0, 0, 200, 200), (0, 300, 300, 310, 310)], [(0, 0.9, 0, 0, 200, 200)])]
    ap = coco_ap(results, 2)
    assert ap["ap50"][0] == pytest.approx(51 / 101)
    assert ap["ap50_by_size"]["large"][0] == pytest.approx(1.0)
    assert ap["ap50_by_size"]["medium_up"][0] == pytest.approx(1.0)
    assert ap["ap50_by_size"]["small"][0] == pytest.approx(0.0)
    assert ap["ap50_by_size"]["medium"][0] is None  # no object of that size
    assert ap["ap50_by_size"]["large"][1] is None  # no ground truth of class 1 at all


def test_a_dataset_yaml_named_by_a_relative_path_finds_its_lists(tmp_path, monkeypatch):
    """`--data data/split/data.yaml` (relative, no `path:` key, as `dataset split` writes it) reads the
    lists beside the YAML, whatever the working folder."""
    from training.data import load_data_yaml, split_images

    folder = tmp_path / "data" / "split"
    folder.mkdir(parents=True)
    image = tmp_path / "a.jpg"
    image.write_bytes(b"")
    (folder / "val.txt").write_text(f"{image}\n")
    (folder / "data.yaml").write_text("val: val.txt\nnames: {0: a}\n")
    monkeypatch.chdir(tmp_path)
    assert split_images(load_data_yaml(Path("data/split/data.yaml")), "val") == [image]
