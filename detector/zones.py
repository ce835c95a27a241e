"""Zone layers: road segments (who is responsible, which area class) and zones that rules refer to.

A zones folder holds GeoJSON files in WGS84 lon/lat:
- `road_segments.geojson`: LineStrings (or Polygons) with properties `id`/`segment_id`, `name`,
  `road_chief`, `department`, `area_class` (A/B/C);
- `no_parking.geojson` and any other `*.geojson`: named layers of Polygons (layer name = file stem);
- `version.txt` (optional): the layers' version, recorded on every case judged under them.
  Without it the version is a short hash of the files' content, so edited maps never share a version.

Geometries are projected once to a local metric plane (equirectangular around the layers' centre;
error well under 0.1% across a city) so distances are in metres; STRtree indexes make lookups cheap.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from shapely import STRtree
from shapely.errors import ShapelyError
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from detector.errors import InputError

ROAD_SEGMENTS = "road_segments"
EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class RoadSegment:
    segment_id: str
    name: str | None
    road_chief: str | None
    department: str | None
    area_class: str | None
    properties: dict = field(default_factory=dict, compare=False)


class _LocalPlane:
    """lon/lat degrees <-> metres east/north of a reference point."""

    def __init__(self, lat0: float, lon0: float) -> None:
        self.lat0, self.lon0 = lat0, lon0
        self.kx = math.radians(1.0) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
        self.ky = math.radians(1.0) * EARTH_RADIUS_M

    def xy(self, lon, lat):
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky

    def geometry(self, geom: BaseGeometry) -> BaseGeometry:
        def to_metres(coords: np.ndarray) -> np.ndarray:
            out = np.empty_like(coords)
            out[:, 0], out[:, 1] = self.xy(coords[:, 0], coords[:, 1])
            return out

        return shapely.transform(geom, to_metres)


@dataclass
class _Layer:
    name: str
    geoms: list[BaseGeometry]
    properties: list[dict]
    tree: STRtree


class ZoneLayers:
    """All layers of one zones folder, with metric lookups."""

    def __init__(
        self, layers: dict[str, tuple[list[BaseGeometry], list[dict]]], version: str, plane: _LocalPlane
    ):
        self.version = version
        self._plane = plane
        self._layers: dict[str, _Layer] = {}
        for name, (geoms, props) in layers.items():
            metric = [plane.geometry(g) for g in geoms]
            self._layers[name] = _Layer(name, metric, props, STRtree(metric))
        self._segments: list[RoadSegment] = []
        if ROAD_SEGMENTS in self._layers:
            for i, p in enumerate(self._layers[ROAD_SEGMENTS].properties):
                seg_id = p.get("id", p.get("segment_id", p.get("name", f"segment-{i}")))
                self._segments.append(
                    RoadSegment(
                        segment_id=str(seg_id),
                        name=p.get("name"),
                        road_chief=p.get("road_chief"),
                        department=p.get("department", p.get("responsible_unit")),
                        area_class=(str(p["area_class"]).upper() if p.get("area_class") else None),
                        properties=p,
                    )
                )

    @property
    def layer_names(self) -> list[str]:
        return sorted(self._layers)

    def _point(self, lat: float, lon: float) -> Point:
        x, y = self._plane.xy(lon, lat)
        return Point(x, y)

    def nearest_segment(
        self, lat: float, lon: float, max_distance_m: float
    ) -> tuple[RoadSegment, float] | None:
        """The road segment closest to the point, if within `max_distance_m`; ties go to the lowest index."""
        layer = self._layers.get(ROAD_SEGMENTS)
        if layer is None or not layer.geoms:
            return None
        pt = self._point(lat, lon)
        idx, dist = layer.tree.query_nearest(
            pt, max_distance=max_distance_m, return_distance=True, all_matches=True
        )
        if len(idx) == 0:
            return None
        best = min(zip(idx.tolist(), dist.tolist(), strict=True), key=lambda p: (p[1], p[0]))
        return self._segments[best[0]], float(best[1])

    def zones_containing(self, layer_name: str, lat: float, lon: float, buffer_m: float = 0.0) -> list[dict]:
        """Properties of the zones of a layer that contain the point (or come within `buffer_m` of it)."""
        layer = self._layers.get(layer_name)
        if layer is None:
            return []
        pt = self._point(lat, lon)
        if buffer_m > 0:
            hits = layer.tree.query(pt, predicate="dwithin", distance=buffer_m)
        else:
            hits = layer.tree.query(pt, predicate="intersects")
        return [layer.properties[i] for i in sorted(hits.tolist())]

    def in_zone(self, layer_name: str, lat: float, lon: float, buffer_m: float = 0.0) -> bool:
        return bool(self.zones_containing(layer_name, lat, lon, buffer_m))

    @classmethod
    def empty(cls) -> ZoneLayers:
        return cls({}, "none", _LocalPlane(0.0, 0.0))


def _read_geojson(file: Path) -> tuple[list[BaseGeometry], list[dict]]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        where = f"line {line}: " if line else ""
        raise InputError(f"{where}not valid GeoJSON ({exc.__class__.__name__})", file) from exc
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        features = data.get("features") or []
    elif isinstance(data, dict) and data.get("type") == "Feature":
        features = [data]
    else:
        raise InputError("expected a GeoJSON FeatureCollection", file)
    geoms, props = [], []
    for n, feat in enumerate(features):
        try:
            geom = shape(feat["geometry"])
        except (KeyError, TypeError, ValueError, AttributeError, ShapelyError) as exc:
            raise InputError(f"feature {n}: invalid geometry ({exc.__class__.__name__})", file) from exc
        if geom.is_empty:
            continue
        geoms.append(geom)
        props.append(dict(feat.get("properties") or {}))
    return geoms, props


def load_zones(folder: str | Path) -> ZoneLayers:
    """Read every `*.geojson` in `folder` as a layer named after the file; version from version.txt."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError("zones folder not found", root)
    files = sorted(root.glob("*.geojson"))
    if not files:
        raise InputError("zones folder has no .geojson layers", root)
    layers = {f.stem: _read_geojson(f) for f in files}
    version_file = root / "version.txt"
    if version_file.is_file() and version_file.read_text(encoding="utf-8").strip():
        version = version_file.read_text(encoding="utf-8").strip().splitlines()[0].strip()
    else:
        digest = hashlib.sha1()
        for f in files:
            digest.update(f.name.encode())
            digest.update(f.read_bytes())
        version = "sha1-" + digest.hexdigest()[:12]
    all_geoms = [g for geoms, _ in layers.values() for g in geoms]
    if all_geoms:
        xs = [g.centroid.x for g in all_geoms]
        ys = [g.centroid.y for g in all_geoms]
        plane = _LocalPlane(sum(ys) / len(ys), sum(xs) / len(xs))
    else:
        plane = _LocalPlane(0.0, 0.0)
    return ZoneLayers(layers, version, plane)
