"""`Detector`: any ultralytics-exported YOLO detection ONNX, run with ONNX Runtime (no torch).

The model describes itself: class names, input size, stride and version come from the ONNX
metadata ultralytics writes at export. Work is split like ultralytics' predictor:
`preprocess` (letterbox) -> `infer` (the onnxruntime session, nothing else) -> `postprocess`
(decode + class-aware NMS + boxes back to image pixels).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detector.errors import FixedInputSize, ModelError
from detector.onnx_model import OnnxModel, parse_literal
from detector.postprocess import postprocess as _postprocess
from detector.preprocess import LetterboxParams
from detector.preprocess import preprocess as _preprocess
from detector.types import Detection


def _as_hw(value: Any) -> tuple[int, int] | None:
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (int(value[0]), int(value[1]))
    return None


class Detector:
    """A YOLO detection model on ONNX Runtime.

    Args:
        path: the .onnx file (exported by ultralytics: `yolo export format=onnx`).
        conf: minimum class score kept.
        iou: NMS IoU threshold (boxes of the same class overlapping more than this are merged).
        threads: onnxruntime intra-op threads (None: onnxruntime's default, all cores).
        inter_threads: onnxruntime inter-op threads (only used with a parallel execution mode).
        max_det: at most this many detections per image.
        providers: onnxruntime execution providers (default CPU).
        imgsz: input size override (int or (h, w)) for models exported with dynamic input size;
            "auto" = a 16:9 rectangle at the model's own scale (a fixed-size model keeps its own).
        agnostic_nms: one NMS over all classes instead of per class.
        spin: whether onnxruntime's idle threads busy-wait for work (None: onnxruntime's default, yes).
            Spinning lowers latency on an idle machine; turn it off where processes share the cores.
    """

    def __init__(
        self,
        path: str | Path,
        conf: float = 0.25,
        iou: float = 0.45,
        threads: int | None = None,
        max_det: int = 300,
        providers: Sequence[str] | None = None,
        inter_threads: int | None = None,
        imgsz: int | Sequence[int] | str | None = None,
        agnostic_nms: bool = False,
        spin: bool | None = None,
    ) -> None:
        self.path = Path(path)
        self.conf = float(conf)
        self.iou = float(iou)
        self.max_det = int(max_det)
        self.agnostic_nms = agnostic_nms
        self._local = threading.local()  # per-thread input buffer for detect_batch
        self.threads = threads
        self.onnx = OnnxModel(
            path, threads=threads, inter_threads=inter_threads, spin=spin, providers=providers
        )
        self.session = self.onnx.session
        self._metadata = self.onnx.metadata
        self._names = self.onnx.names()
        task = self._metadata.get("task")
        if task is not None and task != "detect":
            raise ModelError(f"not a YOLO detector: the model's task is {task!r}, not 'detect'", self.path)

        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ModelError("not a YOLO detector: expected one NCHW image input", self.path)
        self._input_name = inputs[0].name
        self._input_dtype = np.float16 if "float16" in inputs[0].type else np.float32
        self._output_name = outputs[0].name
        in_shape = inputs[0].shape
        if isinstance(in_shape[1], int) and in_shape[1] != 3:
            raise ModelError(f"not a YOLO detector: input has {in_shape[1]} channels, expected 3", self.path)
        self._dynamic_batch = not isinstance(in_shape[0], int)
        self._static_batch = 1 if self._dynamic_batch else int(in_shape[0])
        self._dynamic_size = not (isinstance(in_shape[2], int) and isinstance(in_shape[3], int))

        meta_imgsz = _as_hw(parse_literal(self._metadata.get("imgsz")))
        stride = parse_literal(self._metadata.get("stride"))
        self._stride = int(stride) if isinstance(stride, int) else 32
        if not self._dynamic_size:
            self._imgsz = (int(in_shape[2]), int(in_shape[3]))
            if imgsz not in (None, "auto") and _as_hw(imgsz) != self._imgsz:
                raise FixedInputSize(
                    f"input size is fixed at {self._imgsz}, cannot run at {imgsz}", self.path
                )
        elif imgsz == "auto" and meta_imgsz is not None:
            # 16:9 at the model's own scale: a 1280x720 frame without the grey bands of a square input
            width = meta_imgsz[1]
            self._imgsz = (int(math.ceil(width * 9 / 16 / self._stride) * self._stride), width)
        elif imgsz is not None and imgsz != "auto":
            hw = _as_hw(imgsz)
            if hw is None:
                raise ModelError(f"invalid input size {imgsz!r}", self.path)
            self._imgsz = hw
        elif meta_imgsz is not None:
            self._imgsz = meta_imgsz
        else:
            raise ModelError("input size unknown: dynamic input and no 'imgsz' metadata", self.path)

        out_shape = outputs[0].shape
        nc = len(self._names)
        if len(out_shape) != 3:
            raise ModelError(
                f"not a YOLO detector: output shape {out_shape}, expected (batch, 4+classes, anchors)",
                self.path,
            )
        end2end_meta = str(self._metadata.get("end2end", "False")) == "True"
        args = parse_literal(self._metadata.get("args"))
        nms_meta = isinstance(args, dict) and bool(args.get("nms"))
        if out_shape[2] == 6 and (end2end_meta or nms_meta or out_shape[1] != 4 + nc):
            self._end2end = True
        elif out_shape[1] == 4 + nc or (not isinstance(out_shape[1], int)):
            self._end2end = False
        else:
            raise ModelError(
                f"not a YOLO detector: output shape {out_shape} does not fit {nc} classes "
                f"(expected (batch, {4 + nc}, anchors))",
                self.path,
            )

    # --- what the model says about itself -------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Class names, index = class id."""
        return list(self._names)

    @property
    def imgsz(self) -> tuple[int, int]:
        """Model input (height, width)."""
        return self._imgsz

    @property
    def stride(self) -> int:
        return self._stride

    @property
    def metadata(self) -> dict[str, str]:
        """The raw ONNX metadata (names, imgsz, stride, version, date, description, args...)."""
        return dict(self._metadata)

    @property
    def dynamic_batch(self) -> bool:
        """Whether one session call takes any batch size (else batches are run in chunks)."""
        return self._dynamic_batch

    @property
    def end2end(self) -> bool:
        """Whether the model outputs final boxes (NMS-free head or exported with nms=True)."""
        return self._end2end

    @property
    def input_name(self) -> str:
        return self._input_name

    def __repr__(self) -> str:
        return (
            f"Detector({str(self.path)!r}, classes={len(self._names)}, imgsz={self._imgsz}, "
            f"conf={self.conf}, iou={self.iou}, threads={self.threads})"
        )

    # --- the three steps ----------------------------------------------------------------------
    def preprocess(
        self, images: Sequence[np.ndarray], out: np.ndarray | None = None
    ) -> tuple[np.ndarray, list[LetterboxParams]]:
        """BGR images (any sizes) -> one NCHW tensor at the model's input size, and each placement.

        `out`: a float32 (N, 3, H, W) buffer to fill instead of allocating one.
        """
        tensor, params = _preprocess(images, self._imgsz, out=out)
        if self._input_dtype is not np.float32:
            tensor = tensor.astype(self._input_dtype)
        return tensor, params

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        """Run the session on a prepared tensor; static-batch models are fed in chunks of their batch size."""
        n = tensor.shape[0]
        if self._dynamic_batch or n == self._static_batch:
            return self.session.run([self._output_name], {self._input_name: tensor})[0]
        chunks = []
        b = self._static_batch
        for start in range(0, n, b):
            part = tensor[start : start + b]
            real = part.shape[0]
            if real < b:  # pad the last chunk to the model's fixed batch
                part = np.concatenate([part, np.zeros((b - real, *part.shape[1:]), dtype=part.dtype)])
            chunks.append(self.session.run([self._output_name], {self._input_name: part})[0][:real])
        return np.concatenate(chunks)

    def postprocess(self, raw: np.ndarray, params: Sequence[LetterboxParams]) -> list[list[Detection]]:
        """Raw output -> detections per image in original-image pixels."""
        if raw.dtype != np.float32:
            raw = raw.astype(np.float32)
        return _postprocess(
            raw,
            params,
            self._names,
            conf=self.conf,
            iou=self.iou,
            max_det=self.max_det,
            end2end=self._end2end,
            agnostic=self.agnostic_nms,
        )

    # --- convenience ----------------------------------------------------------------------------
    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        """Detections in one BGR image (HxWx3 uint8)."""
        return self.detect_batch([image_bgr])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detections for each image of a batch; images may have different sizes."""
        if len(images) == 0:
            return []
        buffer = getattr(self._local, "buffer", None)
        tensor, params = self.preprocess(images, out=buffer)
        self._local.buffer = tensor  # reused by this thread's next call of the same batch size
        return self.postprocess(self.infer(tensor), params)

    __call__ = detect


def open_detector(
    path: str | Path, imgsz: str | int | Sequence[int] | None = "auto", **kwargs: Any
) -> Detector:
    """A Detector at the input size patrol frames want; the one place that choice is made, so that
    live frames, footage jobs and `streetwatch process` see the same detections for the same frames.

    `imgsz`: "auto" = a 16:9 rectangle at the model's own scale (a 416 model runs 256x416: a 1280x720
    frame letterboxed without the grey bands a square input spends time on); an int = square; (h, w);
    None = the model's metadata size. Models with a fixed input size always use their own.
    """
    try:
        return Detector(path, imgsz=imgsz, **kwargs)
    except FixedInputSize:
        return Detector(path, **kwargs)  # a fixed-size model keeps its own input size


def default_model_path() -> Path | None:
    """Default model: $STREETWATCH_MODEL_PATH, else `<repo>/models/streetwatch-yolo11n.onnx` if it exists."""
    env = os.environ.get("STREETWATCH_MODEL_PATH")
    if env:
        return Path(env)
    bundled = Path(__file__).resolve().parent.parent / "models" / "streetwatch-yolo11n.onnx"
    return bundled if bundled.exists() else None
