"""A tiny drive-by scene for the pipeline tests: a straight street, coloured boxes, known positions.

Renders a short H.264 clip (PyAV) from a camera on a vehicle driving east, with the GPS track, the
camera mount, zone layers and ground truth in the same shape as `streetwatch synth` writes them
(pass folder: clip.mp4, track.csv, camera.yaml, ground_truth.json; zones/ next to it). Small and fast
(640x360, a few seconds) so the end-to-end tests stay well under a minute.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LAT0, LON0 = 31.2300, 121.4700  # street origin (s = 0, t = 0 at the right kerb)
HEADING = 90.0  # driving east
EARTH_R = 6_371_008.8


def street_to_latlon(s: float, t: float) -> tuple[float, float]:
    """s metres east along the street, t metres to the right of travel (= south)."""
    north, east = -t, s
    lat = LAT0 + math.degrees(north / EARTH_R)
    lon = LON0 + math.degrees(east / (EARTH_R * math.cos(math.radians(LAT0))))
    return lat, lon


@dataclass(frozen=True)
class SceneObject:
    id: str
    class_name: str
    violation: bool
    s: float  # footprint centre along the street
    t: float  # footprint centre across (right positive)
    width: float  # along s
    depth: float  # along t
    height: float
    color: tuple[int, int, int]


DEFAULT_OBJECTS = (
    SceneObject("stall-1", "out_of_store_vending", True, 22.0, 2.0, 1.6, 1.0, 1.2, (30, 90, 230)),
    SceneObject("bin-1", "overflowing_bin", True, 34.0, 1.5, 0.8, 0.8, 1.1, (60, 170, 40)),
    SceneObject(
        "car-1", "vehicle", False, 46.0, -1.0, 4.2, 1.8, 1.5, (160, 60, 40)
    ),  # parked, no-parking zone
)


def _camera_axes(pitch_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = math.radians(pitch_deg)
    right = np.array([0.0, 1.0, 0.0])
    down = np.array([-math.sin(p), 0.0, -math.cos(p)])
    fwd = np.array([math.cos(p), 0.0, -math.sin(p)])
    return right, down, fwd


def _project_box(
    obj: SceneObject, cam_s: float, cam_t: float, cam_h: float, pitch: float, w: int, h: int, hfov: float
) -> tuple[float, float, float, float, float] | None:
    right, down, fwd = _camera_axes(pitch)
    fx = (w / 2.0) / math.tan(math.radians(hfov) / 2.0)
    corners = []
    for ds in (-obj.width / 2, obj.width / 2):
        for dt in (-obj.depth / 2, obj.depth / 2):
            for z in (0.0, obj.height):
                rel = np.array([obj.s + ds - cam_s, obj.t + dt - cam_t, z - cam_h])
                x, y, d = rel @ right, rel @ down, rel @ fwd
                if d < 0.5:
                    return None
                corners.append((fx * x / d + w / 2.0, fx * y / d + h / 2.0, d))
    us = [c[0] for c in corners]
    vs = [c[1] for c in corners]
    x1, y1, x2, y2 = min(us), min(vs), max(us), max(vs)
    cx1, cy1, cx2, cy2 = max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2)
    if cx2 - cx1 < 6 or cy2 - cy1 < 6:
        return None
    full = (x2 - x1) * (y2 - y1)
    if (cx2 - cx1) * (cy2 - cy1) < 0.4 * full:
        return None
    depth = min(c[2] for c in corners)
    return cx1, cy1, cx2, cy2, depth


def render_pass(
    out: Path,
    *,
    start_s: float = 0.0,
    speed: float = 10.0,
    seconds: float = 4.0,
    fps: int = 10,
    size: tuple[int, int] = (640, 360),
    objects: tuple[SceneObject, ...] = DEFAULT_OBJECTS,
    cam_t: float = -3.0,
    cam_h: float = 2.0,
    pitch: float = 8.0,
    hfov: float = 90.0,
    time_offset: float = 0.0,
) -> Path:
    """Write one pass (clip.mp4, track.csv, camera.yaml, ground_truth.json) into `out`."""
    import av
    import cv2

    out.mkdir(parents=True, exist_ok=True)
    w, h = size
    rng = np.random.default_rng(7)
    texture = rng.integers(90, 140, size=(h, w), dtype=np.uint8)
    texture = cv2.GaussianBlur(texture, (3, 3), 0)
    base = cv2.cvtColor(texture, cv2.COLOR_GRAY2BGR)
    base[: h // 2 - 10] = (200, 180, 150)  # sky above the horizon band
    n = int(round(seconds * fps))
    gt: dict[str, dict] = {
        o.id: {
            "id": o.id,
            "class_name": o.class_name,
            "violation": o.violation,
            "parked": o.class_name == "vehicle",  # synth's fields: parked vehicles and their no-parking zone
            "no_parking_zone": "np-1" if o.class_name == "vehicle" else None,
            "lat": street_to_latlon(o.s, o.t)[0],
            "lon": street_to_latlon(o.s, o.t)[1],
            "frames": [],
            "boxes": [],
        }
        for o in objects
    }
    container = av.open(str(out / "clip.mp4"), mode="w")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
    stream.options = {"preset": "ultrafast", "crf": "23"}
    rows = ["time,lat,lon,heading"]
    for i in range(n):
        cam_s = start_s + speed * i / fps
        img = base.copy()
        boxes = []
        for o in objects:
            pb = _project_box(o, cam_s, cam_t, cam_h, pitch, w, h, hfov)
            if pb is not None:
                boxes.append((pb[4], o, pb[:4]))
        for _, o, (x1, y1, x2, y2) in sorted(boxes, key=lambda b: -b[0]):
            cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), o.color, -1)
            step = max(3, int((x2 - x1) / 6))
            for xx in range(int(x1), int(x2), step * 2):  # stripes: texture for the sharpness measure
                cv2.rectangle(
                    img,
                    (xx, int(y1)),
                    (min(int(x2), xx + step), int(y2)),
                    tuple(int(c * 0.6) for c in o.color),
                    -1,
                )
            gt[o.id]["frames"].append(i)
            gt[o.id]["boxes"].append([round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2)])
        frame = av.VideoFrame.from_ndarray(img, format="bgr24")
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    for k in range(n + 1):
        lat, lon = street_to_latlon(start_s + speed * k / fps, cam_t)
        rows.append(f"{time_offset + k / fps:.3f},{lat:.8f},{lon:.8f},{HEADING}")
    (out / "track.csv").write_text("\n".join(rows) + "\n")
    (out / "camera.yaml").write_text(
        f"height_m: {cam_h}\npitch_deg: {pitch}\nhfov_deg: {hfov}\nyaw_deg: 0\nroll_deg: 0\n"
        f"width: {w}\nheight: {h}\n"
    )
    (out / "ground_truth.json").write_text(json.dumps({"objects": list(gt.values())}, indent=1))
    return out


def write_zones(folder: Path, version: str = "test-1") -> Path:
    """Road segments along the street (two, A and B) and a no-parking zone around car-1's spot."""
    folder.mkdir(parents=True, exist_ok=True)

    def ll(s: float, t: float) -> list[float]:
        lat, lon = street_to_latlon(s, t)
        return [lon, lat]

    segments = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [ll(-10, -4), ll(30, -4)]},
                "properties": {
                    "id": "seg-west",
                    "name": "West Road",
                    "road_chief": "Li Wei",
                    "department": "District A city management",
                    "area_class": "A",
                },
            },
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [ll(30, -4), ll(90, -4)]},
                "properties": {
                    "id": "seg-east",
                    "name": "East Road",
                    "road_chief": "Wang Fang",
                    "department": "District B city management",
                    "area_class": "B",
                },
            },
        ],
    }
    no_parking = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[ll(40, -3), ll(52, -3), ll(52, 1), ll(40, 1), ll(40, -3)]],
                },
                "properties": {"id": "np-1", "name": "No parking by the school"},
            },
        ],
    }
    (folder / "road_segments.geojson").write_text(json.dumps(segments))
    (folder / "no_parking.geojson").write_text(json.dumps(no_parking))
    (folder / "version.txt").write_text(version + "\n")
    return folder
