"""`CropVerifier`: a second look at a track's best frame, at full resolution, before it becomes a case.

The detector sees a 720p patrol frame shrunk to 288x512: a stall 30 px wide at 40 m becomes 12 px,
and at that size a stall, a heap of garbage and a parked car look alike. The tracker keeps each
track's best frame in full resolution for the evidence picture anyway; the verifier, a small image
classifier (an ultralytics YOLO classify model exported to ONNX), looks at the object cut out of that
frame with some of its surroundings and says which class it is, or that it is background. A track
whose own class it does not back is not filed (`detector.events` / `detector.pipeline`). A live
upload held at reduced size is cut from those pixels when they hold the crop at the classifier's size
(`verify_frame`).

Split like the detector: `verification_crop` (the one crop both training and serving use) ->
`classify` (the onnxruntime session) -> class probabilities by name.
"""

from __future__ import annotations

import ast
import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from detector.errors import ModelError
from detector.onnx_model import OnnxModel
from detector.pipeline_config import VerifierSettings
from detector.types import Frame

BACKGROUND = "background"


def crop_side(box: Sequence[float], context: float) -> float:
    """The side of the square `verification_crop` cuts around `box`, in the box's pixels."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return max(x2 - x1, y2 - y1, 4.0) * (1.0 + 2.0 * context)


def verification_crop(image: np.ndarray, box: Sequence[float], size: int, context: float) -> np.ndarray:
    """The square around `box` (x1, y1, x2, y2 in `image` pixels), its side the box's longer side
    times (1 + 2*context), resized to size x size; what lies outside the image is edge-replicated.

    Square and with context: the class of a parked car (in a marked bay or on the pavement) or of
    goods (outside or behind a shop's door line) is in its surroundings as much as in the box."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = crop_side(box, context)
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    left, top = int(round(cx - side / 2.0)), int(round(cy - side / 2.0))
    n = max(4, int(round(side)))
    h, w = image.shape[:2]
    pad_l, pad_t = max(0, -left), max(0, -top)
    pad_r, pad_b = max(0, left + n - w), max(0, top + n - h)
    patch = image[max(0, top) : min(h, top + n), max(0, left) : min(w, left + n)]
    if pad_l or pad_t or pad_r or pad_b:
        patch = cv2.copyMakeBorder(patch, pad_t, pad_b, pad_l, pad_r, cv2.BORDER_REPLICATE)
    interp = cv2.INTER_AREA if n > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)


def _input_side(shape: Sequence[Any], meta: dict[str, str], path: Path) -> int:
    """The square input's side: from the input shape, or (a dynamic-size export) the 'imgsz' metadata."""
    if isinstance(shape[-1], int):
        return int(shape[-1])
    try:
        imgsz = ast.literal_eval(meta["imgsz"])
        return int(imgsz[0] if isinstance(imgsz, list | tuple) else imgsz)
    except (KeyError, ValueError, SyntaxError, TypeError, IndexError) as exc:
        raise ModelError("dynamic input size and no usable 'imgsz' in the ONNX metadata", path) from exc


class CropVerifier:
    """An image classifier on ONNX Runtime over `verification_crop`s.

    Args:
        path: the .onnx file (ultralytics classify export: input (N, 3, S, S) RGB 0..1, output
            (N, classes) probabilities; class names and input size in its metadata).
        context: surroundings kept around the box, as a fraction of its longer side per side; must be
            what the model was trained with (its metadata 'crop_context' when present).
        threads: onnxruntime intra-op threads.
    """

    def __init__(self, path: str | Path, context: float | None = None, threads: int = 1) -> None:
        self.path = Path(path)
        self.onnx = OnnxModel(path, threads=threads, spin=False, kind="verifier model")
        self.session = self.onnx.session
        if len(self.session.get_outputs()[0].shape) != 2:
            raise ModelError("not an image classifier (its output is not (batch, classes))", self.path)
        meta = self.onnx.metadata
        self.names = self.onnx.names("classifier")
        self.size = _input_side(self.session.get_inputs()[0].shape, meta, self.path)
        self.context = float(meta.get("crop_context", 0.3)) if context is None else float(context)
        self.input_name = self.session.get_inputs()[0].name
        self.version = self.onnx.version
        self.identity = f"{self.path.name}:{self.version}"

    def crop(self, image: np.ndarray, box: Sequence[float]) -> np.ndarray:
        return verification_crop(image, box, self.size, self.context)

    def classify(self, crops: Sequence[np.ndarray]) -> list[dict[str, float]]:
        """Probabilities by class name for each BGR crop (size x size)."""
        if not crops:
            return []
        batch = np.stack([c[:, :, ::-1] for c in crops]).astype(np.float32) / 255.0
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(batch.transpose(0, 3, 1, 2))})[0]
        probs = np.asarray(out, dtype=np.float64)
        if probs.ndim != 2 or probs.shape[1] != len(self.names):
            raise ModelError(f"unexpected classifier output shape {probs.shape}", self.path)
        return [dict(zip(self.names, map(float, row), strict=True)) for row in probs]

    def verify(self, image: np.ndarray, box: Sequence[float]) -> dict[str, float]:
        """Probabilities by class name for the object in `box` of the full-resolution `image`."""
        return self.classify([self.crop(image, box)])[0]

    def verify_frame(
        self, frame: Frame, box: Sequence[float], full_image: Callable[[], np.ndarray] | None = None
    ) -> dict[str, float]:
        """`verify` on a tracked frame, `box` in its original pixels. A live upload decoded at reduced
        size (`frame.scale` > 1) is cut from those pixels when they still hold the crop at the
        classifier's input size or more (it is shrunk to size x size either way), and decoded in full
        (`full_image`, default `frame.full_image`) only for a smaller object: the full decode is ~3 ms
        of a ~5 ms second look on a 720p upload."""
        if frame.scale > 1 and crop_side(box, self.context) / frame.scale >= self.size:
            return self.verify(frame.image, [float(v) / frame.scale for v in box])
        return self.verify((full_image or frame.full_image)(), box)


def default_verifier_path() -> Path | None:
    """The default verifier: env STREETWATCH_VERIFIER (a file, or `none` for no verifier), else the
    bundled `<repo>/models/streetwatch-verifier.onnx` when it exists."""
    env = os.environ.get("STREETWATCH_VERIFIER")
    if env:
        return None if env.strip().lower() == "none" else Path(env).expanduser()
    bundled = Path(__file__).resolve().parent.parent / "models" / "streetwatch-verifier.onnx"
    return bundled if bundled.is_file() else None


@functools.lru_cache(maxsize=4)
def _open_cached(path: Path) -> CropVerifier:
    return CropVerifier(path)


def open_verifier(settings: VerifierSettings | None) -> CropVerifier | None:
    """The verifier a pipeline configuration asks for, shared by every stream that asks for the same
    file (one onnxruntime session per process); None when off, or when the default is asked for and
    no bundled verifier exists. A named file that is missing or unreadable is a ModelError."""
    if settings is None:
        return None
    path = default_verifier_path() if settings.model is None else Path(settings.model).expanduser()
    return None if path is None else _open_cached(path.resolve())
