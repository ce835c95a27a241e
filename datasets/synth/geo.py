"""Street frame <-> local ENU <-> WGS84 for the synthetic street (equirectangular; fine at street scale).

A street runs at `heading_deg` (clockwise from north). Street point (s, t): s along the heading, t to the
right of it. East = s*sin(h) + t*cos(h); North = s*cos(h) - t*sin(h).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6378137.0


@dataclass(frozen=True)
class StreetGeo:
    lat0: float
    lon0: float
    heading_deg: float

    def enu(self, s: float, t: float) -> tuple[float, float]:
        h = math.radians(self.heading_deg)
        return s * math.sin(h) + t * math.cos(h), s * math.cos(h) - t * math.sin(h)

    def latlon(self, s: float, t: float) -> tuple[float, float]:
        east, north = self.enu(s, t)
        return enu_to_latlon(east, north, self.lat0, self.lon0)

    def street(self, lat: float, lon: float) -> tuple[float, float]:
        east, north = latlon_to_enu(lat, lon, self.lat0, self.lon0)
        h = math.radians(self.heading_deg)
        return east * math.sin(h) + north * math.cos(h), east * math.cos(h) - north * math.sin(h)


def enu_to_latlon(east: float, north: float, lat0: float, lon0: float) -> tuple[float, float]:
    lat = lat0 + math.degrees(north / EARTH_RADIUS_M)
    lon = lon0 + math.degrees(east / (EARTH_RADIUS_M * math.cos(math.radians(lat0))))
    return lat, lon


def latlon_to_enu(lat: float, lon: float, lat0: float, lon0: float) -> tuple[float, float]:
    north = math.radians(lat - lat0) * EARTH_RADIUS_M
    east = math.radians(lon - lon0) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
    return east, north


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), for checks."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))
