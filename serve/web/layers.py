"""Zone layers for the map, read from the zones folder (same files detector/zones.py reads).

`road_segments.geojson` holds the road lines; its properties are normalised to the case fields
(`road_segment_id`, `road_name`, `road_chief`, `responsible_unit`, `area_class`) so the map and the
case list speak one vocabulary. Other `*.geojson` files are polygon layers (no_parking, ...).
Reads are cached by file modification time: an admin upload shows up at the next request.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

ROAD_SEGMENTS_FILE = "road_segments.geojson"
EMPTY: dict[str, Any] = {"type": "FeatureCollection", "features": []}


@lru_cache(maxsize=32)
def _read(path: str, mtime_ns: int) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return EMPTY
    if not isinstance(data, dict) or not isinstance(data.get("features"), list):
        return EMPTY
    return data


def _load(path: Path) -> dict[str, Any]:
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return EMPTY
    return _read(str(path), mtime)


def _segment_props(props: dict[str, Any], index: int) -> dict[str, Any]:
    seg_id = props.get("id", props.get("segment_id", props.get("name", f"segment-{index}")))
    return {
        "road_segment_id": str(seg_id),
        "road_name": props.get("name") or props.get("road_name"),
        "road_chief": props.get("road_chief"),
        "responsible_unit": props.get("department") or props.get("responsible_unit"),
        "area_class": props.get("area_class"),
    }


def road_segment_layer(zones_dir: Path) -> dict[str, Any]:
    """The road-segment layer as a GeoJSON FeatureCollection with normalised properties."""
    data = _load(Path(zones_dir) / ROAD_SEGMENTS_FILE)
    features = []
    for i, feat in enumerate(data["features"]):
        if not isinstance(feat, dict) or not isinstance(feat.get("geometry"), dict):
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": feat["geometry"],
                "properties": _segment_props(feat.get("properties") or {}, i),
            }
        )
    return {"type": "FeatureCollection", "features": features}


def zone_polygon_layer(zones_dir: Path) -> dict[str, Any]:
    """All other layers' features, each with a `layer` property (the file stem)."""
    features = []
    root = Path(zones_dir)
    if not root.is_dir():
        return EMPTY
    for file in sorted(root.glob("*.geojson")):
        if file.name == ROAD_SEGMENTS_FILE:
            continue
        for feat in _load(file)["features"]:
            if isinstance(feat, dict) and isinstance(feat.get("geometry"), dict):
                props = dict(feat.get("properties") or {})
                props["layer"] = file.stem
                features.append({"type": "Feature", "geometry": feat["geometry"], "properties": props})
    return {"type": "FeatureCollection", "features": features}


def road_segment_options(zones_dir: Path) -> list[dict[str, Any]]:
    """Segments for the filter select and the ranking: id, name, road chief, department."""
    out = []
    for feat in road_segment_layer(zones_dir)["features"]:
        p = feat["properties"]
        out.append(
            {
                "id": p["road_segment_id"],
                "name": p["road_name"],
                "road_chief": p["road_chief"],
                "department": p["responsible_unit"],
            }
        )
    return sorted(out, key=lambda o: o["id"])
