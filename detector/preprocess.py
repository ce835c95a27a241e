"""Letterbox preprocessing, identical to ultralytics' `LetterBox(auto=False, center=True)`.

Each image is resized with its aspect ratio kept (cv2.INTER_LINEAR), centred on a canvas of the model's
input size filled with 114, as one NCHW float32 RGB tensor in [0, 1]. `preprocess` writes each resized
image straight into the tensor (split into planes, scaled by 1/255) and fills the padding with the
constant 114/255, so no uint8 canvas is built and the padding is never converted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from detector.errors import InputError

PAD_VALUE = 114
_PAD_FLOAT = np.float32(PAD_VALUE / 255.0)
_SCALE = np.float32(1.0 / 255.0)


@dataclass(frozen=True, slots=True)
class LetterboxParams:
    """How one image was placed on the model input: what `postprocess` needs to map boxes back."""

    orig_shape: tuple[int, int]  # (h, w) of the original image
    input_shape: tuple[int, int]  # (h, w) of the model input canvas
    resized_shape: tuple[int, int]  # (h, w) of the resized image inside the canvas
    gain: tuple[float, float]  # (gain_x, gain_y): resized / original, per axis (sides are rounded)
    pad: tuple[int, int]  # (left, top) padding in pixels

    def to_original(self, boxes: np.ndarray) -> np.ndarray:
        """Map xyxy boxes (N, 4) from input-canvas pixels to original-image pixels, clipped, in place."""
        left, top = self.pad
        gain_x, gain_y = self.gain
        boxes[:, 0::2] -= left
        boxes[:, 1::2] -= top
        boxes[:, 0::2] /= gain_x
        boxes[:, 1::2] /= gain_y
        h, w = self.orig_shape
        np.clip(boxes[:, 0::2], 0, w, out=boxes[:, 0::2])
        np.clip(boxes[:, 1::2], 0, h, out=boxes[:, 1::2])
        return boxes


def letterbox_params(orig_shape: tuple[int, int], input_shape: tuple[int, int]) -> LetterboxParams:
    """The placement ultralytics' LetterBox computes (same rounding, centred, thin sides kept >= 1 px)."""
    h0, w0 = orig_shape
    h1, w1 = input_shape
    r = min(h1 / h0, w1 / w0)
    new_w, new_h = max(round(w0 * r), 1), max(round(h0 * r), 1)
    dw, dh = (w1 - new_w) / 2, (h1 - new_h) / 2
    left, top = round(dw - 0.1), round(dh - 0.1)
    return LetterboxParams(
        orig_shape=(h0, w0),
        input_shape=(h1, w1),
        resized_shape=(new_h, new_w),
        gain=(new_w / w0, new_h / h0),
        pad=(left, top),
    )


def check_image(image: object) -> np.ndarray:
    """Accept an HxWx3 uint8 BGR array (or HxW grayscale, converted); anything else is an InputError."""
    if not isinstance(image, np.ndarray):
        raise InputError(f"expected a numpy image, got {type(image).__name__}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f"expected an HxWx3 BGR image, got shape {tuple(image.shape)}")
    if image.dtype != np.uint8:
        raise InputError(f"expected a uint8 image, got {image.dtype}")
    return image


def letterbox_into(image: np.ndarray, out: np.ndarray) -> LetterboxParams:
    """Letterbox one BGR uint8 image straight into `out` (3, H, W) float32: RGB, [0, 1], padding 114/255.

    The same pixels as resizing onto a uint8 canvas padded with `PAD_VALUE` and converting the whole
    canvas, but only the resized image is converted (a 16:9 frame on a square canvas is half padding)
    and the padding is written as a constant.
    """
    h1, w1 = out.shape[1:]
    params = letterbox_params(image.shape[:2], (h1, w1))
    new_h, new_w = params.resized_shape
    left, top = params.pad
    if (new_h, new_w) != image.shape[:2]:
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    if top > 0:
        out[:, :top] = _PAD_FLOAT
    if top + new_h < h1:
        out[:, top + new_h :] = _PAD_FLOAT
    if left > 0:
        out[:, top : top + new_h, :left] = _PAD_FLOAT
    if left + new_w < w1:
        out[:, top : top + new_h, left + new_w :] = _PAD_FLOAT
    blue, green, red = cv2.split(image)  # contiguous planes: the multiply below streams
    for channel, plane in enumerate((red, green, blue)):
        np.multiply(plane, _SCALE, out=out[channel, top : top + new_h, left : left + new_w], casting="unsafe")
    return params


def preprocess(
    images: Sequence[np.ndarray], input_shape: tuple[int, int], out: np.ndarray | None = None
) -> tuple[np.ndarray, list[LetterboxParams]]:
    """Letterbox a batch of BGR images (any sizes) into one NCHW float32 tensor, plus each placement.

    `out` (N, 3, H, W) float32 is filled and returned when given (saves page-faulting a fresh buffer).
    """
    if len(images) == 0:
        raise InputError("empty batch: no images to preprocess")
    h1, w1 = input_shape
    shape = (len(images), 3, h1, w1)
    if out is None or out.shape != shape or out.dtype != np.float32:
        out = np.empty(shape, dtype=np.float32)
    params = [letterbox_into(check_image(image), out[i]) for i, image in enumerate(images)]
    return out, params
