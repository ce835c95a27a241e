"""The synthetic patrol-scene generator: deterministic frames with labels that match the pixels, and
drive-by clips whose GPS track, camera model and ground truth agree with each other."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from datasets.synth import frames as synth_frames
from datasets.synth.camera import Camera
from datasets.synth.clips import generate_clips, render_pass_frames
from datasets.synth.geo import EARTH_RADIUS_M, StreetGeo, distance_m
from datasets.synth.labels import box_of, keep, visibility
from datasets.synth.look import random_look
from datasets.synth.render import render_frame
from datasets.synth.shapes import SceneObject
from datasets.synth.world import make_street
from detector.taxonomy import default_taxonomy

CLASSES = default_taxonomy().model_names


@pytest.fixture(scope="module")
def image_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "set"
    synth_frames.generate_images(out, 12, seed=5, workers=1, progress=False)
    return out


def _labels(folder: Path) -> dict[str, list[list[float]]]:
    out = {}
    for f in sorted((folder / "labels").glob("*.txt")):
        out[f.stem] = [
            [float(v) for v in line.split()] for line in f.read_text().splitlines() if line.strip()
        ]
    return out


def test_image_set_layout_and_every_class(image_set: Path) -> None:
    images = sorted((image_set / "images").glob("*.jpg"))
    assert len(images) == 12
    assert (image_set / "classes.txt").read_text().split() == CLASSES
    data = yaml.safe_load((image_set / "data.yaml").read_text())
    assert data["names"] == dict(enumerate(CLASSES)) and (image_set / data["train"]).is_dir()
    rows = list(csv.DictReader((image_set / "groups.csv").open()))
    assert [r["image"] for r in rows] == [f"images/{p.name}" for p in images]
    # frames of one scene share a group, so a split by group never puts one street on both sides
    groups = {r["image"]: r["group"] for r in rows}
    assert len(set(groups.values())) == 12 // synth_frames.FRAMES_PER_SCENE
    labels = _labels(image_set)
    seen = {CLASSES[int(row[0])] for rows_ in labels.values() for row in rows_}
    assert seen == set(CLASSES), f"classes never labelled: {set(CLASSES) - seen}"
    import cv2

    for img_path in images[:3]:
        img = cv2.imread(str(img_path))
        assert img.shape == (720, 1280, 3)
    assert (image_set / "contact_sheet.png").stat().st_size > 10_000


def test_labels_are_normalised_boxes_inside_the_image(image_set: Path) -> None:
    heights = []
    for rows in _labels(image_set).values():
        for cls, cx, cy, w, h in rows:
            assert 0 <= int(cls) < len(CLASSES)
            assert w * 1280 >= 7.99 and h * 720 >= 7.99
            assert cx - w / 2 + 1e-6 >= 0 and cx + w / 2 <= 1 + 1e-6
            assert cy - h / 2 + 1e-6 >= 0 and cy + h / 2 <= 1 + 1e-6
            heights.append(h * 720)
    assert np.median(heights) >= 20, "objects too small for a YOLO at imgsz 416-640"


def test_same_seed_same_bytes_whatever_the_workers(tmp_path: Path, image_set: Path) -> None:
    synth_frames.generate_images(tmp_path / "a", 4, seed=5, workers=2, progress=False)
    for name in ("synth_s5_000000", "synth_s5_000003"):
        assert (tmp_path / "a" / "labels" / f"{name}.txt").read_bytes() == (
            image_set / "labels" / f"{name}.txt"
        ).read_bytes()
        assert (tmp_path / "a" / "images" / f"{name}.jpg").read_bytes() == (
            image_set / "images" / f"{name}.jpg"
        ).read_bytes()
    other = synth_frames.render_training_frame(6, 0)[1]
    assert other != _labels(image_set)["synth_s5_000000"], "a different seed should give a different frame"


def test_label_box_matches_the_pixels_the_object_changed() -> None:
    """Render a street with and without one object: the label box is where the image changed."""
    from datasets.synth import objects as ob

    st = make_street(123, -20, 120)
    st.objects = []
    rng = np.random.default_rng(0)
    look = random_look(rng)
    look.shadow_strength = 0.0
    cam = Camera(s=0, t=-4.0, height_m=2.0, pitch_deg=8, yaw_deg=40, hfov_deg=80)
    base = render_frame(st, cam, look).image.astype(np.int16)
    for kind in ("bin", "pile", "car"):
        if kind == "bin":
            parts, _ = ob.bin_object(rng, 9.0, st.pave_w - 1.0, st.kerb_h, 0.0, "overflow")
        elif kind == "pile":
            parts, _ = ob.garbage_pile(rng, 8.0, 1.5, st.kerb_h)
        else:
            parts, _ = ob.vehicle(rng, 12.0, 1.5, st.kerb_h, 0.0, "car")
        st.objects = [SceneObject(7, "exposed_garbage", (9.0, 1.5, st.kerb_h), parts, cast_shadow=False)]
        res = render_frame(st, cam, look)
        diff = np.abs(res.image.astype(np.int16) - base).max(axis=2) > 60
        ys, xs = np.nonzero(diff)
        changed = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        box = box_of(res.ids, 7)
        vis = visibility(res.ids, 7, res.drawn[7])
        assert box is not None and vis is not None and keep(vis, box)
        ix = max(0, min(box[2], changed[2]) - max(box[0], changed[0]))
        iy = max(0, min(box[3], changed[3]) - max(box[1], changed[1]))
        inter = ix * iy
        union = (
            (box[2] - box[0]) * (box[3] - box[1])
            + (changed[2] - changed[0]) * (changed[3] - changed[1])
            - inter
        )
        assert inter / union > 0.85, (kind, box, changed)


def test_occluded_object_gets_no_label() -> None:
    from datasets.synth import objects as ob

    st = make_street(321, -20, 120)
    rng = np.random.default_rng(1)
    look = random_look(rng)
    cam = Camera(s=0, t=-4.0, height_m=2.0, pitch_deg=8, yaw_deg=40, hfov_deg=80)
    bag_parts, _ = ob.garbage_pile(rng, 10.0, 0.9, st.kerb_h)
    pile = SceneObject(1, "exposed_garbage", (10.0, 0.9, st.kerb_h), bag_parts)
    st.objects = [pile]
    alone = render_frame(st, cam, look)
    vis = visibility(alone.ids, 1, alone.drawn[1])
    assert keep(vis, box_of(alone.ids, 1))
    van_parts, _ = ob.vehicle(rng, 7.5, -1.2, 0.0, 0.0, "truck")  # between the camera and the pile
    st.objects = [pile, SceneObject(2, "vehicle", (7.5, -1.2, 0.0), van_parts)]
    res = render_frame(st, cam, look)
    vis = visibility(res.ids, 1, res.drawn[1])
    box = box_of(res.ids, 1)
    assert box is None or not keep(vis, box)


def test_camera_ground_point_inverts_projection() -> None:
    cam = Camera(s=3.0, t=-4.0, height_m=1.9, pitch_deg=7, yaw_deg=35, hfov_deg=85, roll_deg=0.0)
    pts = np.array([[12.0, 2.0, 0.0], [30.0, 5.0, 0.0], [8.0, -1.0, 0.0]])
    uv, depth = cam.project(pts)
    assert (depth > 0).all()
    for (u, v), p in zip(uv, pts, strict=True):
        s, t = cam.ground_point(u, v)
        assert math.hypot(s - p[0], t - p[1]) < 1e-6
    geo = StreetGeo(31.2304, 121.4737, 37.0)
    lat, lon = geo.latlon(100.0, 0.0)
    assert abs(distance_m(31.2304, 121.4737, lat, lon) - 100.0) < 0.1
    s, t = geo.street(lat, lon)
    assert abs(s - 100.0) < 1e-3 and abs(t) < 1e-3


@pytest.fixture(scope="module")
def clip_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clips")
    generate_clips(out, seconds=2.0, seed=3, passes=2, speed_kmh=25.0, fps=4.0, progress=False)
    return out


def test_clip_files_parse_and_agree(clip_set: Path) -> None:
    import av
    import gpxpy
    from shapely.geometry import Point, shape

    segs = json.loads((clip_set / "zones" / "road_segments.geojson").read_text())["features"]
    assert segs and all(
        {"id", "name", "road_chief", "department", "area_class"} <= set(f["properties"]) for f in segs
    )
    assert all(f["properties"]["area_class"] in ("A", "B", "C") for f in segs)
    no_parking = [
        shape(f["geometry"])
        for f in json.loads((clip_set / "zones" / "no_parking.geojson").read_text())["features"]
    ]
    assert (clip_set / "zones" / "version.txt").read_text().strip()
    vehicles = set()
    for k in range(2):
        d = clip_set / f"pass_{k:02d}"
        gt = json.loads((d / "ground_truth.json").read_text())
        cam = yaml.safe_load((d / "camera.yaml").read_text())
        rows = list(csv.DictReader((d / "track.csv").open()))
        assert list(rows[0]) == ["time", "lat", "lon", "heading"]
        assert len(rows) == gt["n_frames"] == 8 and rows[0]["time"] == gt["start_time"]
        gpx = gpxpy.parse((d / "track.gpx").read_text())
        points = gpx.tracks[0].segments[0].points
        assert len(points) == len(rows) and abs(points[3].latitude - float(rows[3]["lat"])) < 1e-7
        heading = float(rows[0]["heading"])
        assert heading % 90 != 0
        with av.open(str(d / "clip.mp4")) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            decoded = [f for f in container.decode(video=0)]
        assert len(decoded) == gt["n_frames"] and (decoded[0].width, decoded[0].height) == (1280, 720)
        assert gt["objects"], "a pass should see objects"
        errors = []
        for obj in gt["objects"]:
            assert obj["class_name"] in CLASSES and obj["frames"] == sorted(int(f) for f in obj["boxes"])
            vehicles.add(obj["id"]) if obj["class_name"] == "vehicle" else None
            if obj["no_parking_zone"]:
                p = Point(obj["lon"], obj["lat"])
                assert any(z.buffer(1e-7).contains(p) for z in no_parking)
            for f, (x1, y1, x2, y2) in obj["boxes"].items():
                assert 0 <= x1 < x2 <= 1280 and 0 <= y1 < y2 <= 720
                # invert camera.yaml on the box's bottom centre, flat ground, from the track position
                c = Camera(
                    0, 0, cam["height_m"], cam["pitch_deg"], cam["yaw_deg"], cam["hfov_deg"], cam["roll_deg"]
                )
                g = c.ground_point((x1 + x2) / 2, y2)
                if g is None:
                    continue
                r = rows[int(f)]
                h = math.radians(float(r["heading"]))
                east = g[0] * math.sin(h) + g[1] * math.cos(h)
                north = g[0] * math.cos(h) - g[1] * math.sin(h)
                lat = float(r["lat"]) + math.degrees(north / EARTH_RADIUS_M)
                lon = float(r["lon"]) + math.degrees(
                    east / (EARTH_RADIUS_M * math.cos(math.radians(float(r["lat"]))))
                )
                errors.append(distance_m(lat, lon, obj["lat"], obj["lon"]))
        assert np.median(errors) < 5.0
    all_objects = [
        o
        for k in range(2)
        for o in json.loads((clip_set / f"pass_{k:02d}" / "ground_truth.json").read_text())["objects"]
    ]
    assert any(o["no_parking_zone"] and o["class_name"] == "vehicle" for o in all_objects), (
        "no car in a no-parking zone"
    )
    assert any(o["kind"] == "car_in_bay" and not o["no_parking_zone"] for o in all_objects), "no car in a bay"
    first = json.loads((clip_set / "pass_00" / "ground_truth.json").read_text())
    second = json.loads((clip_set / "pass_01" / "ground_truth.json").read_text())
    assert first["vehicle_id"] != second["vehicle_id"] and first["start_time"] != second["start_time"]
    common = {o["id"] for o in first["objects"]} & {o["id"] for o in second["objects"]}
    assert common, "the same street should show the same objects (same ids) on both passes"
    for o1 in first["objects"]:
        for o2 in second["objects"]:
            if o1["id"] == o2["id"]:
                assert (o1["lat"], o1["lon"], o1["class_name"]) == (o2["lat"], o2["lon"], o2["class_name"])


def test_cli_needs_a_mode(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from detector.errors import InputError
    from streetwatch.cli import app

    result = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "x")])
    assert isinstance(result.exception, InputError)
    result = CliRunner().invoke(
        app, ["synth", "--out", str(tmp_path / "y"), "--images", "1", "--seed", "2", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["images"] == 1


def test_clips_are_reproducible(tmp_path: Path) -> None:
    for name in ("a", "b"):
        generate_clips(
            tmp_path / name, seconds=1.0, seed=11, passes=1, speed_kmh=15.0, fps=3.0, progress=False
        )
    for rel in (
        "pass_00/ground_truth.json",
        "pass_00/track.csv",
        "pass_00/camera.yaml",
        "zones/no_parking.geojson",
        "zones/road_segments.geojson",
    ):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_pass_frames_in_memory_are_the_clip_s_frames_in_order(tmp_path: Path) -> None:
    """render_pass_frames (the load test's drive) gives what generate_clips encodes, frame by frame."""
    import av

    frames = render_pass_frames(seed=11, seconds=1.0, fps=3.0, speed_kmh=15.0)
    generate_clips(tmp_path, seconds=1.0, seed=11, passes=1, speed_kmh=15.0, fps=3.0, progress=False)
    with av.open(str(tmp_path / "pass_00" / "clip.mp4")) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == len(decoded) == 3
    for mine, clip in zip(frames, decoded, strict=True):
        assert mine.shape == clip.shape == (720, 1280, 3)
        # H.264 at crf 23 is lossy: the same picture, not the same bytes
        assert np.abs(mine.astype(np.int16) - clip.astype(np.int16)).mean() < 6
    assert np.abs(frames[0].astype(np.int16) - frames[2].astype(np.int16)).mean() > 1  # the vehicle moved
