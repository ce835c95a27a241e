"""GPS tracks: every format reads to the same positions; malformed files fail with file and line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from detector.errors import InputError
from detector.gps import load_gps_track

T0 = datetime(2026, 11, 21, 8, 0, 0, tzinfo=UTC)
FIXES = [  # (seconds after T0, lat, lon, heading)
    (0.0, 31.230000, 121.470000, 90.0),
    (1.0, 31.230000, 121.470100, 90.0),
    (2.0, 31.230050, 121.470200, 45.0),
]


def _nmea_checksum(body: str) -> str:
    c = 0
    for ch in body:
        c ^= ord(ch)
    return f"{c:02X}"


def _nmea_lat(lat: float) -> tuple[str, str]:
    d = int(abs(lat))
    return f"{d:02d}{(abs(lat) - d) * 60:07.4f}", "N" if lat >= 0 else "S"


def _nmea_lon(lon: float) -> tuple[str, str]:
    d = int(abs(lon))
    return f"{d:03d}{(abs(lon) - d) * 60:07.4f}", "E" if lon >= 0 else "W"


def write_all_formats(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    # GPX
    pts = "".join(
        f'<trkpt lat="{lat}" lon="{lon}">'
        f"<time>{datetime.fromtimestamp(T0.timestamp() + t, UTC).isoformat()}</time>"
        f"</trkpt>"
        for t, lat, lon, _ in FIXES
    )
    files["gpx"] = folder / "track.gpx"
    files["gpx"].write_text(
        '<?xml version="1.0"?><gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">'
        f"<trk><trkseg>{pts}</trkseg></trk></gpx>"
    )
    # NMEA (RMC with course)
    lines = []
    for t, lat, lon, heading in FIXES:
        when = datetime.fromtimestamp(T0.timestamp() + t, UTC)
        la, ns = _nmea_lat(lat)
        lo, ew = _nmea_lon(lon)
        body = f"GPRMC,{when:%H%M%S}.00,A,{la},{ns},{lo},{ew},10.0,{heading:.1f},{when:%d%m%y},,"
        lines.append(f"${body}*{_nmea_checksum(body)}")
    files["nmea"] = folder / "track.nmea"
    files["nmea"].write_text("\n".join(lines) + "\n")
    # CSV, ISO times
    rows = ["time,lat,lon,heading"] + [
        f"{datetime.fromtimestamp(T0.timestamp() + t, UTC).isoformat()},{lat},{lon},{h}"
        for t, lat, lon, h in FIXES
    ]
    files["csv"] = folder / "track.csv"
    files["csv"].write_text("\n".join(rows) + "\n")
    # per-frame JSON (array) and JSON Lines
    items = [{"time": T0.timestamp() + t, "lat": lat, "lon": lon, "heading": h} for t, lat, lon, h in FIXES]
    files["json"] = folder / "track.json"
    files["json"].write_text(json.dumps(items))
    files["jsonl"] = folder / "frames.jsonl"
    files["jsonl"].write_text("\n".join(json.dumps(i) for i in items) + "\n")
    return files


@pytest.mark.parametrize("fmt", ["gpx", "nmea", "csv", "json", "jsonl"])
def test_every_format_reads_the_same_track(tmp_path: Path, fmt: str) -> None:
    track = load_gps_track(write_all_formats(tmp_path)[fmt])
    assert not track.relative
    assert track.start == pytest.approx(T0.timestamp())
    assert len(track.fixes) == 3
    mid = track.at(T0.timestamp() + 0.5)  # halfway between the first two fixes
    assert mid.lat == pytest.approx(31.23, abs=1e-6)
    assert mid.lon == pytest.approx(121.47005, abs=1e-6)
    assert mid.heading == pytest.approx(90.0, abs=1.0)
    # video time 1.5 s from the start (absolute track: start = first fix)
    p = track.at_video_time(1.5)
    assert p.lon == pytest.approx(121.47015, abs=1e-6)


def test_heading_interpolates_across_north(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("time,lat,lon,heading\n0,31.0,121.0,350\n1,31.0001,121.0,10\n")
    track = load_gps_track(f)
    assert track.relative
    assert track.at(0.5).heading == pytest.approx(0.0, abs=1e-6)
    assert track.at(0.25).heading == pytest.approx(355.0, abs=1e-6)


def test_missing_heading_comes_from_motion(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("time,lat,lon\n0,31.0,121.0\n1,31.0,121.0001\n2,31.0001,121.0001\n")
    track = load_gps_track(f)
    assert track.at(0.0).heading == pytest.approx(90.0, abs=0.5)  # east
    assert track.at(2.0).heading == pytest.approx(0.0, abs=0.5)  # last fix: north, from the previous leg


def test_frame_indexed_json_needs_fps(tmp_path: Path) -> None:
    f = tmp_path / "frames.json"
    f.write_text(
        json.dumps([{"frame": 0, "lat": 31.0, "lon": 121.0}, {"frame": 25, "lat": 31.0, "lon": 121.001}])
    )
    with pytest.raises(InputError, match="frame rate"):
        load_gps_track(f)
    track = load_gps_track(f, fps=25.0)
    assert track.end == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("bad.csv", "time,lat,lon\n0,31.0,121.0\n1,abc,121.0\n", "line 3"),
        ("short.csv", "time,lat,lon\n0,31.0,121.0\n1,31.0\n", "line 3"),
        ("range.csv", "time,lat,lon\n0,131.0,121.0\n", "line 2: lat/lon out of range"),
        ("nohead.csv", "0,31.0,121.0\n", "line 1: header"),
        ("badtime.csv", "time,lat,lon\nyesterday,31.0,121.0\n", "line 2"),
        ("bad.nmea", "$GPRMC,080000.00,A,3113.8000,N,12128.2000,E,10.0,90.0,211126,,*00\n", "line 1"),
        ("garbage.nmea", "hello world\n", "line 1"),
        (
            "bad.json",
            '[{"time": 0, "lat": 31.0, "lon": 121.0},\n {"time": 1, "lat": 31.0 "lon": 1}]',
            "line 2",
        ),
        ("bad.jsonl", '{"time": 0, "lat": 31.0, "lon": 121.0}\n{"time": 1, "lat": 31.0}\n', "line 2"),
        ("bad.gpx", "<gpx><trk><trkseg><trkpt lat='31' lon='121'>", "GPX"),
        (
            "notime.gpx",
            '<?xml version="1.0"?><gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1">'
            '<trk><trkseg><trkpt lat="31" lon="121"></trkpt></trkseg></trk></gpx>',
            "no <time>",
        ),
        ("track.kml", "<kml/>", "unknown GPS format"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path: Path, name: str, content: str, expected: str) -> None:
    f = tmp_path / name
    f.write_text(content)
    with pytest.raises(InputError) as err:
        load_gps_track(f)
    message = str(err.value)
    assert name in message
    assert expected in message
    assert "\n" not in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_gps_track(tmp_path / "nope.gpx")
