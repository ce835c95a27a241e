"""Letterbox and decode/NMS behaviour: the geometry every box in StreetWatch goes through."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from detector.errors import InputError
from detector.postprocess import decode_one, nms, postprocess
from detector.preprocess import PAD_VALUE, LetterboxParams, letterbox_params, preprocess

SHAPES = [
    (720, 1280),
    (1280, 720),
    (333, 517),
    (1500, 97),
    (97, 1500),
    (640, 640),
    (1, 1),
    (3, 3000),
    (480, 640),
]


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _reference_canvas(image: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, LetterboxParams]:
    """The plain letterbox the fast path must match: resize onto a uint8 canvas filled with PAD_VALUE."""
    params = letterbox_params(image.shape[:2], shape)
    new_h, new_w = params.resized_shape
    left, top = params.pad
    canvas = np.full((*shape, 3), PAD_VALUE, dtype=np.uint8)
    canvas[top : top + new_h, left : left + new_w] = cv2.resize(
        image, (new_w, new_h), interpolation=cv2.INTER_LINEAR
    )
    return canvas, params


def _reference_tensor(canvas: np.ndarray) -> np.ndarray:
    """The whole canvas as a NCHW float32 RGB tensor in [0, 1] (OpenCV's blob)."""
    return cv2.dnn.blobFromImages([canvas], scalefactor=1.0 / 255.0, swapRB=True, crop=False)


@pytest.mark.parametrize("shape", SHAPES)
def test_letterbox_keeps_aspect_and_centres(shape):
    h, w = shape
    p = letterbox_params((h, w), (640, 640))
    new_h, new_w = p.resized_shape
    scale = min(640 / h, 640 / w)
    assert max(new_h, new_w) == 640  # the long side fills the canvas (small images are scaled up)
    assert new_h >= 1 and new_w >= 1  # thin images keep at least one pixel
    assert abs(new_w - w * scale) <= 0.5 or new_w == 1
    assert abs(new_h - h * scale) <= 0.5 or new_h == 1
    left, top = p.pad
    right, bottom = 640 - new_w - left, 640 - new_h - top
    assert min(left, right, top, bottom) >= 0
    assert abs(left - right) <= 1 and abs(top - bottom) <= 1


@pytest.mark.parametrize("shape", SHAPES)
def test_tensor_is_rgb_scaled_and_padded_with_114(shape):
    image = _image(*shape)
    canvas, p = _reference_canvas(image, (640, 640))
    tensor, params = preprocess([image], (640, 640))
    assert tensor.shape == (1, 3, 640, 640) and tensor.dtype == np.float32
    assert params[0] == p
    # the fast path (straight into the tensor) gives the same pixels as canvas + blob
    np.testing.assert_allclose(tensor, _reference_tensor(canvas), atol=1e-6)
    left, top = p.pad
    new_h, new_w = p.resized_shape
    # channel 0 is red = BGR channel 2
    np.testing.assert_allclose(
        tensor[0, 0, top : top + new_h, left : left + new_w],
        canvas[top : top + new_h, left : left + new_w, 2] / 255.0,
        atol=1e-6,
    )
    if top > 0:
        assert np.allclose(tensor[0, :, :top], PAD_VALUE / 255.0)
    if left > 0:
        assert np.allclose(tensor[0, :, :, :left], PAD_VALUE / 255.0)


def test_boxes_map_back_to_original_pixels_for_every_shape():
    for h, w in SHAPES:
        p = letterbox_params((h, w), (640, 640))
        gx, gy = p.gain
        left, top = p.pad
        original = np.array([[0.0, 0.0, w, h], [w * 0.25, h * 0.5, w * 0.75, h * 0.9]])
        canvas_boxes = original.copy()
        canvas_boxes[:, 0::2] = canvas_boxes[:, 0::2] * gx + left
        canvas_boxes[:, 1::2] = canvas_boxes[:, 1::2] * gy + top
        np.testing.assert_allclose(p.to_original(canvas_boxes), original, atol=1e-6)


def test_batch_of_mixed_sizes_keeps_each_placement():
    images = [_image(720, 1280, 1), _image(333, 517, 2), _image(1500, 97, 3)]
    tensor, params = preprocess(images, (320, 320))
    assert tensor.shape == (3, 3, 320, 320)
    for image, p in zip(images, params, strict=True):
        assert p.orig_shape == image.shape[:2]
    for i, image in enumerate(images):
        np.testing.assert_array_equal(tensor[i], preprocess([image], (320, 320))[0][0])


def test_bad_images_are_input_errors():
    with pytest.raises(InputError, match="HxWx3"):
        preprocess([np.zeros((10, 10, 5), np.uint8)], (64, 64))
    with pytest.raises(InputError, match="uint8"):
        preprocess([np.zeros((10, 10, 3), np.float32)], (64, 64))
    with pytest.raises(InputError, match="empty batch"):
        preprocess([], (64, 64))
    tensor, _ = preprocess([np.zeros((10, 12), np.uint8)], (64, 64))  # grayscale is accepted
    assert tensor.shape == (1, 3, 64, 64)


# --- decode + NMS --------------------------------------------------------------------------------


def _raw(
    boxes_xywh: list[tuple[float, float, float, float]],
    scores: list[dict[int, float]],
    nc: int = 3,
    anchors: int = 50,
) -> np.ndarray:
    """A (4+nc, anchors) YOLO output with the given boxes in its first columns and noise-free zeros after."""
    raw = np.zeros((4 + nc, anchors), np.float32)
    raw[:4, :] = np.array([10, 10, 4, 4], np.float32)[:, None]
    for i, (box, cls_scores) in enumerate(zip(boxes_xywh, scores, strict=True)):
        raw[:4, i] = box
        for c, s in cls_scores.items():
            raw[4 + c, i] = s
    return raw


def test_no_boxes_above_threshold_gives_no_detections():
    raw = _raw([(50, 50, 20, 20)], [{0: 0.2}])
    assert decode_one(raw, conf=0.25, iou=0.45).shape == (0, 6)
    p = letterbox_params((480, 640), (640, 640))
    assert postprocess(raw[None], [p], ["a", "b", "c"]) == [[]]


def test_all_overlapping_boxes_of_one_class_collapse_to_the_best():
    boxes = [(100 + d, 100 + d, 50, 50) for d in range(10)]
    scores = [{1: 0.5 + d * 0.03} for d in range(10)]
    rows = decode_one(_raw(boxes, scores), conf=0.25, iou=0.45)
    assert rows.shape[0] == 1
    assert rows[0, 5] == 1 and rows[0, 4] == pytest.approx(0.5 + 9 * 0.03)
    np.testing.assert_allclose(rows[0, :4], [84, 84, 134, 134])


def test_nms_is_class_aware_and_agnostic_on_request():
    boxes = [(100, 100, 50, 50), (102, 101, 50, 50)]
    scores = [{0: 0.9}, {2: 0.8}]
    assert decode_one(_raw(boxes, scores), conf=0.25, iou=0.45).shape[0] == 2
    assert decode_one(_raw(boxes, scores), conf=0.25, iou=0.45, agnostic=True).shape[0] == 1


def test_nms_threshold_is_strictly_greater_than():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], np.float32)  # IoU = 50 / 150 = 1/3
    scores = np.array([0.9, 0.8], np.float32)
    assert nms(boxes, scores, 1 / 3 + 1e-6).tolist() == [0, 1]
    assert nms(boxes, scores, 0.3).tolist() == [0]
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).size == 0


def test_each_box_takes_its_best_class_and_max_det_caps_by_score():
    boxes = [(20 + 40 * i, 50, 10, 10) for i in range(8)]
    scores = [{0: 0.3 + 0.05 * i, 1: 0.35} for i in range(8)]
    rows = decode_one(_raw(boxes, scores), conf=0.25, iou=0.45, max_det=3)
    assert rows.shape[0] == 3
    assert rows[:, 4].tolist() == sorted(rows[:, 4].tolist(), reverse=True)
    assert set(rows[:, 5].astype(int).tolist()) == {0}


def test_boxes_on_the_border_are_clipped_to_the_image():
    # 1280x720 on a 640 canvas: gain 0.5, top pad 140. A box reaching beyond the canvas edges.
    p = letterbox_params((720, 1280), (640, 640))
    raw = _raw([(5, 320, 30, 500), (630, 150, 40, 40)], [{0: 0.9}, {1: 0.8}])
    [dets] = postprocess(raw[None], [p], ["a", "b", "c"])
    assert len(dets) == 2
    for d in dets:
        assert 0 <= d.x1 <= d.x2 <= 1280 and 0 <= d.y1 <= d.y2 <= 720
    left_box = next(d for d in dets if d.class_name == "a")
    assert left_box.x1 == 0.0 and left_box.y1 == 0.0 and left_box.y2 == 720.0
    right_box = next(d for d in dets if d.class_name == "b")
    assert right_box.x2 == 1280.0 and right_box.y1 == 0.0 and right_box.y2 == pytest.approx(60.0)


def test_postprocess_maps_each_image_of_a_mixed_batch_with_its_own_placement():
    shapes = [(720, 1280), (333, 517), (1500, 97)]
    params = [letterbox_params(s, (640, 640)) for s in shapes]
    raw = np.stack([_raw([(320, 320, 20, 20)], [{0: 0.9}]) for _ in shapes])
    results = postprocess(raw, params, ["a", "b", "c"])
    for (h, w), p, [det] in zip(shapes, params, results, strict=True):
        cx, cy = (det.x1 + det.x2) / 2, (det.y1 + det.y2) / 2  # canvas centre -> image centre
        tolerance = 0.5 / min(p.gain) + 1e-6  # padding is split to whole pixels: half a canvas pixel off
        assert cx == pytest.approx(w / 2, abs=tolerance) and cy == pytest.approx(h / 2, abs=tolerance)
