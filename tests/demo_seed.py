"""Seed a case store with synthetic violation events along the road segments of a zones folder.

For demos of the inspector page and as the browser tests' fallback seed when no synthetic drive-by
clip + `streetwatch process` are available. The events go through the store's real `ingest_event`
(merge, evidence storage, history), exactly as the pipeline's events do; only the pictures are
drawn here (a plain street scene with one object, box drawn by detector.annotate).

    python tests/demo_seed.py --data-dir data --cases 24
"""

from __future__ import annotations

import argparse
import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from detector.taxonomy import Taxonomy, default_taxonomy
from detector.types import Detection, ViolationEvent

#: A small made-up district (WGS84) around a reference point: four named segments + a no-parking zone.
DEMO_SEGMENTS = (
    ("S-001", "南京东路", "王伟", "黄浦区城管中队", "A", ((-0.006, 0.0), (0.006, 0.0004))),
    ("S-002", "河南中路", "李娜", "黄浦区环卫所", "B", ((-0.0045, -0.0035), (-0.0045, 0.0045))),
    ("S-003", "九江路", "张敏", "黄浦区城管中队", "B", ((-0.006, 0.0025), (0.006, 0.0029))),
    ("S-004", "福州路", "刘洋", "黄浦区市容所", "C", ((0.003, -0.0035), (0.0032, 0.0045))),
)
DEFAULT_CENTER = (31.2304, 121.4737)  # lat, lon


def write_demo_zones(zones_dir: str | Path, center: tuple[float, float] = DEFAULT_CENTER) -> Path:
    """Write `road_segments.geojson` (+ `no_parking.geojson`) for the demo district; returns the folder."""
    lat0, lon0 = center
    folder = Path(zones_dir)
    folder.mkdir(parents=True, exist_ok=True)
    features = []
    for seg_id, name, chief, dept, area, ((dx1, dy1), (dx2, dy2)) in DEMO_SEGMENTS:
        coords = []
        for i in range(9):  # a gently curving street
            t = i / 8
            bend = 0.00012 * math.sin(t * math.pi)
            x = lon0 + dx1 + (dx2 - dx1) * t + (bend if dx1 == dx2 else 0.0)
            y = lat0 + dy1 + (dy2 - dy1) * t + (bend if dy1 == dy2 else 0.0)
            coords.append([round(x, 7), round(y, 7)])
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": coords},
                "properties": {
                    "id": seg_id,
                    "name": name,
                    "road_chief": chief,
                    "department": dept,
                    "area_class": area,
                },
            }
        )
    (folder / "road_segments.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False), encoding="utf-8"
    )
    ring = [
        [lon0 - 0.0030, lat0 - 0.0008],
        [lon0 - 0.0008, lat0 - 0.0008],
        [lon0 - 0.0008, lat0 + 0.0012],
        [lon0 - 0.0030, lat0 + 0.0012],
        [lon0 - 0.0030, lat0 - 0.0008],
    ]
    (folder / "no_parking.geojson").write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"name": "步行街禁停区"},
                        "geometry": {"type": "Polygon", "coordinates": [ring]},
                    }
                ],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    return folder


def _segments(zones_dir: Path) -> list[dict[str, Any]]:
    data = json.loads((zones_dir / "road_segments.geojson").read_text(encoding="utf-8"))
    out = []
    for i, feat in enumerate(data["features"]):
        geom = feat.get("geometry") or {}
        kind, coords = geom.get("type"), geom.get("coordinates")
        if kind == "LineString":
            lines = [coords]
        elif kind in ("MultiLineString", "Polygon"):  # a road-area polygon: its outline
            lines = coords[:1] if kind == "Polygon" else coords
        elif kind == "MultiPolygon":
            lines = [poly[0] for poly in coords]
        else:
            continue
        p = feat.get("properties") or {}
        out.append(
            {
                "id": str(p.get("id", p.get("segment_id", f"segment-{i}"))),
                "name": p.get("name"),
                "chief": p.get("road_chief"),
                "dept": p.get("department"),
                "area": p.get("area_class"),
                "points": [tuple(c[:2]) for line in lines for c in line],
            }
        )
    if not out:
        raise ValueError(f"{zones_dir / 'road_segments.geojson'}: no road segments (lines or polygons)")
    return out


def _scene(
    rng: random.Random, class_name: str, box: tuple[int, int, int, int], size=(1280, 720)
) -> np.ndarray:
    """A plain street picture (sky, facades, road) with one object in `box`, BGR."""
    import cv2

    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    horizon = int(h * 0.42)
    img[:horizon] = (215, 190, 160)
    img[horizon : horizon + 40] = (120, 125, 130)
    for _ in range(7):
        x = rng.randint(-40, w - 60)
        bw, bh = rng.randint(120, 260), rng.randint(140, 300)
        shade = rng.randint(90, 200)
        cv2.rectangle(img, (x, horizon - bh), (x + bw, horizon + 40), (shade, shade - 10, shade - 25), -1)
        for wy in range(horizon - bh + 20, horizon, 45):
            for wx in range(x + 14, x + bw - 20, 38):
                cv2.rectangle(img, (wx, wy), (wx + 18, wy + 22), (120, 90, 60), -1)
    img[horizon + 40 :] = (88, 90, 94)
    cv2.rectangle(img, (0, horizon + 40), (w, horizon + 70), (150, 150, 155), -1)  # kerb / pavement
    for x in range(0, w, 140):
        cv2.rectangle(img, (x, int(h * 0.85)), (x + 70, int(h * 0.86)), (230, 230, 230), -1)
    x1, y1, x2, y2 = box
    if class_name == "overflowing_bin":
        cv2.rectangle(img, (x1 + 10, y1 + (y2 - y1) // 3), (x2 - 10, y2), (40, 110, 40), -1)
        cv2.ellipse(
            img,
            ((x1 + x2) // 2, y1 + (y2 - y1) // 3),
            ((x2 - x1) // 2, (y2 - y1) // 4),
            0,
            180,
            360,
            (60, 70, 80),
            -1,
        )
    elif class_name == "exposed_garbage":
        for _ in range(9):
            cx, cy = rng.randint(x1 + 15, x2 - 15), rng.randint(y1 + 15, y2 - 15)
            cv2.circle(img, (cx, cy), rng.randint(12, 26), (rng.randint(20, 90), rng.randint(20, 90), 30), -1)
    elif class_name == "exposed_soil":
        cv2.rectangle(img, (x1, y1), (x2, y2), (60, 120, 170), -1)
    elif class_name == "illegal_parking":
        cv2.rectangle(img, (x1, y1 + (y2 - y1) // 3), (x2, y2 - 12), (160, 60, 30), -1)
        cv2.rectangle(img, (x1 + 30, y1), (x2 - 30, y1 + (y2 - y1) // 3), (140, 50, 25), -1)
        for cx in (x1 + 40, x2 - 40):
            cv2.circle(img, (cx, y2 - 12), 18, (20, 20, 20), -1)
    else:  # vending stalls
        cv2.rectangle(img, (x1, y1 + (y2 - y1) // 2), (x2, y2), (30, 140, 210), -1)
        cv2.rectangle(img, (x1, y1), (x2, y1 + 24), (40, 40, 200), -1)
    return img


def _jpeg(img: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", img, [int(cv2.IMWRITE_JPEG_QUALITY), 82])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def synthetic_events(
    zones_dir: str | Path,
    n_cases: int = 12,
    *,
    seed: int = 7,
    now: datetime | None = None,
    taxonomy: Taxonomy | None = None,
    vehicles: tuple[str, ...] = ("patrol-01", "patrol-02"),
) -> list[ViolationEvent]:
    """Events for `n_cases` separate places (each seen 1-3 times), on the zones folder's road segments."""
    from detector.annotate import draw_detections

    taxonomy = taxonomy or default_taxonomy()
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    classes = [c for c in taxonomy.classes if c.violation]
    segments = _segments(Path(zones_dir))
    events: list[ViolationEvent] = []
    for k in range(n_cases):
        spec = classes[k % len(classes)]
        seg = segments[k % len(segments)]
        a, b = rng.sample(range(len(seg["points"])), 2) if len(seg["points"]) > 1 else (0, 0)
        t = (k * 0.37 + 0.1) % 1.0
        lon = seg["points"][a][0] + (seg["points"][b][0] - seg["points"][a][0]) * t * 0.5
        lat = seg["points"][a][1] + (seg["points"][b][1] - seg["points"][a][1]) * t * 0.5
        first = now - timedelta(hours=rng.uniform(0.3, 30.0))
        hours = spec.deadline_for(seg["area"])
        for j in range(1 + k % 3):
            seen = first + timedelta(minutes=9 * j)
            bw, bh = rng.randint(200, 380), rng.randint(150, 260)
            x1, y1 = rng.randint(80, 1280 - bw - 80), rng.randint(330, 700 - bh)
            box = (x1, y1, x1 + bw, y1 + bh)
            img = _scene(rng, spec.name, box)
            det = Detection(
                *map(float, box),
                score=round(rng.uniform(0.45, 0.93), 3),
                class_id=spec.id,
                class_name=spec.name,
            )
            evidence = draw_detections(img, [det])
            events.append(
                ViolationEvent(
                    event_key=f"demo-seed-{seed}:case-{k}:obs-{j}",
                    class_name=spec.name,
                    matter_code=spec.matter_code or "",
                    score=det.score,
                    hits=rng.randint(4, 20),
                    first_seen=seen,
                    last_seen=seen + timedelta(seconds=rng.randint(2, 20)),
                    vehicle_id=vehicles[(k + j) % len(vehicles)],
                    lat=lat + rng.uniform(-2e-5, 2e-5),
                    lon=lon + rng.uniform(-2e-5, 2e-5),
                    position_source="ground",
                    detection=det,
                    evidence_jpeg=_jpeg(evidence),
                    crop_jpeg=_jpeg(img[box[1] : box[3], box[0] : box[2]]),
                    frame_index=100 * k + j,
                    source=f"demo-seed-{seed}",
                    road_segment_id=seg["id"],
                    road_name=seg["name"],
                    responsible_unit=seg["dept"],
                    road_chief=seg["chief"],
                    area_class=seg["area"],
                    deadline=first + timedelta(hours=hours) if hours is not None else None,
                    layer_version="demo",
                )
            )
    return events


def seed_store(store: Any, zones_dir: str | Path, n_cases: int = 12, *, seed: int = 7) -> list[int]:
    """Ingest the synthetic events into `store`; returns the ids of the cases they opened."""
    ids: list[int] = []
    for event in synthetic_events(zones_dir, n_cases, seed=seed, taxonomy=getattr(store, "taxonomy", None)):
        result = store.cases.ingest_event(event)
        if result.case.id not in ids:
            ids.append(result.case.id)
    return ids


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data", help="service data directory (store, evidence, zones)")
    parser.add_argument("--cases", type=int, default=16, help="number of places with a violation")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    from serve.settings import load_settings
    from serve.store import CaseStore

    settings = load_settings(data_dir=args.data_dir)
    zones = Path(settings.zones_dir)
    if not (zones / "road_segments.geojson").exists():
        write_demo_zones(zones)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = CaseStore.open(settings.db_url, str(settings.evidence_dir))
    try:
        ids = seed_store(store, zones, args.cases, seed=args.seed)
    finally:
        store.close()
    print(f"seeded {len(ids)} cases into {settings.db_url} (zones: {zones})")


if __name__ == "__main__":
    main()
