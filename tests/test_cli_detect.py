"""`streetwatch detect` end to end through the installed entry point, and its one-line errors."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest


def _streetwatch() -> list[str]:
    script = Path(sys.executable).parent / "streetwatch"
    return [str(script)] if script.exists() else [sys.executable, "-m", "streetwatch"]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "STREETWATCH_MODEL_PATH"}
    full_env.update(env or {})
    return subprocess.run([*_streetwatch(), *args], capture_output=True, text=True, timeout=300, env=full_env)


def _bus() -> np.ndarray:
    spec = importlib.util.find_spec("ultralytics")
    path = Path(next(iter(spec.submodule_search_locations))) / "assets" / "bus.jpg" if spec else None
    if path is None or not path.exists():
        pytest.skip("ultralytics' bus.jpg not installed")
    return cv2.imread(str(path))


@pytest.fixture(scope="module")
def street_video(tmp_path_factory) -> Path:
    """3 s at 10 fps, 480x360 H.264: a camera panning down over ultralytics' bus.jpg."""
    bus = _bus()
    path = tmp_path_factory.mktemp("cli") / "street.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 480, 360, "yuv420p"
        for i in range(30):
            image = cv2.resize(bus[100 + 5 * i : 700 + 5 * i], (480, 360))
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_detect_video_writes_jsonl_annotated_h264_and_summary(coco_onnx_path, street_video, tmp_path):
    out, annotated = tmp_path / "detections.jsonl", tmp_path / "annotated.mp4"
    result = run_cli(
        "detect",
        str(street_video),
        "--model",
        str(coco_onnx_path),
        "--fps",
        "5",
        "--out",
        str(out),
        "--annotate",
        str(annotated),
        "--threads",
        "2",
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in records] == list(range(0, 30, 2))
    assert [r["timestamp"] for r in records] == pytest.approx([i / 5 for i in range(15)])
    assert all(r["source"] == str(street_video) for r in records)
    classes = [d["class_name"] for r in records for d in r["detections"]]
    assert classes.count("bus") >= 10 and classes.count("person") >= 10
    box = records[0]["detections"][0]["box"]
    assert 0 <= box[0] < box[2] <= 480 and 0 <= box[1] < box[3] <= 360

    with av.open(str(annotated)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.width, stream.height) == (480, 360)
        decoded = [f.to_ndarray(format="bgr24") for f in container.decode(stream)]
    assert len(decoded) == 15
    # boxes were drawn: the annotated frame differs from the source frame
    with av.open(str(street_video)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="bgr24")
    assert np.abs(decoded[0].astype(int) - first.astype(int)).mean() > 1.0

    summary = result.stderr.strip().splitlines()[-1]
    assert summary.startswith("frames: 15") and "bus" in summary and "person" in summary and "fps" in summary
    assert "%" in result.stderr  # the progress bar


def test_detect_image_to_stdout_and_annotated_image(coco_onnx_path, tmp_path):
    image = tmp_path / "bus.jpg"
    cv2.imwrite(str(image), _bus())
    annotated = tmp_path / "bus-boxes.jpg"
    result = run_cli("detect", str(image), "--model", str(coco_onnx_path), "--annotate", str(annotated))
    assert result.returncode == 0, result.stderr
    [record] = [json.loads(line) for line in result.stdout.splitlines()]
    assert {"bus", "person"} <= {d["class_name"] for d in record["detections"]}
    assert cv2.imread(str(annotated)).shape == cv2.imread(str(image)).shape


def test_default_model_from_environment(coco_onnx_path, tmp_path):
    image = tmp_path / "bus.jpg"
    cv2.imwrite(str(image), _bus())
    result = run_cli("detect", str(image), env={"STREETWATCH_MODEL_PATH": str(coco_onnx_path)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["detections"]


def _assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("streetwatch: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, street_video) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    ok, jpeg = cv2.imencode(".jpg", np.full((100, 100, 3), 90, np.uint8))
    (root / "truncated.jpg").write_bytes(jpeg.tobytes()[:300])
    (root / "unreadable.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    data = street_video.read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (root / "notes.mp4").write_text("meeting notes, not a video")
    (root / "empty").mkdir()
    return {
        "missing": root / "missing.mp4",
        "truncated image": root / "truncated.jpg",
        "unreadable image": root / "unreadable.png",
        "truncated video": root / "truncated.mp4",
        "not a video": root / "notes.mp4",
        "empty folder": root / "empty",
    }


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        ("missing", "file not found"),
        ("truncated image", "truncated"),
        ("unreadable image", "cannot decode image"),
        ("truncated video", "not a readable video"),
        ("not a video", "not a readable video"),
        ("empty folder", "empty folder"),
    ],
)
def test_bad_input_is_one_line_error(coco_onnx_path, bad_inputs, case, problem):
    path = bad_inputs[case]
    _assert_one_line_error(run_cli("detect", str(path), "--model", str(coco_onnx_path)), str(path), problem)


def test_model_that_is_not_a_yolo_detector_is_one_line_error(street_video, tmp_path):
    fake = tmp_path / "fake.onnx"
    fake.write_bytes(b"\x08\x07garbage")
    _assert_one_line_error(run_cli("detect", str(street_video), "--model", str(fake)), str(fake), "ONNX")


def test_no_model_anywhere_is_one_line_error(street_video, repo_root):
    if (repo_root / "models" / "streetwatch-yolo11n.onnx").exists():
        pytest.skip("the bundled model exists, so there is always a default")
    _assert_one_line_error(run_cli("detect", str(street_video)), "--model")


def test_unusable_output_paths_are_one_line_errors(coco_onnx_path, street_video, tmp_path):
    wrong = tmp_path / "boxes.txt"
    result = run_cli("detect", str(street_video), "--model", str(coco_onnx_path), "--annotate", str(wrong))
    _assert_one_line_error(result, str(wrong), ".mp4")
    nowhere = tmp_path / "missing-dir" / "out.jsonl"
    result = run_cli("detect", str(street_video), "--model", str(coco_onnx_path), "--out", str(nowhere))
    _assert_one_line_error(result, str(nowhere), "cannot write output")


def test_default_model_that_does_not_exist_is_one_line_error(street_video, tmp_path):
    missing = tmp_path / "gone.onnx"
    result = run_cli("detect", str(street_video), env={"STREETWATCH_MODEL_PATH": str(missing)})
    _assert_one_line_error(result, str(missing), "model file not found")
