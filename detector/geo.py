"""Where is the object? Flat-ground geometry from a box in the image to a latitude/longitude.

The camera is a pinhole mounted `height_m` above flat ground, pitched down by `pitch_deg`, turned by
`yaw_deg` from the vehicle's direction of travel (positive = to the right). The ray through the
bottom-centre of a box (where the object touches the ground) is intersected with the ground plane;
the hit point, in metres ahead/right of the camera, is rotated by the vehicle's heading plus the yaw
and added to the vehicle's GPS position. When the ray points above the horizon or hits the ground
beyond `max_range_m` (too flat to be trusted), the vehicle's own position is used instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from detector.errors import ConfigError, InputError
from detector.yaml_io import read_yaml_mapping

EARTH_RADIUS_M = 6_371_008.8


class CameraMount(BaseModel):
    """How the camera sits on the patrol vehicle (one file per vehicle/camera, e.g. camera.yaml)."""

    height_m: float = Field(default=2.0, gt=0, description="Height of the camera above the road, metres.")
    pitch_deg: float = Field(
        default=10.0, ge=-30, le=89, description="Downward tilt of the optical axis, degrees (0 = level)."
    )
    hfov_deg: float = Field(default=90.0, gt=1, lt=179, description="Horizontal field of view, degrees.")
    yaw_deg: float = Field(
        default=0.0,
        description="Direction of the optical axis relative to the direction of travel, degrees "
        "clockwise (90 = looking right out of the vehicle).",
    )
    roll_deg: float = Field(default=0.0, description="Rotation about the optical axis, degrees (clockwise).")
    width: int = Field(default=1280, gt=0, description="Image width the field of view refers to, pixels.")
    height: int = Field(default=720, gt=0, description="Image height the field of view refers to, pixels.")
    max_range_m: float = Field(
        default=60.0,
        gt=0,
        description="Ground hits farther than this are not trusted (vehicle position used).",
    )

    model_config = {"extra": "ignore"}


def load_camera_mount(path: str | Path) -> CameraMount:
    """Read a camera mount YAML file; a bad file or field raises a one-line ConfigError naming it."""
    file = Path(path)
    if not file.is_file():
        raise InputError("camera mount file not found", file)
    data = read_yaml_mapping(file, "a mapping of camera fields")
    try:
        return CameraMount.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"field {field}: {err['msg']}", file) from exc


@dataclass(frozen=True, slots=True)
class GroundPoint:
    forward_m: float  # along the optical axis' horizontal direction
    right_m: float  # to the right of it


def ground_offset(u: float, v: float, image_w: int, image_h: int, mount: CameraMount) -> GroundPoint | None:
    """Intersect the ray through pixel (u, v) with the ground; None when it misses or lands too far.

    Pixel coordinates are rescaled to the mount's reference size, so a 640-wide copy of a
    1280-wide stream gives the same answer. Yaw is applied afterwards (as a bearing), so the result
    is relative to the optical axis' horizontal direction.
    """
    sx = mount.width / image_w if image_w else 1.0
    sy = mount.height / image_h if image_h else 1.0
    u, v = u * sx, v * sy
    fx = (mount.width / 2.0) / math.tan(math.radians(mount.hfov_deg) / 2.0)
    xn = (u - mount.width / 2.0) / fx
    yn = (v - mount.height / 2.0) / fx  # square pixels
    p, r = math.radians(mount.pitch_deg), math.radians(mount.roll_deg)
    # Camera axes in (forward, right, up) of the optical axis' horizontal direction.
    right0 = (0.0, 1.0, 0.0)
    down0 = (-math.sin(p), 0.0, -math.cos(p))
    fwd = (math.cos(p), 0.0, -math.sin(p))
    right = tuple(math.cos(r) * a + math.sin(r) * b for a, b in zip(right0, down0, strict=True))
    down = tuple(-math.sin(r) * a + math.cos(r) * b for a, b in zip(right0, down0, strict=True))
    d = [xn * right[i] + yn * down[i] + fwd[i] for i in range(3)]
    if d[2] >= -1e-9:
        return None  # at or above the horizon
    k = mount.height_m / -d[2]
    forward_m, right_m = k * d[0], k * d[1]
    if forward_m <= 0 or math.hypot(forward_m, right_m) > mount.max_range_m:
        return None
    return GroundPoint(forward_m, right_m)


def ground_area_m2(
    box: tuple[float, float, float, float], image_w: int, image_h: int, mount: CameraMount
) -> float:
    """Ground footprint of a flat object (soil, a puddle of garbage) seen as `box`: the quadrilateral
    whose corners are the four box corners projected on the ground. 0 when the box reaches the horizon
    (its top is not on the ground). Meaningful for things lying on the ground, not for upright ones."""
    x1, y1, x2, y2 = box
    corners = [
        ground_offset(x, y, image_w, image_h, mount) for x, y in ((x1, y2), (x2, y2), (x2, y1), (x1, y1))
    ]
    if any(c is None for c in corners):
        return 0.0
    pts = [(c.forward_m, c.right_m) for c in corners]  # type: ignore[union-attr]
    area = 0.0
    for (ax, ay), (bx, by) in zip(pts, pts[1:] + pts[:1], strict=True):
        area += ax * by - bx * ay
    return abs(area) / 2.0


def offset_latlon(
    lat: float, lon: float, bearing_deg: float, forward_m: float, right_m: float
) -> tuple[float, float]:
    """Move (lat, lon) `forward_m` along `bearing_deg` (clockwise from north) and `right_m` to its right."""
    b = math.radians(bearing_deg)
    north = forward_m * math.cos(b) - right_m * math.sin(b)
    east = forward_m * math.sin(b) + right_m * math.cos(b)
    dlat = math.degrees(north / EARTH_RADIUS_M)
    dlon = math.degrees(east / (EARTH_RADIUS_M * math.cos(math.radians(lat))))
    return lat + dlat, lon + dlon


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def initial_bearing(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Bearing from point 1 to point 2, degrees clockwise from north."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(x, y)) % 360.0


@dataclass(frozen=True, slots=True)
class GeoPosition:
    lat: float
    lon: float
    source: str  # "ground" or "vehicle"


def locate(
    bottom_center: tuple[float, float],
    image_w: int,
    image_h: int,
    lat: float,
    lon: float,
    heading: float | None,
    mount: CameraMount,
    depth_m: float = 0.0,
    top_center: tuple[float, float] | None = None,
) -> GeoPosition:
    """Ground position of an object from its box, or the vehicle's position as fallback.

    The bottom-centre of the box is where the object's near side touches the road. `depth_m` moves the
    point half the object's depth further along the line of sight (a parked car seen from the side is
    1.8 m deep: its centre is 0.9 m behind its near edge). For things lying flat on the ground (bare
    soil) pass `top_center`: the box's top edge is then the far edge of the patch, and the position is
    the middle between the near and far edges.
    """
    if heading is None:
        return GeoPosition(lat, lon, "vehicle")
    hit = ground_offset(bottom_center[0], bottom_center[1], image_w, image_h, mount)
    if hit is None:
        return GeoPosition(lat, lon, "vehicle")
    forward, right = hit.forward_m, hit.right_m
    far = ground_offset(top_center[0], top_center[1], image_w, image_h, mount) if top_center else None
    if far is not None:
        forward, right = (forward + far.forward_m) / 2.0, (right + far.right_m) / 2.0
    elif depth_m > 0:
        r = math.hypot(forward, right)
        if r > 0:
            k = (r + depth_m / 2.0) / r
            forward, right = forward * k, right * k
    glat, glon = offset_latlon(lat, lon, heading + mount.yaw_deg, forward, right)
    return GeoPosition(glat, glon, "ground")
