"""Helpers for the case store tests: realistic ViolationEvents and stores on SQLite or PostgreSQL."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np

from detector.types import Detection, ViolationEvent

BASE_LAT, BASE_LON = 31.2304, 121.4737
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
CLASSES = {
    "out_of_store_vending": ("09005", 0),
    "illegal_parking": ("09009", 1),
    "exposed_soil": ("L-0001", 2),
    "overflowing_bin": ("06042", 3),
    "exposed_garbage": ("06010", 4),
}


def offset(lat: float, lon: float, north_m: float = 0.0, east_m: float = 0.0) -> tuple[float, float]:
    """The point north_m metres north and east_m metres east of (lat, lon)."""
    return lat + north_m / 111_320.0, lon + east_m / (111_320.0 * math.cos(math.radians(lat)))


def jpeg(seed: int, size: tuple[int, int] = (48, 64)) -> bytes:
    image = np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


def make_event(
    key: str,
    north_m: float = 0.0,
    east_m: float = 0.0,
    class_name: str = "out_of_store_vending",
    score: float = 0.8,
    box: tuple[float, float, float, float] = (100, 100, 200, 180),
    vehicle_id: str = "veh-1",
    at: datetime = T0,
    **fields,
) -> ViolationEvent:
    code, class_id = CLASSES[class_name]
    lat, lon = offset(BASE_LAT, BASE_LON, north_m, east_m)
    seed = sum(key.encode())
    return ViolationEvent(
        event_key=key,
        class_name=class_name,
        matter_code=fields.pop("matter_code", code),
        score=score,
        hits=8,
        first_seen=at,
        last_seen=at + timedelta(seconds=4),
        vehicle_id=vehicle_id,
        lat=lat,
        lon=lon,
        position_source="ground",
        detection=Detection(*box, score, class_id, class_name),
        evidence_jpeg=jpeg(seed),
        crop_jpeg=jpeg(seed + 1, (16, 16)),
        frame_index=12,
        source=f"clip-{key}.mp4",
        **fields,
    )
