"""Train -> export -> load in our Detector -> evaluate, on a tiny generated dataset (one short epoch)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

NAMES = ["red_box", "blue_box"]


def _make_dataset(root: Path, seed: int = 0) -> Path:
    """12 train + 4 val/test images of 160x160 with red/blue filled rectangles, YOLO labels."""
    import cv2

    rng = np.random.default_rng(seed)
    colours = [(30, 30, 220), (220, 60, 30)]  # BGR: red, blue
    for split, n in (("train", 12), ("val", 4), ("test", 4)):
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir(parents=True)
        for i in range(n):
            img = np.full((160, 160, 3), 200, np.uint8) + rng.integers(0, 20, (160, 160, 3), dtype=np.uint8)
            lines = []
            for cls in (0, 1):
                w, h = (int(v) for v in rng.integers(30, 60, 2))
                x, y = int(rng.integers(0, 160 - w)), int(rng.integers(0, 160 - h))
                if cls == 1 and x < 80:  # keep the two boxes apart
                    x = min(160 - w, x + 80)
                cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), colours[cls], -1)
                cx, cy = (x + w / 2) / 160, (y + h / 2) / 160
                lines.append(f"{cls} {cx:.6f} {cy:.6f} {w / 160:.6f} {h / 160:.6f}")
            cv2.imwrite(str(root / split / "images" / f"{split}{i:02d}.png"), img)
            (root / split / "labels" / f"{split}{i:02d}.txt").write_text("\n".join(lines) + "\n")
    data = root / "data.yaml"
    data.write_text(
        f"path: {root}\ntrain: train/images\nval: val/images\ntest: test/images\n"
        "names:\n" + "".join(f"  {i}: {n}\n" for i, n in enumerate(NAMES))
    )
    return data


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shared_dir):
    from training.train import TrainOptions, train

    root = tmp_path_factory.mktemp("tinyds")
    data = _make_dataset(root)
    opts = TrainOptions(
        data=data, weights=shared_dir / "weights" / "yolo11n-coco.pt", imgsz=96, epochs=1, batch=4,
        workers=0, project=root / "runs", name="tiny", cache=False, plots=False, close_mosaic=0,
    )
    run_dir = train(opts)
    return data, run_dir


def test_train_writes_run_folder_with_checkpoints(trained):
    data, run_dir = trained
    assert (run_dir / "weights" / "best.pt").is_file()
    assert (run_dir / "weights" / "last.pt").is_file()
    log = json.loads((run_dir / "streetwatch_train.json").read_text())
    assert log[-1]["device"] in ("cpu", "0")
    assert len(log[-1]["epoch_seconds"]) == 1


def test_export_metadata_is_read_by_our_detector(trained, tmp_path):
    from detector.model import Detector
    from training.data import training_data_hash
    from training.export import export_onnx

    data, run_dir = trained
    out = tmp_path / "tiny.onnx"
    export_onnx(run_dir / "weights" / "best.pt", out, imgsz=96, version="9.9.9-test", data=data)
    det = Detector(out, threads=1)
    assert det.names == NAMES
    assert det.imgsz == (96, 96)
    assert det.dynamic_batch
    meta = det.metadata
    assert meta["model_version"] == "9.9.9-test"
    assert meta["data_hash"] == training_data_hash(data) and len(meta["data_hash"]) == 64
    assert meta["license"] == "AGPL-3.0"
    assert meta["taxonomy_version"] and meta["training_date"] and meta["stride"] == "32"
    # a changed label changes the hash
    label = next((data.parent / "train" / "labels").glob("*.txt"))
    label.write_text(label.read_text() + "0 0.5 0.5 0.1 0.1\n")
    try:
        assert training_data_hash(data) != meta["data_hash"]
    finally:
        label.write_text("".join(label.read_text().splitlines(keepends=True)[:-1]))

    # evaluate the exported model with our detector
    from training.evaluate import evaluate

    report = tmp_path / "report"
    metrics = evaluate(out, data, split="test", out=report, threads=1, progress=False, speed_runs=3)
    for name in ("report.md", "metrics.json", "pr_curves.png", "confusion_matrix.png"):
        assert (report / name).stat().st_size > 0, name
    assert [c["name"] for c in metrics["classes"]] == NAMES
    for c in metrics["classes"]:
        assert c["instances"] == 4
        assert 0.0 <= c["ap50"] <= 1.0 and 0.0 <= c["ap50_95"] <= c["ap50"]
        assert c["tp"] + c["fn"] == 4
    cm = np.array(metrics["confusion_matrix"]["rows_true_cols_pred"])
    assert cm.shape == (3, 3) and cm[:2].sum() == 8  # every true box counted once
    assert metrics["latency"]["median_ms"] > 0
    text = (report / "report.md").read_text()
    assert "red_box" in text and "AP50" in text
    assert json.loads((report / "metrics.json").read_text())["split"] == "test"
    # the way the service sees frames: 16:9 input, JPEGs decoded only as large as it needs
    served = evaluate(out, data, split="test", threads=1, progress=False, imgsz="auto", reduced_decode=True)
    assert served["decode"].startswith("reduced") and served["imgsz"][0] < served["imgsz"][1]
    assert [c["instances"] for c in served["classes"]] == [4, 4]  # labels scaled to the same frames

    # the real-first report and the model card are written from the evaluations and the run folder
    from training.model_card import write_model_card
    from training.report import write_comparison

    both = write_comparison(tmp_path / "eval", metrics, served, None)
    text = both.read_text()
    assert text.index("Per class, real images first") < text.index("Confusion matrix")
    assert (tmp_path / "eval" / "real" / "report.md").is_file()
    assert (tmp_path / "eval" / "synthetic" / "report.md").is_file()
    card_path = tmp_path / "MODEL_CARD.md"
    card = write_model_card(tmp_path / "eval" / "metrics.json", out, card_path, run_dir).read_text()
    assert card.index("## Real images first") < card.index("## Synthetic test split")
    assert "CC BY 4.0" in card and "ATANU0023/garbage_detection_dataset" in card  # the data's attribution
    assert "streetwatch train --data" in card and "streetwatch export" in card
    assert "09005" in card and "09010" in card  # matter codes from the taxonomy
    assert "| red_box | 4 |" in card and "Median" in card


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    from detector.errors import InputError
    from training.train import TrainOptions, train

    opts = TrainOptions(data=tmp_path / "d.yaml", weights=tmp_path / "w.pt", project=tmp_path, name="none")
    with pytest.raises(InputError, match="no checkpoint to resume"):
        train(opts, resume=True)


def test_missing_dataset_is_a_clear_error(tmp_path, shared_dir):
    from detector.errors import InputError
    from training.train import TrainOptions, train

    opts = TrainOptions(data=tmp_path / "missing.yaml", weights=shared_dir / "weights" / "yolo11n-coco.pt")
    with pytest.raises(InputError, match="dataset YAML not found"):
        train(opts)
