"""Flat-ground geolocation: boxes in the image land where the objects stand (synthetic ground truth)."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
from drive_scene import DEFAULT_OBJECTS, render_pass, street_to_latlon

from detector.errors import ConfigError, InputError
from detector.geo import CameraMount, distance_m, ground_offset, load_camera_mount, locate, offset_latlon
from detector.gps import load_gps_track


def test_centre_bottom_pixel_matches_trigonometry() -> None:
    mount = CameraMount(height_m=2.0, pitch_deg=10.0, hfov_deg=90.0, width=1280, height=720)
    # the principal point looks down 10 degrees: hits the ground h / tan(10°) ahead
    hit = ground_offset(640, 360, 1280, 720, mount)
    assert hit is not None
    assert hit.forward_m == pytest.approx(2.0 / math.tan(math.radians(10.0)), rel=1e-6)
    assert hit.right_m == pytest.approx(0.0, abs=1e-9)
    # a pixel right of centre lands right of the axis; a half-size image gives the same point
    a = ground_offset(900, 500, 1280, 720, mount)
    b = ground_offset(450, 250, 640, 360, mount)
    assert a is not None and b is not None and a.right_m > 0
    assert (a.forward_m, a.right_m) == pytest.approx((b.forward_m, b.right_m))


def test_above_horizon_and_too_far_fall_back_to_vehicle() -> None:
    mount = CameraMount(height_m=2.0, pitch_deg=5.0, max_range_m=40.0)
    assert ground_offset(640, 100, 1280, 720, mount) is None  # sky
    assert ground_offset(640, 362, 1280, 720, mount) is not None  # ground, 22 m ahead
    assert ground_offset(640, 310, 1280, 720, mount) is None  # just below the horizon: ~200 m, too far
    pos = locate((640, 100), 1280, 720, 31.0, 121.0, 90.0, mount)
    assert (pos.lat, pos.lon, pos.source) == (31.0, 121.0, "vehicle")
    no_heading = locate((640, 700), 1280, 720, 31.0, 121.0, None, mount)
    assert no_heading.source == "vehicle"


def test_offset_latlon_moves_the_right_distance_and_direction() -> None:
    lat, lon = offset_latlon(31.0, 121.0, 90.0, 10.0, 5.0)  # heading east: 10 m east, 5 m south
    assert distance_m(31.0, 121.0, lat, lon) == pytest.approx(math.hypot(10, 5), rel=1e-3)
    assert lat < 31.0 and lon > 121.0


def test_yaw_turns_the_view(tmp_path: Path) -> None:
    side = CameraMount(height_m=2.0, pitch_deg=10.0, yaw_deg=90.0)
    pos = locate((640, 700), 1280, 720, 31.0, 121.0, 0.0, side)  # driving north, camera looks east
    assert pos.source == "ground"
    assert pos.lon > 121.0 and pos.lat == pytest.approx(31.0, abs=2e-5)


def test_camera_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "camera.yaml"
    bad.write_text("height_m: -1\n")
    with pytest.raises(ConfigError, match="height_m"):
        load_camera_mount(bad)
    with pytest.raises(InputError, match="not found"):
        load_camera_mount(tmp_path / "missing.yaml")
    good = tmp_path / "ok.yaml"
    good.write_text(
        "height_m: 2.4\npitch_deg: 12\nhfov_deg: 80\nyaw_deg: 0\nwidth: 1280\nheight: 720\nfx: 1.0\n"
    )
    assert load_camera_mount(good).height_m == 2.4


def test_geolocation_median_error_on_synthetic_drive(tmp_path: Path) -> None:
    """Every ground-truth box of a rendered drive-by, located from its bottom centre: median error < 5 m."""
    pdir = render_pass(tmp_path / "pass_00", seconds=3.0)
    gt = json.loads((pdir / "ground_truth.json").read_text())["objects"]
    mount = load_camera_mount(pdir / "camera.yaml")
    track = load_gps_track(pdir / "track.csv")
    w, h = mount.width, mount.height
    errors = []
    for obj in gt:
        for frame, (x1, _y1, x2, y2) in zip(obj["frames"], obj["boxes"], strict=True):
            if x1 <= 2 or x2 >= w - 2 or y2 >= h - 2:
                continue  # cut off by the frame: the bottom edge is not the object's foot
            p = track.at_video_time(frame / 10.0)
            pos = locate(((x1 + x2) / 2, y2), w, h, p.lat, p.lon, p.heading, mount)
            if pos.source == "ground":
                errors.append(distance_m(pos.lat, pos.lon, obj["lat"], obj["lon"]))
    assert len(errors) > 20
    assert statistics.median(errors) < 5.0
    # sanity: the scene's objects are where the ground truth says
    first = DEFAULT_OBJECTS[0]
    assert (gt[0]["lat"], gt[0]["lon"]) == pytest.approx(street_to_latlon(first.s, first.t))


def test_ground_area_of_a_flat_patch() -> None:
    """A 2 m x 2 m patch 10 m ahead, seen straight on: its box projects back to about 4 m²."""
    from detector.geo import ground_area_m2

    mount = CameraMount(height_m=2.0, pitch_deg=10.0, hfov_deg=90.0, width=1280, height=720)
    fx = 640.0  # hfov 90° over 1280 px

    def pixel(forward: float, right: float) -> tuple[float, float]:
        p = math.radians(10.0)
        depth = forward * math.cos(p) + 2.0 * math.sin(p)
        down = -forward * math.sin(p) + 2.0 * math.cos(p)
        return 640 + fx * right / depth, 360 + fx * down / depth

    near_l, near_r = pixel(9.0, -1.0), pixel(9.0, 1.0)
    far_l = pixel(11.0, -1.0)
    # the box of the trapezoid: the far edge is narrower, so the box overestimates a little
    box = (near_l[0], far_l[1], near_r[0], near_l[1])
    assert 4.0 <= ground_area_m2(box, 1280, 720, mount) <= 5.0
    assert ground_area_m2((600, 100, 700, 400), 1280, 720, mount) == 0.0  # reaches above the horizon


def test_geolocation_on_a_synth_clip(tmp_path: Path) -> None:
    """The generator's own drive-by (camera yawed to the pavement, kerb, occlusions): median error < 5 m
    over the ground-truth boxes whose foot is in view, each located from its bottom centre."""
    synth = pytest.importorskip("datasets.synth.clips")
    synth.generate_clips(tmp_path, seconds=3.0, seed=7, passes=1, progress=False)
    pdir = tmp_path / "pass_00"
    gt = json.loads((pdir / "ground_truth.json").read_text())
    mount = load_camera_mount(pdir / "camera.yaml")
    track = load_gps_track(pdir / "track.csv")
    errors = []
    for obj in gt["objects"]:
        boxes = obj["boxes"]
        items = boxes.items() if isinstance(boxes, dict) else zip(obj["frames"], boxes, strict=True)
        for frame, (x1, _y1, x2, y2) in items:
            if x1 <= 2 or x2 >= mount.width - 2 or y2 >= mount.height - 2:
                continue
            p = track.at_video_time(int(frame) / gt["fps"])
            pos = locate(((x1 + x2) / 2, y2), mount.width, mount.height, p.lat, p.lon, p.heading, mount)
            if pos.source == "ground":
                errors.append(distance_m(pos.lat, pos.lon, obj["lat"], obj["lon"]))
    assert len(errors) >= 20
    assert statistics.median(errors) < 5.0
