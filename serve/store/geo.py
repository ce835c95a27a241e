"""Small geodesy for the merge and the searches near a point: haversine distance, search boxes and the
lock grid."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from typing import Any, TypeVar

import sqlalchemy as sa

R = TypeVar("R")

EARTH_RADIUS_M = 6_371_008.8
METERS_PER_DEG_LAT = 111_320.0
#: Lock grid for the concurrent merge on PostgreSQL, in degrees. Fixed for every writer: two writers
#: whose search boxes hold each other's point always share at least one locked cell (the cell of
#: that point), whatever merge distance each one uses.
LOCK_CELL_DEG = 0.001


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def search_box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) that contains every point within radius_m (with margin)."""
    dlat = radius_m / METERS_PER_DEG_LAT * 1.01
    cos_lat = max(math.cos(math.radians(min(89.0, abs(lat) + dlat))), 1e-6)
    dlon = radius_m / (METERS_PER_DEG_LAT * cos_lat) * 1.01
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


def in_search_box(table: Any, lat: float, lon: float, radius_m: float) -> sa.ColumnElement[bool]:
    """SQL: the `lat`/`lon` columns of `table` lie in search_box(lat, lon, radius_m). It narrows a search
    on the index; `within` decides."""
    min_lat, max_lat, min_lon, max_lon = search_box(lat, lon, radius_m)
    return sa.and_(table.lat.between(min_lat, max_lat), table.lon.between(min_lon, max_lon))


def within(rows: Iterable[R], lat: float, lon: float, radius_m: float) -> list[tuple[float, R]]:
    """(haversine distance, row) of each row (`.lat`, `.lon`) within radius_m of the point, in their order."""
    near = ((haversine_m(lat, lon, row.lat, row.lon), row) for row in rows)
    return [(d, row) for d, row in near if d <= radius_m]


def lock_keys(namespace: str, lat: float, lon: float, radius_m: float) -> list[int]:
    """Sorted signed 64-bit advisory-lock keys for the grid cells the search box touches.

    Sorted so that every writer takes its locks in the same global order (no deadlock).
    """
    min_lat, max_lat, min_lon, max_lon = search_box(lat, lon, radius_m)
    keys = set()
    for i in range(math.floor(min_lat / LOCK_CELL_DEG), math.floor(max_lat / LOCK_CELL_DEG) + 1):
        for j in range(math.floor(min_lon / LOCK_CELL_DEG), math.floor(max_lon / LOCK_CELL_DEG) + 1):
            digest = hashlib.blake2b(f"{namespace}|{i}|{j}".encode(), digest_size=8).digest()
            keys.add(int.from_bytes(digest, "big", signed=True))
    return sorted(keys)
