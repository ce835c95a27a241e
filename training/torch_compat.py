"""Make the registry's CUDA torchvision importable next to the CPU torch.

torchvision 0.28.0 on the package registry is a CUDA build; with the CPU torch its compiled ops
fail to load and `import torchvision` raises "operator torchvision::nms does not exist", which breaks
ultralytics train/val/predict. Before torchvision is imported, `ensure_torchvision_ops()` registers
`torchvision::nms` with a pure-PyTorch CPU kernel, but only when the compiled op is missing: where
torchvision's own ops load, this module does nothing.
"""

from __future__ import annotations

import sys

_LIBRARY = None  # keeps the torch.library registration alive


def _nms_cpu(boxes, scores, iou_threshold: float):
    """Greedy NMS, same contract as torchvision.ops.nms: indices kept, by decreasing score."""
    import torch

    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    x1, y1, x2, y2 = boxes.float().unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    order = scores.argsort(descending=True)
    keep: list[int] = []
    while order.numel() > 0:
        i = int(order[0])
        keep.append(i)
        if order.numel() == 1:
            break
        rest = order[1:]
        w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
        h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter).clamp(min=1e-12)
        order = rest[iou <= iou_threshold]
    return torch.tensor(keep, dtype=torch.int64, device=boxes.device)


def _compiled_nms_available() -> bool:
    import torch

    try:
        torch.ops.torchvision.nms  # noqa: B018 - attribute lookup is the check
        return True
    except (AttributeError, RuntimeError):
        return False


def ensure_torchvision_ops() -> bool:
    """Register a CPU `torchvision::nms` if torchvision's compiled op is missing.

    Returns True when the fallback was registered, False when nothing was needed. Safe to call
    repeatedly; must run before the first `import torchvision` to help.
    """
    global _LIBRARY
    if _LIBRARY is not None:
        return True
    if "torchvision" not in sys.modules:
        try:
            import torchvision  # noqa: F401

            return False
        except RuntimeError as exc:
            if "torchvision::nms" not in str(exc):
                raise
            for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
                del sys.modules[name]
    if _compiled_nms_available():
        return False
    import torch

    _LIBRARY = torch.library.Library("torchvision", "DEF")
    _LIBRARY.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIBRARY.impl("nms", _nms_cpu, "CPU")
    # torchvision's fake-tensor registrations also name qnms (quantized NMS); define it so they load.
    _LIBRARY.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    import torchvision.extension

    # torchvision.ops.nms first asks whether the compiled extension loaded; nms is now available.
    torchvision.extension._has_ops = lambda: True
    return True
