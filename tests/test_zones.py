"""Zone layers: nearest road segment within a limit, point-in-zone, versions, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from drive_scene import street_to_latlon, write_zones

from detector.errors import InputError
from detector.zones import load_zones


def test_nearest_segment_gives_responsible_unit_and_area_class(tmp_path: Path) -> None:
    zones = load_zones(write_zones(tmp_path / "zones"))
    assert zones.version == "test-1"
    assert zones.layer_names == ["no_parking", "road_segments"]
    lat, lon = street_to_latlon(10.0, 2.0)  # west part, pavement 6 m from the segment's line
    seg, dist = zones.nearest_segment(lat, lon, max_distance_m=30)
    assert seg.segment_id == "seg-west" and seg.area_class == "A"
    assert seg.department == "District A city management" and seg.road_chief == "Li Wei"
    assert dist == pytest.approx(6.0, abs=0.05)
    lat, lon = street_to_latlon(60.0, 0.0)
    assert zones.nearest_segment(lat, lon, 30)[0].segment_id == "seg-east"
    far = street_to_latlon(60.0, 80.0)  # 84 m off the street
    assert zones.nearest_segment(*far, max_distance_m=30) is None


def test_point_in_zone_with_buffer(tmp_path: Path) -> None:
    zones = load_zones(write_zones(tmp_path / "zones"))
    assert zones.in_zone("no_parking", *street_to_latlon(46.0, -1.0))
    outside = street_to_latlon(55.0, -1.0)  # 3 m east of the zone's edge
    assert not zones.in_zone("no_parking", *outside)
    assert zones.in_zone("no_parking", *outside, buffer_m=3.5)
    assert zones.zones_containing("no_parking", *street_to_latlon(46.0, -1.0))[0]["id"] == "np-1"
    assert not zones.in_zone("no_such_layer", *street_to_latlon(46.0, -1.0))


def test_version_without_file_is_a_content_hash(tmp_path: Path) -> None:
    folder = write_zones(tmp_path / "zones")
    (folder / "version.txt").unlink()
    v1 = load_zones(folder).version
    assert v1.startswith("sha1-") and v1 == load_zones(folder).version
    data = json.loads((folder / "no_parking.geojson").read_text())
    data["features"][0]["properties"]["name"] = "changed"
    (folder / "no_parking.geojson").write_text(json.dumps(data))
    assert load_zones(folder).version != v1


def test_bad_layers_raise_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_zones(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no .geojson"):
        load_zones(empty)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "road_segments.geojson").write_text('{"type": "FeatureCollection", "features": [\n{"type": ')
    with pytest.raises(InputError, match=r"road_segments.geojson: line 2"):
        load_zones(bad)
    (bad / "road_segments.geojson").write_text(
        json.dumps(
            {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "Blob"}}]}
        )
    )
    with pytest.raises(InputError, match="feature 0: invalid geometry"):
        load_zones(bad)
