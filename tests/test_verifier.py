"""The crop verifier: the crop it judges, the model it loads, and what it does to a track's event."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detector.errors import ModelError
from detector.pipeline_config import VerifierSettings
from detector.verifier import CropVerifier, open_verifier, verification_crop


def _gradient_image(h: int = 720, w: int = 1280) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w]
    return np.dstack([(xs % 256), (ys % 256), ((xs + ys) % 256)]).astype(np.uint8)


def test_the_crop_is_a_square_around_the_box_with_its_surroundings():
    image = np.zeros((720, 1280, 3), np.uint8)
    image[300:340, 600:700] = 255  # a 100x40 white object
    crop = verification_crop(image, (600, 300, 700, 340), size=80, context=0.3)
    assert crop.shape == (80, 80, 3)
    # the side is 100 * 1.6 = 160 px: the object fills 100/160 of the width and 40/160 of the height
    white = crop[:, :, 0] > 127
    rows, cols = np.where(white)
    assert abs((cols.max() - cols.min() + 1) - 50) <= 2
    assert abs((rows.max() - rows.min() + 1) - 20) <= 2
    assert abs((rows.min() + rows.max()) / 2 - 39.5) <= 1.5  # centred


def test_a_crop_over_the_frame_edge_repeats_the_edge_instead_of_failing():
    image = _gradient_image()
    crop = verification_crop(image, (1250, 690, 1290, 730), size=64, context=0.5)
    assert crop.shape == (64, 64, 3)
    assert crop[-1, -1].tolist() == image[-1, -1].tolist()


def test_a_detector_is_not_taken_for_a_verifier(bundled_model_path):
    with pytest.raises(ModelError, match="not an image classifier"):
        CropVerifier(bundled_model_path)


def test_a_missing_verifier_file_is_named(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        open_verifier(VerifierSettings(model=str(tmp_path / "nope.onnx")))


def test_no_verifier_when_it_is_switched_off():
    assert open_verifier(None) is None


# ------------------------------------------------------------------ on a rendered street, end to end


@pytest.fixture(scope="module")
def street(tmp_path_factory) -> Path:
    """A short drive-by of the synthetic street (seed 7: no benchmark seed), its objects rendered as the
    model's training frames render them."""
    from datasets.synth.clips import generate_clips

    root = tmp_path_factory.mktemp("verifier-street")
    generate_clips(root, seconds=6.0, seed=7, passes=1, speed_kmh=20.0, fps=5.0, progress=False)
    return root


def _events(street: Path, tmp_path: Path, name: str, relabel: dict[str, str], verifier: bool):
    """Events from the ground-truth boxes of the pass, each object's class renamed by `relabel`."""
    import dataclasses

    from detector.pipeline import process_video
    from detector.pipeline_config import load_pipeline_config
    from detector.taxonomy import default_taxonomy
    from serve.store import CaseStore
    from streetwatch.bench.cases import GroundTruthDetector, load_ground_truth

    pdir = street / "pass_00"
    truth = [
        dataclasses.replace(o, class_name=relabel.get(o.class_name, o.class_name))
        for o in load_ground_truth(pdir / "ground_truth.json")
    ]
    config = load_pipeline_config(overrides=None if verifier else {"verifier": None})
    store = CaseStore.open(f"sqlite:///{tmp_path / (name + '.db')}", str(tmp_path / name))
    try:
        summary = process_video(
            pdir / "clip.mp4",
            pdir / "track.csv",
            store,
            GroundTruthDetector(truth, default_taxonomy().names, score=0.8),
            config,
            camera=pdir / "camera.yaml",
            zones=street / "zones",
        )
    finally:
        store.close()
    return summary


def test_the_verifier_files_what_is_there_and_refuses_what_is_misnamed(street: Path, tmp_path: Path):
    """The same boxes twice: named as they are, the verifier lets (nearly) all of them become events;
    each object named as another violation class (a stall called exposed soil, ...), it refuses most."""
    if open_verifier(VerifierSettings()) is None:
        pytest.skip("no bundled verifier (models/streetwatch-verifier.onnx)")
    wrong = {
        "out_of_store_vending": "exposed_soil",
        "exposed_soil": "overflowing_bin",
        "overflowing_bin": "out_of_store_vending",
        "exposed_garbage": "illegal_parking",
        "illegal_parking": "exposed_garbage",
    }
    right_off = _events(street, tmp_path, "right-off", {}, verifier=False)
    right_on = _events(street, tmp_path, "right-on", {}, verifier=True)
    wrong_off = _events(street, tmp_path, "wrong-off", wrong, verifier=False)
    wrong_on = _events(street, tmp_path, "wrong-on", wrong, verifier=True)
    assert right_off.events >= 4 and wrong_off.events >= 4  # the street has something to judge
    assert right_on.events >= 0.75 * right_off.events
    assert wrong_on.events <= 0.25 * wrong_off.events
    assert wrong_on.rejected.get("verifier", 0) >= wrong_off.events - wrong_on.events


# ------------------------------------------------------------------------------ its training crops


def test_training_crops_cover_every_labelled_object_and_file_proposals_by_what_they_cover(
    tmp_path: Path, bundled_model_path: Path
):
    import cv2

    from datasets.importers.yolo import label_path_for, parse_label_file
    from datasets.synth import frames as synth_frames
    from detector.model import open_detector
    from detector.track import box_iou
    from training.verifier_data import build_verifier_crops

    src = tmp_path / "stills"
    synth_frames.generate_images(src, 4, seed=5, workers=1, progress=False)
    detector = open_detector(bundled_model_path, conf=0.1, iou=0.5, threads=1)
    counts = build_verifier_crops(src, tmp_path / "crops", detector, detector.names, size=64, jitter=0.0)

    labelled = 0
    for image_path in sorted((src / "images").iterdir()):
        h, w = cv2.imread(str(image_path)).shape[:2]
        boxes = parse_label_file(label_path_for(image_path, src), detector.names, w, h)
        labelled += sum(1 for b in boxes if min(b.x2 - b.x1, b.y2 - b.y1) >= 10)
    proposals = sum(counts.values()) - labelled
    assert labelled > 0 and proposals > 0
    assert all(cv2.imread(str(p)).shape == (64, 64, 3) for p in (tmp_path / "crops").rglob("*.jpg"))
    # a proposal is background exactly when it covers no labelled object
    expected_background = 0
    for image_path in sorted((src / "images").iterdir()):
        image = cv2.imread(str(image_path))
        h, w = image.shape[:2]
        boxes = parse_label_file(label_path_for(image_path, src), detector.names, w, h)
        for det in detector.detect(image):
            ious = (box_iou(det.box, (b.x1, b.y1, b.x2, b.y2)) for b in boxes)
            expected_background += max(ious, default=0.0) < 0.2
    assert counts["background"] == expected_background


def test_a_label_file_with_a_broken_line_is_named(tmp_path: Path):
    import cv2
    from typer.testing import CliRunner

    from streetwatch.cli import app

    (tmp_path / "src" / "images").mkdir(parents=True)
    (tmp_path / "src" / "labels").mkdir()
    cv2.imwrite(str(tmp_path / "src" / "images" / "x.png"), np.zeros((72, 128, 3), np.uint8))
    (tmp_path / "src" / "labels" / "x.txt").write_text("0 0.5 0.5 0.1 0.1\n3 0.2 0.2\n")
    run = CliRunner().invoke(
        app, ["dataset", "verifier-crops", "--source", str(tmp_path / "src"), "--out", str(tmp_path / "c")]
    )
    assert run.exit_code == 2 and "x.txt:2" in run.output


def test_the_commands_name_a_folder_that_is_not_a_dataset(tmp_path: Path, bundled_model_path: Path):
    from typer.testing import CliRunner

    from streetwatch.cli import app

    runner = CliRunner()
    crops = runner.invoke(
        app,
        ["dataset", "verifier-crops", "--source", str(tmp_path / "nowhere"), "--out", str(tmp_path / "c")],
    )
    assert crops.exit_code == 2 and "nowhere: no images/ folder" in crops.output
    train = runner.invoke(app, ["train-verifier", "--data", str(tmp_path), "--out", str(tmp_path / "v.onnx")])
    assert train.exit_code == 2 and "no train/ folder" in train.output
    assert not (tmp_path / "v.onnx").exists()
    for split in ("train", "val"):
        (tmp_path / "crops" / split).mkdir(parents=True)
    args = ["train-verifier", "--data", str(tmp_path / "crops"), "--out", str(tmp_path / "v.onnx")]
    missing = runner.invoke(app, [*args, "--weights", str(tmp_path / "nope.pt")])
    assert missing.exit_code == 2 and "nope.pt: no such checkpoint" in missing.output
    assert not (tmp_path / "v.onnx").exists()
    broken = tmp_path / "broken"
    (broken / "images").mkdir(parents=True)
    (broken / "images" / "a.jpg").write_bytes(b"not a jpeg")
    bad = runner.invoke(
        app, ["dataset", "verifier-crops", "--source", str(broken), "--out", str(tmp_path / "c")]
    )
    assert bad.exit_code == 2 and "a.jpg: not a readable image" in bad.output


def test_process_names_a_missing_verifier_and_writes_nothing(street: Path, tmp_path: Path):
    import subprocess
    import sys

    config = tmp_path / "city.yaml"
    config.write_text(f"pipeline: {{verifier: {{model: {tmp_path / 'gone.onnx'}}}}}\n")
    db = tmp_path / "cases.db"
    pdir = street / "pass_00"
    run = subprocess.run(
        [str(Path(sys.executable).parent / "streetwatch"), "process", str(pdir / "clip.mp4"), "--gps",
         str(pdir / "track.csv"), "--config", str(config), "--db", f"sqlite:///{db}",
         "--evidence", str(tmp_path / "ev")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert "gone.onnx" in run.stderr and "verifier model file not found" in run.stderr
    assert "Traceback" not in run.stderr
    if db.exists():  # the store may have been created (migrated); nothing is recorded in it
        import sqlite3

        with sqlite3.connect(db) as conn:
            tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
            for table in {"processed_sources", "cases", "observations"} & tables:
                assert conn.execute(f"select count(*) from {table}").fetchone()[0] == 0, table


def test_a_live_upload_is_judged_on_its_reduced_pixels_when_they_hold_the_crop(street: Path):
    """The service decodes a 720p upload at half size for the detector. The second look cuts a large
    object from those pixels instead of decoding the upload again in full, and says what the full-size
    look says; a small object, whose crop would be thinner there than the classifier's input, is still
    judged on the upload decoded in full."""
    import cv2

    from detector.decode import decode_for_detection, decode_full
    from detector.types import Frame
    from detector.verifier import crop_side
    from streetwatch.bench.cases import load_ground_truth

    verifier = open_verifier(VerifierSettings())
    assert verifier is not None  # the bundled verifier
    video = cv2.VideoCapture(str(street / "pass_00" / "clip.mp4"))
    frames = []
    while (got := video.read())[0]:
        frames.append(got[1])
    video.release()
    large, small = [], []
    for obj in load_ground_truth(street / "pass_00" / "ground_truth.json"):
        for index, box in zip(obj.frames, obj.boxes, strict=True):
            side = crop_side(box, verifier.context)
            if side >= 2.5 * verifier.size:  # at half size still 1.25x the classifier's input
                large.append((index, box))
            elif side < verifier.size:
                small.append((index, box))
    assert len(large) >= 5 and small

    def upload(index: int) -> Frame:
        jpeg = cv2.imencode(".jpg", frames[index], [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
        decoded = decode_for_detection(jpeg, 1280, 720, True, (288, 512))
        assert decoded is not None and decoded.scale == 2
        return Frame(decoded.pixels, index, 0.0, "live:v1", scale=decoded.scale, encoded=decoded.encoded)

    def never() -> np.ndarray:
        raise AssertionError("decoded in full although the reduced pixels hold the crop")

    for index, box in large[:: max(1, len(large) // 5)][:5]:
        frame = upload(index)
        reduced = verifier.verify_frame(frame, box, full_image=never)
        full = verifier.verify(decode_full(frame.encoded), box)
        assert max(reduced, key=reduced.get) == max(full, key=full.get)
        assert max(abs(reduced[k] - full[k]) for k in full) < 0.15

    index, box = small[len(small) // 2]
    frame = upload(index)
    decoded_in_full = []

    def full_image() -> np.ndarray:
        decoded_in_full.append(index)
        return decode_full(frame.encoded)

    assert verifier.verify_frame(frame, box, full_image=full_image) == verifier.verify(full_image(), box)
    assert len(decoded_in_full) == 2  # once by verify_frame, once for the comparison
