"""StreetWatch detector runtime: ONNX Runtime YOLO inference, frame sources, tracking and event rules.

Importing this package is cheap and never imports torch: heavy modules (onnxruntime, cv2, av)
are imported by the submodules that need them.
"""

from detector.types import Detection, Frame, FrameMeta, ViolationEvent

__all__ = ["Detection", "Frame", "FrameMeta", "ViolationEvent"]
