"""Draw detections on an image: boxes and "class score" labels, one stable colour per class."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from detector.types import Detection

# ultralytics' default palette (BGR here), so evidence images look like the tools people know.
_PALETTE_RGB = (
    (4, 42, 255),
    (11, 219, 235),
    (243, 243, 243),
    (0, 223, 183),
    (17, 31, 104),
    (255, 111, 221),
    (255, 68, 79),
    (204, 237, 0),
    (0, 243, 68),
    (189, 0, 255),
    (0, 180, 255),
    (221, 0, 186),
    (0, 255, 255),
    (38, 192, 0),
    (1, 255, 179),
    (125, 36, 255),
    (123, 0, 104),
    (255, 27, 108),
    (252, 109, 47),
    (162, 255, 11),
)
PALETTE = tuple((b, g, r) for r, g, b in _PALETTE_RGB)

Color = tuple[int, int, int]


def class_color(class_id: int) -> Color:
    """The palette colour (BGR) of a class id."""
    return PALETTE[int(class_id) % len(PALETTE)]


def _color_for(det: Detection, colors: Mapping[str | int, Color] | None) -> Color:
    if colors:
        if det.class_name in colors:
            return tuple(colors[det.class_name])  # type: ignore[return-value]
        if det.class_id in colors:
            return tuple(colors[det.class_id])  # type: ignore[return-value]
    return class_color(det.class_id)


def draw_detections(
    image: np.ndarray,
    detections: Iterable[Detection],
    colors: Mapping[str | int, Color] | None = None,
    labels: bool = True,
) -> np.ndarray:
    """A copy of `image` (BGR) with each detection's box and "name 0.87" label drawn.

    `colors` maps class names or ids to BGR colours; others get the palette colour of their id.
    """
    import cv2

    out = np.ascontiguousarray(image).copy()
    h, w = out.shape[:2]
    thickness = max(1, round((h + w) / 2 * 0.003))
    font_scale = max(0.35, thickness / 3)
    for det in detections:
        color = _color_for(det, colors)
        # boxes reaching the image edge (x2 == width) are drawn on the last pixel, so they stay visible
        x1, y1 = min(max(int(round(det.x1)), 0), w - 1), min(max(int(round(det.y1)), 0), h - 1)
        x2, y2 = min(max(int(round(det.x2)), 0), w - 1), min(max(int(round(det.y2)), 0), h - 1)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness)
        if not labels:
            continue
        text = f"{det.class_name} {det.score:.2f}"
        text_thickness = max(1, thickness - 1)
        (tw, th), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, text_thickness)
        above = y1 - th - baseline - 2 >= 0
        ty1 = y1 - th - baseline - 2 if above else y1
        ty2 = y1 if above else y1 + th + baseline + 2
        cv2.rectangle(out, (x1, ty1), (min(x1 + tw + 2, w - 1), ty2), color, -1)
        luminance = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2]
        text_color = (0, 0, 0) if luminance > 150 else (255, 255, 255)
        cv2.putText(
            out,
            text,
            (x1 + 1, ty2 - baseline - 1),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            text_color,
            max(1, thickness - 1),
            lineType=cv2.LINE_AA,
        )
    return out


class VideoWriter:
    """Write BGR frames to an H.264 mp4 with PyAV (libx264, yuv420p). Odd sizes are padded to even.

    Use as a context manager; the size is taken from the first frame.
    """

    def __init__(self, path: str | Path, fps: float = 25.0, crf: int = 23) -> None:
        self.path = Path(path)
        self.fps = fps if fps and fps > 0 else 25.0
        self.crf = crf
        self._container = None
        self._stream = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def _open(self, width: int, height: int) -> None:
        from fractions import Fraction

        import av

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.path), mode="w")
        rate = Fraction(self.fps).limit_denominator(1001)
        stream = self._container.add_stream("libx264", rate=rate)
        stream.width, stream.height = width + width % 2, height + height % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(self.crf), "preset": "veryfast"}
        self._stream = stream
        self._time_base = 1 / rate
        self._size = (width, height)

    def write(self, image: np.ndarray) -> None:
        import av

        h, w = image.shape[:2]
        if self._container is None:
            self._open(w, h)
        if (w, h) != self._size:
            import cv2

            image = cv2.resize(image, self._size)
        if w % 2 or h % 2:
            image = np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        frame.pts = self.frames
        frame.time_base = self._time_base
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self._container is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            self._container = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
