"""Detector: reads the model's own metadata, runs any batch, refuses files that are not YOLO detectors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from detector.errors import ModelError
from detector.model import Detector


def test_reads_names_size_stride_and_version_from_metadata(coco_onnx_path):
    detector = Detector(coco_onnx_path)
    assert len(detector.names) == 80 and detector.names[0] == "person" and detector.names[5] == "bus"
    assert detector.imgsz == (640, 640)
    assert detector.stride == 32
    assert detector.dynamic_batch is True
    assert detector.metadata["task"] == "detect" and "version" in detector.metadata


def test_dynamic_model_runs_at_another_input_size(coco_onnx_path):
    detector = Detector(coco_onnx_path, imgsz=320)
    assert detector.imgsz == (320, 320)
    tensor, _ = detector.preprocess([np.zeros((720, 1280, 3), np.uint8)])
    assert tensor.shape == (1, 3, 320, 320)
    assert detector.infer(tensor).shape == (1, 84, 2100)


def test_thread_settings_reach_onnxruntime(coco_onnx_path):
    detector = Detector(coco_onnx_path, threads=1, inter_threads=1)
    assert detector.session.get_session_options().intra_op_num_threads == 1
    assert detector.session.get_session_options().inter_op_num_threads == 1


def test_static_batch_model_is_fed_one_frame_at_a_time(static_batch_onnx, coco_onnx_path):
    static = Detector(static_batch_onnx)
    dynamic = Detector(coco_onnx_path)
    assert static.dynamic_batch is False
    rng = np.random.default_rng(0)
    images = [
        rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((480, 640), (333, 517), (720, 1280))
    ]
    tensor, _ = static.preprocess(images)
    raw_static, raw_dynamic = static.infer(tensor), dynamic.infer(tensor)
    assert raw_static.shape == (3, 84, 8400)
    np.testing.assert_allclose(raw_static, raw_dynamic, atol=1e-3)
    assert [len(d) for d in static.detect_batch(images)] == [len(d) for d in dynamic.detect_batch(images)]


# --- files that are not YOLO detectors -------------------------------------------------------------


def _tiny_onnx(path: Path, out_shape: list[int], metadata: dict[str, str]) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])
    y = helper.make_tensor_value_info("output0", TensorProto.FLOAT, out_shape)
    shape = helper.make_tensor("shape", TensorProto.INT64, [len(out_shape)], out_shape)
    # Slice enough values out of the input and reshape them to the wanted output shape.
    n = int(np.prod(out_shape))
    flat = helper.make_node("Reshape", ["images", "flat_shape"], ["flat"])
    flat_shape = helper.make_tensor("flat_shape", TensorProto.INT64, [1], [-1])
    starts = helper.make_tensor("starts", TensorProto.INT64, [1], [0])
    ends = helper.make_tensor("ends", TensorProto.INT64, [1], [n])
    cut = helper.make_node("Slice", ["flat", "starts", "ends"], ["cut"])
    out = helper.make_node("Reshape", ["cut", "shape"], ["output0"])
    graph = helper.make_graph([flat, cut, out], "tiny", [x], [y], [shape, flat_shape, starts, ends])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(model, str(path))
    return path


NAMES_3 = "{0: 'a', 1: 'b', 2: 'c'}"


@pytest.mark.parametrize(
    ("out_shape", "metadata", "problem"),
    [
        ([1, 7, 20], {}, "no class names"),
        ([1, 7, 20], {"names": NAMES_3, "task": "segment"}, "task is 'segment'"),
        ([1, 3, 8, 8], {"names": NAMES_3}, "output shape"),
        ([1, 10, 20], {"names": NAMES_3}, "does not fit 3 classes"),
    ],
)
def test_onnx_that_is_not_a_yolo_detector_is_refused(tmp_path, out_shape, metadata, problem):
    path = _tiny_onnx(tmp_path / "other.onnx", out_shape, metadata)
    with pytest.raises(ModelError, match=problem) as info:
        Detector(path)
    assert str(path) in str(info.value)


def test_a_tiny_model_with_yolo_layout_loads(tmp_path):
    path = _tiny_onnx(tmp_path / "tiny.onnx", [1, 7, 20], {"names": NAMES_3, "imgsz": "[64, 64]"})
    detector = Detector(path, conf=0.0001)
    assert detector.names == ["a", "b", "c"] and detector.imgsz == (64, 64)
    assert isinstance(detector.detect(np.zeros((30, 50, 3), np.uint8)), list)


def test_missing_and_non_onnx_files_are_refused(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        Detector(tmp_path / "nope.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_text("this is not a model")
    with pytest.raises(ModelError, match="not a loadable ONNX model") as info:
        Detector(garbage)
    assert str(garbage) in str(info.value)


def test_import_detector_is_fast_and_never_imports_torch():
    code = textwrap.dedent(
        """
        import sys, time
        start = time.perf_counter()
        import detector
        import detector.model, detector.sources, detector.annotate, detector.preprocess, detector.postprocess
        elapsed_pkg = time.perf_counter() - start
        heavy = [m for m in ("torch", "torchvision", "ultralytics") if m in sys.modules]
        print(elapsed_pkg, ",".join(heavy))
        """
    )
    # best of three: the machine is shared, a single cold start can be slow for reasons of its own
    timings = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        elapsed, heavy = out.strip().split(" ") if " " in out.strip() else (out.strip(), "")
        assert heavy == "", f"importing detector pulled in {heavy}"
        timings.append(float(elapsed))
    assert min(timings) < 0.5, timings

    bare = "import sys, detector; print(sorted(m for m in ('onnxruntime', 'cv2', 'av') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", bare], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"  # `import detector` alone loads no heavy runtime


def test_a_fixed_size_model_keeps_its_size_when_opened_for_patrol_frames(static_batch_onnx):
    from detector.errors import FixedInputSize
    from detector.model import open_detector

    with pytest.raises(FixedInputSize, match="fixed"):
        Detector(static_batch_onnx, imgsz=(384, 640))
    for wanted in ("auto", 512, (384, 640), None):
        assert open_detector(static_batch_onnx, wanted).imgsz == (640, 640)
