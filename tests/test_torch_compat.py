"""The torchvision NMS compatibility shim (training/torch_compat.py).

Semantics: `ensure_torchvision_ops()` registers a pure-PyTorch `torchvision::nms` only when
torchvision's compiled op is missing (CUDA torchvision beside a CPU torch); where the compiled op
loads it registers nothing and returns False (inert). Either way `torchvision.ops.nms` must then
work and agree with plain greedy NMS.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def _reference_nms(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list[int]:
    """Textbook greedy NMS: keep the best box, drop boxes overlapping it by IoU > thr, repeat."""
    order = list(np.argsort(-scores, kind="stable"))
    keep = []
    while order:
        i = order.pop(0)
        keep.append(int(i))
        rest = []
        for j in order:
            xx1, yy1 = max(boxes[i, 0], boxes[j, 0]), max(boxes[i, 1], boxes[j, 1])
            xx2, yy2 = min(boxes[i, 2], boxes[j, 2]), min(boxes[i, 3], boxes[j, 3])
            inter = max(0.0, xx2 - xx1) * max(0.0, yy2 - yy1)
            a_i = (boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1])
            a_j = (boxes[j, 2] - boxes[j, 0]) * (boxes[j, 3] - boxes[j, 1])
            if inter / (a_i + a_j - inter) <= thr:
                rest.append(j)
        order = rest
    return keep


def _random_boxes(rng, n):
    xy = rng.uniform(0, 200, (n, 2))
    wh = rng.uniform(5, 80, (n, 2))
    return np.concatenate([xy, xy + wh], 1).astype(np.float32), rng.uniform(0, 1, n).astype(np.float32)


def test_nms_after_shim_matches_reference_on_random_boxes():
    from training.torch_compat import ensure_torchvision_ops

    ensure_torchvision_ops()
    import torchvision

    rng = np.random.default_rng(7)
    for n, thr in ((0, 0.5), (1, 0.5), (60, 0.45), (200, 0.7), (150, 0.3)):
        boxes, scores = _random_boxes(rng, n)
        got = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), thr)
        assert got.dtype == torch.int64
        assert got.tolist() == _reference_nms(boxes, scores, thr)


def test_fallback_kernel_matches_reference():
    from training.torch_compat import _nms_cpu

    rng = np.random.default_rng(3)
    boxes, scores = _random_boxes(rng, 120)
    got = _nms_cpu(torch.from_numpy(boxes), torch.from_numpy(scores), 0.5)
    assert got.tolist() == _reference_nms(boxes, scores, 0.5)


def test_ensure_is_idempotent():
    from training.torch_compat import ensure_torchvision_ops

    first = ensure_torchvision_ops()
    assert ensure_torchvision_ops() == first  # registered once (True) or never needed (False)
