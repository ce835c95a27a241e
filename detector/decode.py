"""Decode a JPEG only as large as the detector needs it.

A 1280x720 frame is letterboxed to 416 px by a model with a 416 input: two thirds of the decoded
pixels are thrown away by the resize. libjpeg can decode at 1/2, 1/4 or 1/8 size in the DCT domain
(OpenCV's `IMREAD_REDUCED_COLOR_*`): less work for the inverse DCT, colour conversion and the
letterbox resize (entropy decoding stays), and a better downsampling than a linear resize. Measured on
this project's 1280x720 street JPEGs: 2.3 -> 1.7 ms per frame on an idle machine (docs/api.md, load
test). `reduction_for` picks the
largest such factor that still leaves at least as many pixels as the letterboxed image uses, and only
one that divides both sides, so that boxes map back to original pixels exactly (`Detection.scaled`).
PNGs are always decoded in full (their reduced modes decode everything and resize), and so is a JPEG
larger than one byte per pixel (metadata-padded; its bytes would be kept for the evidence) or one
libjpeg cannot scale.

The reduced decode goes through simplejpeg (libjpeg-turbo's TurboJPEG API): the same pixels as
OpenCV's (the same library and settings) for ~25 % less CPU on this project's Intel machines
(docs/api.md). OpenCV stays the fallback for what simplejpeg will not take or converts
otherwise (CMYK, lossless, data libjpeg only recovers from with a warning), and for a JPEG whose EXIF
orientation OpenCV turns upright (simplejpeg does not).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import simplejpeg

_EXIF_ORIENTATION = 0x0112

REDUCED_FLAGS: dict[int, int] = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def reduction_for(width: int, height: int, input_shape: tuple[int, int] | None) -> int:
    """The largest of 8, 4, 2 that divides both sides and keeps the letterbox from upscaling, else 1.

    `input_shape` is the model's (h, w); None means "no model known": decode in full.
    """
    if input_shape is None or width <= 0 or height <= 0:
        return 1
    in_h, in_w = input_shape
    gain = min(in_h / height, in_w / width)  # the letterbox's resize factor on the full image
    for factor in (8, 4, 2):
        if width % factor == 0 and height % factor == 0 and factor * gain <= 1.0:
            return factor
    return 1


def read_header(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) from the image's header alone (Pillow; no pixels are decoded, so a small
    file that claims to be huge costs nothing). ValueError when it is not a readable image."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as header:
            return str(header.format), int(header.size[0]), int(header.size[1])
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, ImportError):
        # ImportError: ultralytics, once imported in the process (training, a test's export), patches
        # Image.open to load an optional HEIF plugin for any format Pillow does not know
        raise ValueError("not a readable image (corrupt or truncated)") from None


def decode_reduced(data: bytes, factor: int) -> np.ndarray | None:
    """Decode JPEG bytes at 1/factor size (BGR); None when the data does not decode."""
    if factor > 1:
        pixels = _turbo_reduced(data, factor)
        if pixels is not None:
            return pixels
    return cv2.imdecode(np.frombuffer(data, dtype=np.uint8), REDUCED_FLAGS[factor])


def _turbo_reduced(data: bytes, factor: int) -> np.ndarray | None:
    """simplejpeg's decode at exactly 1/factor size, or None where OpenCV must do it (see module doc)."""
    if _turned_by_exif(data):
        return None
    try:
        height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data)
        if colorspace not in ("YCbCr", "Gray") or width % factor or height % factor:
            return None  # CMYK/YCCK: OpenCV's conversion (Adobe's inverted CMYK) differs
        pixels = simplejpeg.decode_jpeg(
            data, colorspace="BGR", min_width=width // factor, min_height=height // factor
        )
    except (ValueError, RuntimeError):
        return None
    return pixels if pixels.shape[:2] == (height // factor, width // factor) else None


def _turned_by_exif(data: bytes) -> bool:
    """Whether the JPEG's EXIF orientation asks for it to be turned or mirrored (Pillow reads only the
    EXIF block; most frames have none, which a search of the header's first 64 kB tells)."""
    if data.find(b"Exif\x00\x00", 0, 65536) < 0:
        return False
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as header:
            return header.getexif().get(_EXIF_ORIENTATION, 1) != 1
    except Exception:  # noqa: BLE001 - an unreadable EXIF block: let OpenCV decide
        return True


def decode_full(data: bytes) -> np.ndarray:
    """Decode image bytes at full size (BGR); raises ValueError when they do not decode."""
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("image data does not decode")
    return image


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """An uploaded image as decoded for detection: `pixels` at 1/`scale` size, plus the original bytes
    (kept only when reduced) from which the full-resolution evidence is decoded later."""

    pixels: np.ndarray
    scale: int = 1
    encoded: bytes | None = None

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1]) * self.scale

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0]) * self.scale

    @classmethod
    def of(cls, image: np.ndarray | DecodedImage) -> DecodedImage:
        """Wrap a full-resolution array (callers that decoded it themselves)."""
        return image if isinstance(image, DecodedImage) else cls(image)


def decode_for_detection(
    data: bytes, width: int, height: int, is_jpeg: bool, input_shape: tuple[int, int] | None
) -> DecodedImage | None:
    """Decode `data` (whose header said `width` x `height`) as small as the detector allows; None when
    it does not decode to the size its header claims (turned by its EXIF orientation or not)."""
    factor = reduction_for(width, height, input_shape) if is_jpeg and len(data) <= width * height else 1
    pixels = decode_reduced(data, factor)
    if pixels is None and factor > 1:  # e.g. a lossless JPEG: libjpeg does not scale those
        factor, pixels = 1, decode_reduced(data, 1)
    if pixels is None:
        return None
    shape = (pixels.shape[0] * factor, pixels.shape[1] * factor)
    if shape not in ((height, width), (width, height)):  # (w, h): turned upright by its EXIF orientation
        return None
    return DecodedImage(pixels, factor, data if factor > 1 else None)
