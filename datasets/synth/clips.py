"""Drive-by clips: one seeded street filmed on several passes, with GPS track, camera model and ground truth.

Layout written under `--out`:
    zones/road_segments.geojson, zones/no_parking.geojson, zones/version.txt   (once per street)
    pass_XX/clip.mp4 (H.264), track.gpx, track.csv (time,lat,lon,heading), camera.yaml, ground_truth.json

The camera model in camera.yaml is exactly the one rendered with (pinhole, no distortion). The GPS
position of every frame is the camera position (no GPS noise), so inverting the camera model on a box's
bottom centre lands within a metre or two of the object's ground point (objects on the pavement stand
`kerb_h` above the road plane; a car's box bottom is its near edge, not its centre).
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np

from datasets.synth import effects as fxm
from datasets.synth import objects as ob
from datasets.synth.camera import Camera
from datasets.synth.frames import generator_fingerprint
from datasets.synth.geo import StreetGeo
from datasets.synth.labels import box_of, keep, visibility
from datasets.synth.look import Look, random_look
from datasets.synth.render import render_frame
from datasets.synth.shapes import SceneObject
from datasets.synth.world import Densities, Placer, Street, make_street

ORIGIN = (31.2304, 121.4737)
STREET_HEADING_DEG = 37.0
BASE_TIME = datetime(2026, 11, 20, 0, 30, 0, tzinfo=UTC)  # 08:30 in Shanghai (UTC+8)
LOCAL_UTC_OFFSET_H = 8
WIDTH, HEIGHT = 1280, 720
CHIEFS = ["Zhang Wei", "Li Na", "Wang Fang", "Liu Yang", "Chen Jing", "Zhao Lei", "Huang Min", "Zhou Jie"]
DEPARTMENTS = [
    "Street Office City Management Team",
    "District Greening and City Appearance Bureau",
    "District Urban Management Law Enforcement Bureau",
]
SEGMENT_M = 120.0


@dataclass
class PassPlan:
    index: int
    vehicle_id: str
    start_time: datetime
    speed_kmh: float
    lane_t: float
    camera: Camera  # at s = 0; moved along s per frame
    look: Look
    seed: int
    overlay: bool
    motion_blur: int
    drift: tuple[float, float, float] = (0.0, 100.0, 0.0)  # lateral weave: amplitude m, wavelength m, phase

    def pose(self, frame: int, fps: float) -> tuple[float, float, float]:
        """(s, t, heading deviation in degrees, clockwise) of the vehicle at a frame."""
        s = self.speed_kmh / 3.6 * frame / fps
        amp, wave, phase = self.drift
        arg = 2 * math.pi * s / wave + phase
        t = self.lane_t + amp * math.sin(arg)
        dev = math.degrees(math.atan(amp * 2 * math.pi / wave * math.cos(arg)))
        return s, t, dev


def _present(rng: np.random.Generator, kind: str, passes: int) -> list[int]:
    """Which passes an object is there for: parked cars come and go, garbage gets cleared, the rest stays."""
    allp = list(range(passes))
    if passes == 1:
        return allp
    if (
        kind
        in (
            "parked_kerbside",
            "car_in_bay",
            "parked_pavement",
            "parked_crossing",
            "parked_blind_lane",
            "parked_half_kerb",
        )
        and rng.random() < 0.4
    ):
        first = int(rng.integers(0, passes))
        last = int(rng.integers(first, passes))
        return list(range(first, last + 1))
    if kind in ("garbage_pile", "bin_overflow") and rng.random() < 0.25:
        return list(range(0, int(rng.integers(1, passes))))
    return allp


@lru_cache(maxsize=2)
def build_street(seed: int, length_m: float, passes: int) -> tuple[Street, dict[int, list[int]], list[float]]:
    """The street of a clip set: layout, objects, which passes each object is present in, lane offsets."""
    st = make_street(seed, -30.0, length_m + 150.0)
    rng = np.random.default_rng([seed, 42])
    # drive in the first lane outside a 2.3 m kerbside parking strip (bays or not), so cars can stand
    # at the kerb beside the patrol vehicle's path; passes differ by up to +-0.3 m, and weave +-0.35 m
    lane_ts = [float(-2.3 - st.lane_w / 2 + rng.uniform(-0.3, 0.3)) for _ in range(passes)]
    corridor = (-40.0, length_m + 160.0, min(lane_ts) - 3.4, max(lane_ts) + 1.45)
    dens = Densities(
        vending=0.3,
        illegal_parking=0.25,
        bay_cars=0.5,
        road_cars=0.12,
        soil=0.2,
        netted=0.1,
        bins_overflow=0.2,
        bins_ok=0.2,
        garbage=0.25,
        people=0.3,
        poles=0.25,
        far_cars=0.3,
    )
    _ensure_zones_and_bays(st, rng, length_m)
    placer = Placer(st, rng, keep_clear=[corridor])
    # parked cars inside no-stopping (yellow kerb) spans: `vehicle` boxes that zone rules must catch;
    # at least one per span on the driven stretch
    for y0, y1 in st.yellow_kerb:
        lo, hi = max(y0, 8.0), min(y1, length_m + 40)
        if hi - lo < 6:
            continue
        for _ in range(max(1, int(rng.poisson((hi - lo) / 30.0)))):
            spot = placer._spot(lo, hi, -2.2, -0.2, 4.8, 2.0)
            if spot is None:
                continue
            parts, _ = ob.vehicle(rng, spot[0], spot[1], 0.0, float(rng.normal(0, 0.03)))
            placer.add(SceneObject(0, "vehicle", (spot[0], spot[1], 0.0), parts, kind="parked_kerbside"))
    placer.populate(-5.0, length_m + 60.0, dens)
    present = {o.oid: _present(rng, o.kind, passes) for o in st.objects}
    return st, present, lane_ts


def _ensure_zones_and_bays(st: Street, rng: np.random.Generator, length_m: float) -> None:
    """Every clip street shows marked bays (legal parking) and a no-stopping span on its driven stretch."""
    from datasets.synth.world import Bay

    lo, hi = 10.0, max(20.0, length_m - 5.0) + 25.0  # what the camera sees while driving
    if not any(b.s0 < hi and b.s1 > lo for b in st.road_bays + st.pave_bays):
        b0 = lo + float(rng.uniform(0.0, 6.0))
        st.road_bays += [Bay(b0 + 6 * k, b0 + 6 * k + 6, -2.3, 0.0, False, (235, 235, 235)) for k in range(2)]
        cut0, cut1 = b0 - 3.0, b0 + 15.0
        trimmed = []
        for y0, y1 in st.yellow_kerb:  # no yellow paint along the new bays
            if y1 <= cut0 or y0 >= cut1:
                trimmed.append((y0, y1))
                continue
            if y0 < cut0:
                trimmed.append((y0, cut0))
            if y1 > cut1:
                trimmed.append((cut1, y1))
        st.yellow_kerb[:] = [(a, b) for a, b in trimmed if b - a > 3.0]
    if not any(y0 < hi and y1 > lo + 6 for y0, y1 in st.yellow_kerb):
        bays = [b for b in st.road_bays if b.s0 < hi and b.s1 > lo]
        start = max([b.s1 for b in bays], default=lo) + 3.0
        span = (start, start + 20.0)
        st.yellow_kerb.append(span)
        st.road_bays = [b for b in st.road_bays if b.s1 < span[0] - 3 or b.s0 > span[1] + 3]


def plan_passes(seed: int, passes: int, speed_kmh: float, lane_ts: list[float]) -> list[PassPlan]:
    plans = []
    t = BASE_TIME
    for k in range(passes):
        rng = np.random.default_rng([seed, 77, k])
        speed = speed_kmh if k == 0 else float(np.clip(speed_kmh * rng.uniform(0.7, 1.3), 5.0, 60.0))
        local_hour = (t.hour + t.minute / 60.0 + LOCAL_UTC_OFFSET_H) % 24
        look = random_look(rng, hour=float(local_hour))
        cam = Camera(
            s=0.0,
            t=lane_ts[k],
            height_m=float(rng.uniform(1.6, 2.3)),
            pitch_deg=float(rng.uniform(4, 10)),
            yaw_deg=float(rng.uniform(25, 45)),
            hfov_deg=float(rng.uniform(70, 90)),
            roll_deg=0.0,
            width=WIDTH,
            height=HEIGHT,
        )
        plans.append(
            PassPlan(
                k,
                f"PATROL-{int(rng.integers(1, 99)):02d}-{k:02d}",
                t,
                speed,
                lane_ts[k],
                cam,
                look,
                int(rng.integers(0, 2**31 - 1)),
                bool(rng.random() < 0.5),
                int(round(speed / 10)) * 2 + 1 if speed > 15 else 0,
                (
                    float(rng.uniform(0.1, 0.35)),
                    float(rng.uniform(50.0, 120.0)),
                    float(rng.uniform(0, 2 * math.pi)),
                ),
            )
        )
        t = t + timedelta(hours=float(rng.uniform(2.0, 4.0)))
    return plans


def _clip_length(seconds: float, plans: list[PassPlan]) -> float:
    return max(p.speed_kmh for p in plans) / 3.6 * seconds + 5.0


# ------------------------------------------------------------------ per-frame work (runs in workers)

_CTX: dict = {}


def _init_worker(seed: int, length: float, passes: int) -> None:
    _CTX["street"] = build_street(seed, length, passes)


def frame_camera(plan: PassPlan, frame: int, fps: float) -> Camera:
    """The camera of a frame: the pass's mounting, moved to the vehicle pose (the camera turns with it)."""
    s, t, dev = plan.pose(frame, fps)
    c = plan.camera
    return Camera(
        s=s,
        t=t,
        height_m=c.height_m,
        pitch_deg=c.pitch_deg,
        yaw_deg=c.yaw_deg + dev,
        hfov_deg=c.hfov_deg,
        roll_deg=c.roll_deg,
        width=c.width,
        height=c.height,
    )


def render_clip_frame(args: tuple) -> tuple[np.ndarray, dict[int, list[int]]]:
    """Render one frame of a pass: (RGB image, {object id: [x1, y1, x2, y2]} of labelled visible objects)."""
    seed, length, passes, plan, frame, fps = args
    st, present, _ = _CTX.get("street") or build_street(seed, length, passes)
    cam = frame_camera(plan, frame, fps)
    keep_ids = {oid for oid, ps in present.items() if plan.index in ps}
    view = Street(**{**st.__dict__, "objects": [o for o in st.objects if o.oid in keep_ids]})
    rng = np.random.default_rng([plan.seed, frame])
    res = render_frame(view, cam, plan.look)
    img = fxm.apply_atmosphere(res.image, res.depth, plan.look, rng)
    img = fxm.apply_tone(img, plan.look)
    fx = fxm.Effects(
        motion_blur=plan.motion_blur,
        motion_angle=0.0,
        noise=5.5 if plan.look.night else 3.0,
        chroma_noise=1.5,
        vignette=0.2,
    )
    img = fxm.apply_camera(img, fx, rng)
    if plan.overlay:
        when = plan.start_time + timedelta(seconds=frame / fps)
        local = when + timedelta(hours=LOCAL_UTC_OFFSET_H)
        fxm.overlay_text(img, local.strftime("%Y-%m-%d %H:%M:%S") + f"  {plan.vehicle_id}", 0)
    boxes = {}
    for oid, rec in res.drawn.items():
        vis = visibility(res.ids, oid, rec)
        if vis is None:
            continue
        box = box_of(res.ids, oid)
        if box is not None and keep(vis, box):
            boxes[oid] = list(box)
    return img[..., ::-1].copy(), boxes


def render_pass_frames(seed: int, seconds: float, fps: float, speed_kmh: float = 20.0) -> list[np.ndarray]:
    """The frames (RGB) of the first pass along street `seed`, in memory: a drive-by without the files
    (`generate_clips` writes those). Used where a coherent patrol sequence is needed, e.g. the load test."""
    n_frames = max(1, int(round(seconds * fps)))
    length = _clip_length(seconds, plan_passes(seed, 1, speed_kmh, [0.0]))
    _init_worker(seed, length, 1)
    try:
        plan = plan_passes(seed, 1, speed_kmh, _CTX["street"][2])[0]
        return [render_clip_frame((seed, length, 1, plan, i, fps))[0] for i in range(n_frames)]
    finally:
        _CTX.pop("street", None)


# ------------------------------------------------------------------ writers


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def write_zones(out: Path, st: Street, geo: StreetGeo, seed: int, length: float) -> None:
    zones = out / "zones"
    zones.mkdir(parents=True, exist_ok=True)

    def ring(poly_st: list[tuple[float, float]]) -> list[list[float]]:
        pts = [list(reversed(geo.latlon(s, t))) for s, t in poly_st]  # GeoJSON is [lon, lat]
        return [[round(x, 8) for x in p] for p in pts + [pts[0]]]

    rng = np.random.default_rng([seed, 5])
    feats = []
    n_seg = max(1, int(math.ceil((length + 60.0) / SEGMENT_M)))
    for k in range(n_seg):
        s0, s1 = -30.0 + k * SEGMENT_M, -30.0 + (k + 1) * SEGMENT_M
        poly = [(s0, st.far_facade_t), (s1, st.far_facade_t), (s1, st.pave_w), (s0, st.pave_w)]
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring(poly)]},
                "properties": {
                    "id": f"synth-{seed}-seg{k:02d}",
                    "name": f"Synth Road {seed} section {k + 1}",
                    "road_chief": CHIEFS[int(rng.integers(len(CHIEFS)))],
                    "department": DEPARTMENTS[int(rng.integers(len(DEPARTMENTS)))],
                    "area_class": str(rng.choice(["A", "B", "C"])),
                },
            }
        )
    (zones / "road_segments.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": feats}, indent=1), encoding="utf-8"
    )
    nop = []
    for k, (y0, y1) in enumerate(st.yellow_kerb):
        poly = [(y0, -2.5), (y1, -2.5), (y1, 0.0), (y0, 0.0)]
        nop.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring(poly)]},
                "properties": {
                    "id": f"synth-{seed}-nostop{k:02d}",
                    "name": "No stopping (yellow kerb)",
                    "reason": "yellow_kerb",
                },
            }
        )
    for k, (c0, c1) in enumerate(st.crossings):
        poly = [(c0 - 3.0, -st.road_w), (c1 + 3.0, -st.road_w), (c1 + 3.0, 0.0), (c0 - 3.0, 0.0)]
        nop.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring(poly)]},
                "properties": {
                    "id": f"synth-{seed}-crossing{k:02d}",
                    "name": "Pedestrian crossing",
                    "reason": "crossing",
                },
            }
        )
    (zones / "no_parking.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": nop}, indent=1), encoding="utf-8"
    )
    (zones / "version.txt").write_text(f"synth-street-{seed}-v1\n", encoding="utf-8")


def _zone_of(st: Street, s: float, t: float) -> str | None:
    for k, (y0, y1) in enumerate(st.yellow_kerb):
        if y0 <= s <= y1 and -2.5 <= t <= 0.0:
            return f"nostop{k:02d}"
    for k, (c0, c1) in enumerate(st.crossings):
        if c0 - 3.0 <= s <= c1 + 3.0 and -st.road_w <= t <= 0.0:
            return f"crossing{k:02d}"
    return None


def write_track(pass_dir: Path, plan: PassPlan, geo: StreetGeo, n_frames: int, fps: float) -> None:
    import gpxpy
    import gpxpy.gpx

    gpx = gpxpy.gpx.GPX()
    trk = gpxpy.gpx.GPXTrack(name=plan.vehicle_id)
    seg = gpxpy.gpx.GPXTrackSegment()
    gpx.tracks.append(trk)
    trk.segments.append(seg)
    lines = ["time,lat,lon,heading"]
    for i in range(n_frames):
        cam = frame_camera(plan, i, fps)
        lat, lon = geo.latlon(cam.s, cam.t)
        when = plan.start_time + timedelta(seconds=i / fps)
        heading = (STREET_HEADING_DEG + plan.pose(i, fps)[2]) % 360.0
        lines.append(f"{_iso(when)},{lat:.8f},{lon:.8f},{heading:.3f}")
        seg.points.append(gpxpy.gpx.GPXTrackPoint(latitude=round(lat, 8), longitude=round(lon, 8), time=when))
    (pass_dir / "track.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (pass_dir / "track.gpx").write_text(gpx.to_xml(), encoding="utf-8")


def write_camera(pass_dir: Path, cam: Camera) -> None:
    import yaml

    (pass_dir / "camera.yaml").write_text(
        yaml.safe_dump(cam.to_yaml_dict(), sort_keys=False), encoding="utf-8"
    )


def generate_clips(
    out: Path,
    seconds: float,
    seed: int,
    passes: int = 2,
    speed_kmh: float = 20.0,
    fps: float = 10.0,
    workers: int = 1,
    progress: bool = True,
) -> dict:
    """Render `passes` drive-by clips of one street; returns a summary (frames, objects per pass)."""
    import av
    from tqdm import tqdm

    from detector.taxonomy import default_taxonomy

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tax = default_taxonomy()
    n_frames = max(1, int(round(seconds * fps)))
    probe = plan_passes(seed, passes, speed_kmh, [0.0] * passes)
    length = _clip_length(seconds, probe)
    st, present, lane_ts = build_street(seed, length, passes)
    plans = plan_passes(seed, passes, speed_kmh, lane_ts)
    geo = StreetGeo(ORIGIN[0], ORIGIN[1], STREET_HEADING_DEG)
    write_zones(out, st, geo, seed, length)
    by_id = {o.oid: o for o in st.objects}
    summary = {"street_seed": seed, "frames_per_pass": n_frames, "passes": []}
    pool = (
        ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(seed, length, passes))
        if workers > 1
        else None
    )
    try:
        for plan in plans:
            pass_dir = out / f"pass_{plan.index:02d}"
            pass_dir.mkdir(parents=True, exist_ok=True)
            write_camera(pass_dir, plan.camera)
            write_track(pass_dir, plan, geo, n_frames, fps)
            jobs = [(seed, length, passes, plan, i, fps) for i in range(n_frames)]
            results = pool.map(render_clip_frame, jobs, chunksize=4) if pool else map(render_clip_frame, jobs)
            seen: dict[int, dict[int, list[int]]] = {}
            container = av.open(str(pass_dir / "clip.mp4"), mode="w")
            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
            stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
            stream.options = {"crf": "23", "preset": "veryfast"}
            bar = tqdm(total=n_frames, desc=f"pass {plan.index}", unit="frame", disable=not progress)
            for i, (rgb, boxes) in enumerate(results):
                for oid, box in boxes.items():
                    seen.setdefault(oid, {})[i] = box
                for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    container.mux(packet)
                bar.update(1)
            for packet in stream.encode():
                container.mux(packet)
            container.close()
            bar.close()
            objects = []
            for oid in sorted(seen):
                o = by_id[oid]
                lat, lon = geo.latlon(o.anchor[0], o.anchor[1])
                spec = tax.by_name(o.class_name)
                zone = _zone_of(st, o.anchor[0], o.anchor[1]) if o.class_name == "vehicle" else None
                objects.append(
                    {
                        "id": oid,
                        "class_name": o.class_name,
                        "violation": bool(spec.violation),
                        "kind": o.kind,
                        "lat": round(lat, 8),
                        "lon": round(lon, 8),
                        "street_s_t_z": [round(v, 3) for v in o.anchor],
                        "no_parking_zone": zone,
                        "parked": o.kind in ("parked_kerbside", "car_in_bay")
                        or o.class_name == "illegal_parking",
                        "present_in_passes": present[oid],
                        "frames": sorted(seen[oid]),
                        "boxes": {str(f): b for f, b in sorted(seen[oid].items())},
                    }
                )
            gt = {
                "street_seed": seed,
                "generator_fingerprint": generator_fingerprint(),
                "origin": {"lat": ORIGIN[0], "lon": ORIGIN[1]},
                "street_heading_deg": STREET_HEADING_DEG,
                "start_time": _iso(plan.start_time),
                "fps": fps,
                "n_frames": n_frames,
                "vehicle_id": plan.vehicle_id,
                "speed_kmh": round(plan.speed_kmh, 3),
                "lane_offset_m": round(plan.lane_t, 3),
                "kerb_height_m": round(st.kerb_h, 3),
                "pavement_width_m": round(st.pave_w, 3),
                "camera": plan.camera.to_yaml_dict(),
                "notes": "lat/lon: ground contact point (object centre on the ground); GPS track = camera "
                "position, no noise; boxes are [x1, y1, x2, y2) pixels of visible pixels",
                "objects": objects,
            }
            (pass_dir / "ground_truth.json").write_text(json.dumps(gt, indent=1), encoding="utf-8")
            summary["passes"].append(
                {
                    "pass": plan.index,
                    "vehicle_id": plan.vehicle_id,
                    "objects": len(objects),
                    "speed_kmh": round(plan.speed_kmh, 1),
                    "start_time": _iso(plan.start_time),
                }
            )
    finally:
        if pool:
            pool.shutdown()
    return summary
