"""ultralytics' own predict on a .pt checkpoint: the reference our ONNX detector is checked and timed against.

Used by the parity test and by `streetwatch bench detector` (column c). ultralytics and torch are
imported only here, through `prepare_ultralytics()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from detector.types import Detection
from training.ultralytics_env import prepare_ultralytics


class ReferencePredictor:
    """`YOLO(pt).predict` with fixed settings; results converted to our `Detection` type."""

    def __init__(
        self,
        weights: str | Path,
        imgsz: int = 640,
        conf: float = 0.25,
        iou: float = 0.7,
        max_det: int = 300,
        threads: int | None = None,
    ) -> None:
        prepare_ultralytics()
        import torch
        from ultralytics import YOLO

        self._torch = torch
        self.threads = int(threads) if threads is not None else None
        self.model = YOLO(str(weights))
        self.imgsz, self.conf, self.iou, self.max_det = imgsz, conf, iou, max_det
        self.names = [self.model.names[i] for i in sorted(self.model.names)]

    def predict(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        # ultralytics' select_device() resets torch to min(8, cores - 1) threads when its predictor is
        # set up (first call): 1 thread on a 2-core machine. Set ours before every call, and again after
        # the first one, so timed calls run with the thread count asked for.
        first = self.model.predictor is None
        if self.threads is not None:
            self._torch.set_num_threads(self.threads)
        results = self.model.predict(
            list(images),
            imgsz=self.imgsz,
            conf=self.conf,
            iou=self.iou,
            max_det=self.max_det,
            device="cpu",
            verbose=False,
        )
        if first and self.threads is not None:
            self._torch.set_num_threads(self.threads)
        out = []
        for r in results:
            boxes = r.boxes
            xyxy = boxes.xyxy.cpu().numpy().tolist()
            scores = boxes.conf.cpu().numpy().tolist()
            classes = boxes.cls.cpu().numpy().astype(int).tolist()
            out.append(
                [
                    Detection(*(float(v) for v in b), float(s), c, self.names[c])
                    for b, s, c in zip(xyxy, scores, classes, strict=True)
                ]
            )
        return out

    def gflops(self) -> float:
        """The model's GFLOPs at input 640 (ultralytics' own count on the fused model, as predict runs it)."""
        from ultralytics.utils.torch_utils import get_flops

        self.model.fuse(verbose=False)  # predict fuses Conv+BN too; the unfused count is ~3% higher
        return float(get_flops(self.model.model, imgsz=640))


def reference_images() -> dict[str, Path]:
    """ultralytics' bundled sample images (bus.jpg, zidane.jpg), as used by its own docs and tests."""
    prepare_ultralytics()
    from ultralytics.utils import ASSETS

    return {p.name: p for p in sorted(Path(ASSETS).glob("*.jpg"))}
