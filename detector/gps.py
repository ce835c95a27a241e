"""GPS tracks: read GPX, NMEA, CSV or per-frame JSON, and interpolate position and heading to frame times.

Every reader parses the whole file before returning, so a malformed file raises one `InputError`
naming the file and the line and nothing downstream has started. Times are kept as seconds
(float): Unix time when the file carries absolute times, or seconds from the start of the video
when it carries relative ones (`GpsTrack.relative`).
"""

from __future__ import annotations

import bisect
import csv
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from detector.errors import InputError

# Times below this are taken as seconds from the start of the video, above as Unix time (2001+).
_ABSOLUTE_TIME_MIN = 1e9


@dataclass(frozen=True, slots=True)
class GpsFix:
    t: float  # seconds (Unix, or from the video start when the track is relative)
    lat: float
    lon: float
    heading: float | None = None  # degrees clockwise from north


def _bearing(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(x, y)) % 360.0


def _interp_angle(a: float, b: float, w: float) -> float:
    """Circular interpolation: 350° → 10° passes through 0°, not 180°."""
    diff = ((b - a + 180.0) % 360.0) - 180.0
    return (a + w * diff) % 360.0


@dataclass(frozen=True, slots=True)
class TrackPoint:
    lat: float
    lon: float
    heading: float | None


class GpsTrack:
    """Time-sorted fixes with interpolation. Headings missing from the file are derived from motion."""

    def __init__(self, fixes: list[GpsFix], source: str = "") -> None:
        if not fixes:
            raise InputError("GPS track has no fixes", source or None)
        fixes = sorted(fixes, key=lambda f: f.t)
        self.source = source
        # Headings derived from motion hold for the whole leg to the next fix (not interpolated).
        self._derived = {i for i, f in enumerate(fixes) if f.heading is None}
        self.fixes = self._fill_headings(fixes)
        self.times = [f.t for f in self.fixes]
        self.relative = self.times[0] < _ABSOLUTE_TIME_MIN

    @staticmethod
    def _fill_headings(fixes: list[GpsFix]) -> list[GpsFix]:
        if all(f.heading is not None for f in fixes):
            return fixes
        out: list[GpsFix] = []
        last: float | None = None
        for i, f in enumerate(fixes):
            heading = f.heading
            if heading is None:
                # Bearing towards the next fix that moved at least 0.5 m (else keep the last heading).
                for j in range(i + 1, len(fixes)):
                    g = fixes[j]
                    if abs(g.lat - f.lat) + abs(g.lon - f.lon) > 5e-6:
                        heading = _bearing(f.lat, f.lon, g.lat, g.lon)
                        break
                if heading is None and i > 0:
                    prev = fixes[i - 1]
                    if abs(prev.lat - f.lat) + abs(prev.lon - f.lon) > 5e-6:
                        heading = _bearing(prev.lat, prev.lon, f.lat, f.lon)
                if heading is None:
                    heading = last
            last = heading if heading is not None else last
            out.append(GpsFix(f.t, f.lat, f.lon, heading))
        return out

    @property
    def start(self) -> float:
        return self.times[0]

    @property
    def end(self) -> float:
        return self.times[-1]

    def at(self, t: float) -> TrackPoint:
        """Position and heading at time `t` (same time base as the track); clamped at both ends."""
        i = bisect.bisect_right(self.times, t)
        if i <= 0:
            f = self.fixes[0]
            return TrackPoint(f.lat, f.lon, f.heading)
        if i >= len(self.fixes):
            f = self.fixes[-1]
            return TrackPoint(f.lat, f.lon, f.heading)
        a, b = self.fixes[i - 1], self.fixes[i]
        span = b.t - a.t
        w = 0.0 if span <= 0 else (t - a.t) / span
        lat = a.lat + w * (b.lat - a.lat)
        lon = a.lon + w * (b.lon - a.lon)
        if (i - 1) in self._derived and a.heading is not None:
            heading = a.heading
        elif a.heading is None or b.heading is None:
            heading = a.heading if a.heading is not None else b.heading
        else:
            heading = _interp_angle(a.heading, b.heading, w)
        return TrackPoint(lat, lon, heading)

    def at_video_time(self, seconds_from_start: float, start_time: float | None = None) -> TrackPoint:
        """Position `seconds_from_start` into the video (absolute tracks: from `start_time` or 1st fix)."""
        if self.relative:
            return self.at(seconds_from_start)
        base = start_time if start_time is not None else self.start
        return self.at(base + seconds_from_start)

    def wall_time(self, seconds_from_start: float, start_time: float | None = None) -> datetime:
        """The wall-clock time of a video instant (relative tracks assume `start_time` or the epoch)."""
        if self.relative:
            base = start_time if start_time is not None else 0.0
        else:
            base = start_time if start_time is not None else self.start
        return datetime.fromtimestamp(base + seconds_from_start, tz=UTC)


# --------------------------------------------------------------------------------------------- readers


def _parse_time(value: str, file: Path, line: int) -> float:
    """Seconds: a number (relative or Unix) or an ISO 8601 time (naive = UTC)."""
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(f"line {line}: time {text!r} is neither seconds nor ISO 8601", file) from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _check_latlon(lat: float, lon: float, file: Path, line: int) -> None:
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0) or math.isnan(lat) or math.isnan(lon):
        raise InputError(f"line {line}: lat/lon out of range ({lat}, {lon})", file)


def read_gpx(path: str | Path) -> GpsTrack:
    import gpxpy
    import gpxpy.gpx

    file = Path(path)
    text = _read_text(file)
    try:
        gpx = gpxpy.parse(text)
    except gpxpy.gpx.GPXException as exc:
        raise InputError(f"not a valid GPX file: {str(exc).splitlines()[0]}", file) from exc
    fixes: list[GpsFix] = []
    points = [p for trk in gpx.tracks for seg in trk.segments for p in seg.points] + [
        p for rte in gpx.routes for p in rte.points
    ]
    for n, p in enumerate(points, 1):
        line = getattr(p, "line", None) or n
        if p.time is None:
            raise InputError(f"track point {n} (near line {line}) has no <time>", file)
        t = p.time if p.time.tzinfo else p.time.replace(tzinfo=UTC)
        _check_latlon(p.latitude, p.longitude, file, n)
        heading = p.course if getattr(p, "course", None) is not None else None
        fixes.append(GpsFix(t.timestamp(), p.latitude, p.longitude, heading))
    if not fixes:
        raise InputError("GPX file has no track points", file)
    return GpsTrack(fixes, str(file))


def read_nmea(path: str | Path) -> GpsTrack:
    """NMEA 0183 log: RMC sentences give date, time, position and course; GGA/GLL add positions."""
    import pynmea2

    file = Path(path)
    fixes: list[GpsFix] = []
    day: datetime | None = None
    for lineno, raw in enumerate(_read_text(file).splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        try:
            msg = pynmea2.parse(line, check=True)
        except (pynmea2.ParseError, pynmea2.ChecksumError, ValueError, AttributeError, TypeError) as exc:
            raise InputError(
                f"line {lineno}: not a valid NMEA sentence ({exc.__class__.__name__})", file
            ) from exc
        kind = getattr(msg, "sentence_type", "")
        if kind == "RMC":
            if getattr(msg, "status", "A") != "A" or not msg.lat:
                continue
            if msg.datestamp is None or msg.timestamp is None:
                raise InputError(f"line {lineno}: RMC sentence without date or time", file)
            dt = datetime.combine(msg.datestamp, msg.timestamp)
            dt = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
            day = dt
            course = float(msg.true_course) if msg.true_course not in (None, "") else None
            speed = float(msg.spd_over_grnd) if msg.spd_over_grnd not in (None, "") else None
            heading = course if (course is not None and (speed is None or speed > 0.5)) else None
            _check_latlon(msg.latitude, msg.longitude, file, lineno)
            fixes.append(GpsFix(dt.timestamp(), msg.latitude, msg.longitude, heading))
        elif kind in ("GGA", "GLL"):
            if not getattr(msg, "lat", None) or msg.timestamp is None or day is None:
                continue  # GGA carries no date: only usable once an RMC gave the day
            dt = datetime.combine(day.date(), msg.timestamp)
            dt = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
            if fixes and abs(fixes[-1].t - dt.timestamp()) < 1e-3:
                continue  # same instant as the RMC just read
            _check_latlon(msg.latitude, msg.longitude, file, lineno)
            fixes.append(GpsFix(dt.timestamp(), msg.latitude, msg.longitude, None))
    if not fixes:
        raise InputError("NMEA file has no valid RMC fixes", file)
    return GpsTrack(fixes, str(file))


_TIME_KEYS = ("time", "t", "timestamp", "seconds")
_LAT_KEYS = ("lat", "latitude")
_LON_KEYS = ("lon", "lng", "long", "longitude")
_HEADING_KEYS = ("heading", "course", "bearing", "yaw")


def _pick(row: dict, keys: tuple[str, ...]) -> object | None:
    for k in keys:
        if k in row and row[k] not in (None, ""):
            return row[k]
    return None


def _fix_from_mapping(row: dict, file: Path, line: int, fps: float | None) -> GpsFix:
    lowered = {str(k).strip().lower(): v for k, v in row.items()}
    t_raw = _pick(lowered, _TIME_KEYS)
    lat_raw, lon_raw = _pick(lowered, _LAT_KEYS), _pick(lowered, _LON_KEYS)
    if lat_raw is None or lon_raw is None:
        raise InputError(f"line {line}: missing lat/lon", file)
    if t_raw is None:
        frame = _pick(lowered, ("frame", "frame_index"))
        if frame is None:
            raise InputError(f"line {line}: missing time (or frame index)", file)
        if not fps:
            raise InputError(f"line {line}: frame-indexed GPS needs the video frame rate", file)
        try:
            t = float(frame) / fps
        except (TypeError, ValueError) as exc:
            raise InputError(f"line {line}: frame index {frame!r} is not a number", file) from exc
    else:
        t = _parse_time(str(t_raw), file, line)
    try:
        lat, lon = float(lat_raw), float(lon_raw)  # type: ignore[arg-type]
        h_raw = _pick(lowered, _HEADING_KEYS)
        heading = float(h_raw) % 360.0 if h_raw is not None else None  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InputError(f"line {line}: lat/lon/heading must be numbers", file) from exc
    _check_latlon(lat, lon, file, line)
    return GpsFix(t, lat, lon, heading)


def read_csv(path: str | Path, fps: float | None = None) -> GpsTrack:
    """CSV with a header: time (seconds or ISO 8601), lat, lon, optional heading."""
    file = Path(path)
    rows = list(csv.reader(_read_text(file).splitlines()))
    if not rows:
        raise InputError("CSV file is empty", file)
    header = [h.strip().lower() for h in rows[0]]
    if not any(h in _LAT_KEYS for h in header) or not any(h in _LON_KEYS for h in header):
        raise InputError("line 1: header must name lat and lon columns", file)
    fixes = []
    for lineno, row in enumerate(rows[1:], 2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise InputError(f"line {lineno}: expected {len(header)} columns, got {len(row)}", file)
        fixes.append(_fix_from_mapping(dict(zip(header, row, strict=True)), file, lineno, fps))
    if not fixes:
        raise InputError("CSV file has no rows", file)
    return GpsTrack(fixes, str(file))


def read_frame_json(path: str | Path, fps: float | None = None) -> GpsTrack:
    """Per-frame JSON: a list of objects (or JSON Lines), each with time or frame, lat, lon, heading."""
    file = Path(path)
    text = _read_text(file)
    records: list[tuple[int, dict]] = []
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"line {exc.lineno}: invalid JSON ({exc.msg})", file) from exc
        for n, item in enumerate(data, 1):
            if not isinstance(item, dict):
                raise InputError(f"item {n}: expected an object", file)
            records.append((n, item))
    else:
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"line {lineno}: invalid JSON ({exc.msg})", file) from exc
            if not isinstance(item, dict):
                raise InputError(f"line {lineno}: expected an object", file)
            records.append((lineno, item))
    fixes = [_fix_from_mapping(item, file, n, fps) for n, item in records]
    if not fixes:
        raise InputError("JSON file has no fixes", file)
    return GpsTrack(fixes, str(file))


def _read_text(file: Path) -> str:
    if not file.is_file():
        raise InputError("GPS file not found", file)
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("not a text file", file) from exc


def load_gps_track(path: str | Path, fps: float | None = None) -> GpsTrack:
    """Read a GPS track, choosing the reader by extension (.gpx, .nmea/.nma/.log, .csv, .json/.jsonl)."""
    file = Path(path)
    ext = file.suffix.lower()
    if ext == ".gpx":
        return read_gpx(file)
    if ext in (".nmea", ".nma", ".log", ".txt"):
        return read_nmea(file)
    if ext == ".csv":
        return read_csv(file, fps)
    if ext in (".json", ".jsonl", ".ndjson"):
        return read_frame_json(file, fps)
    raise InputError(f"unknown GPS format {ext or '(no extension)'}: use .gpx, .nmea, .csv or .json", file)
