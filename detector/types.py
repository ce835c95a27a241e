"""The core types that travel along the data path: one `Detection`, one `Frame`, one `ViolationEvent`.

Every part of StreetWatch speaks these types; conversions to other libraries' types
(supervision/trackers `Detections`, ultralytics `Results`, JSON) happen at the edges.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class Detection:
    """One detected object. The box is in original-image pixels (x1, y1, x2, y2)."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    class_id: int
    class_name: str

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)

    @property
    def width(self) -> float:
        return max(0.0, self.x2 - self.x1)

    @property
    def height(self) -> float:
        return max(0.0, self.y2 - self.y1)

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def bottom_center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2.0, self.y2)

    def to_dict(self, exact: bool = False) -> dict[str, Any]:
        """JSON-ready form; rounded for people and APIs, `exact=True` for caches that must replay
        bit-identical numbers (a resumed job must reach the same tracks and cases)."""
        return {
            "box": list(self.box) if exact else [round(v, 2) for v in self.box],
            "score": self.score if exact else round(self.score, 4),
            "class_id": self.class_id,
            "class_name": self.class_name,
        }

    def scaled(self, factor: float) -> Detection:
        """The same detection with its box multiplied by `factor` (reduced-image pixels -> original)."""
        if factor == 1:
            return self
        return Detection(
            self.x1 * factor,
            self.y1 * factor,
            self.x2 * factor,
            self.y2 * factor,
            self.score,
            self.class_id,
            self.class_name,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Detection:
        x1, y1, x2, y2 = (float(v) for v in data["box"])
        return cls(x1, y1, x2, y2, float(data["score"]), int(data["class_id"]), str(data["class_name"]))


@dataclass(frozen=True, slots=True)
class FrameMeta:
    """Where and when a frame was taken, and by whom. Live frames carry it; video frames get it from GPS."""

    vehicle_id: str
    frame_id: str
    captured_at: datetime
    lat: float | None = None
    lon: float | None = None
    heading: float | None = None  # degrees clockwise from north, direction of travel


@dataclass(slots=True)
class Frame:
    """One decoded image (BGR, HxWx3 uint8) with its position in the source.

    A live JPEG may be decoded at a reduced size (`scale` original pixels per `image` pixel, see
    detector.decode): the detector needs no more pixels than its input holds. Detections, tracks and
    `width`/`height` are always in original pixels; `encoded` keeps the original file so that the
    evidence of a case is cut from the full-resolution image (`full_image`).
    """

    image: np.ndarray
    index: int  # index of the frame in its source (before sampling)
    timestamp: float  # seconds: video PTS from the start, or Unix wall-clock time for live sources
    source: str  # path or URL it came from
    meta: FrameMeta | None = None
    scale: int = 1  # original pixels per `image` pixel (1: full resolution)
    encoded: bytes | None = None  # the original JPEG/PNG when `image` is reduced
    people: list[list[float]] | None = None  # person boxes as fractions of the frame (detector.context)

    @property
    def height(self) -> int:
        return int(self.image.shape[0]) * self.scale

    @property
    def width(self) -> int:
        return int(self.image.shape[1]) * self.scale

    def full_image(self) -> np.ndarray:
        """The image at full resolution: `image` itself, or `encoded` decoded in full."""
        if self.scale == 1:
            return self.image
        if self.encoded is None:
            raise ValueError("a reduced frame without its original image data")
        from detector.decode import decode_full

        return decode_full(self.encoded)


@dataclass(slots=True)
class ViolationEvent:
    """A track that the rules turned into a violation: the unit that opens or joins a case.

    `event_key` is deterministic for the same source and track (e.g. "video-sha1:track-7"),
    so processing the same footage twice yields the same keys and the case store can refuse
    duplicates.
    """

    event_key: str
    class_name: str  # taxonomy class after rules (e.g. vehicle -> illegal_parking)
    matter_code: str
    score: float  # median score over the track
    hits: int  # frames the track was seen in
    first_seen: datetime
    last_seen: datetime
    vehicle_id: str
    lat: float
    lon: float
    position_source: str  # "ground" (camera geometry) or "vehicle" (fallback: the vehicle's GPS)
    detection: Detection  # the box in the best evidence frame
    evidence_jpeg: bytes | None  # the best frame with the box drawn (None: drawn later from frame_jpeg)
    crop_jpeg: bytes | None  # the raw crop of the box (None: likewise)
    frame_index: int  # index of the evidence frame in its source
    source: str  # video path / stream id the event came from
    road_segment_id: str | None = None
    road_name: str | None = None
    responsible_unit: str | None = None
    road_chief: str | None = None
    area_class: str | None = None  # A / B / C
    deadline: datetime | None = None
    layer_version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # A live upload's original JPEG: the store keeps it as it came and the evidence images are drawn
    # from it when first asked for (no decode and re-encode per event on the live path).
    frame_jpeg: bytes | None = None

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("evidence_jpeg")
        data.pop("crop_jpeg")
        data.pop("frame_jpeg")
        data["detection"] = self.detection.to_dict()
        return data
