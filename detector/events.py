"""From a finished track to a `ViolationEvent`: enough hits, a good median score, the best evidence.

- `track_passes(track, rule)`: hits (or, at low frame rates, span in seconds) and median score per class.
- `evidence_quality(image, det)`: score x size x sharpness (variance of the Laplacian of the crop),
  halved when the box touches the frame edge (the object is cut off). The tracker keeps the frame
  with the highest quality; `encode_evidence` turns it into a JPEG with the box drawn plus the raw crop.
- `event_key(source_id, track)`: deterministic for the same footage and object (see detector.track).
- `shadowing_track(track, others)`: the stronger track of another class on the same object, if any
  (the detector called one object two things: only one becomes an event).
- `track_position(track)`: the median of the ground positions of the observations in which the box
  stands clear of the frame edges (the bottom edge must be the object's foot), else any ground
  position, else the vehicle position.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from detector.annotate import draw_detections
from detector.context import blur_regions
from detector.geo import GeoPosition
from detector.pipeline_config import ClassRule, EvidenceSettings
from detector.track import Track, TrackObservation, box_iou
from detector.types import Detection

EDGE_MARGIN_PX = 3.0


def source_id_for_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Content hash of a file (sha1 of size + first and last MiB): same footage, same id, wherever it is."""
    file = Path(path)
    size = file.stat().st_size
    digest = hashlib.sha1(str(size).encode())
    with file.open("rb") as fh:
        digest.update(fh.read(chunk))
        if size > 2 * chunk:
            fh.seek(size - chunk)
            digest.update(fh.read(chunk))
        elif size > chunk:
            digest.update(fh.read())
    return "sha1-" + digest.hexdigest()[:16]


def event_key(source_id: str, track: Track) -> str:
    """`<source>:f<first frame>:<class>:<quantised first box>`, stable across runs of the same footage."""
    first = track.first.detection
    q = 16  # pixels: identical inputs give identical boxes; quantising only shortens the key
    box = "-".join(str(int(v // q)) for v in first.box)
    return f"{source_id}:f{track.first.frame_index}:{track.class_name}:{box}"


def touches_edge(det: Detection, image_w: int, image_h: int, margin: float = EDGE_MARGIN_PX) -> bool:
    return det.x1 <= margin or det.y1 <= margin or det.x2 >= image_w - margin or det.y2 >= image_h - margin


def _crop(image: np.ndarray, det: Detection, margin: float = 0.0) -> np.ndarray:
    h, w = image.shape[:2]
    mx, my = det.width * margin, det.height * margin
    x1 = int(max(0, math.floor(det.x1 - mx)))
    y1 = int(max(0, math.floor(det.y1 - my)))
    x2 = int(min(w, math.ceil(det.x2 + mx)))
    y2 = int(min(h, math.ceil(det.y2 + my)))
    if x2 <= x1 or y2 <= y1:
        return image[0:1, 0:1]
    return image[y1:y2, x1:x2]


def sharpness(image: np.ndarray, det: Detection) -> float:
    """Variance of the Laplacian of the box's grey crop (higher = sharper), on a crop scaled to <= 256 px."""
    crop = _crop(image, det)
    if crop.size == 0:
        return 0.0
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    long_side = max(gray.shape[:2])
    if long_side > 256:
        s = 256.0 / long_side
        gray = cv2.resize(
            gray,
            (max(1, int(gray.shape[1] * s)), max(1, int(gray.shape[0] * s))),
            interpolation=cv2.INTER_AREA,
        )
    # 16-bit Laplacian (exact for 8-bit pixels: |value| <= 1020) and OpenCV's own deviation: the same
    # variance as a float64 Laplacian and numpy's var, for half the CPU (run on every tracked box).
    depth = cv2.CV_16S if gray.dtype == np.uint8 else cv2.CV_64F
    _, deviation = cv2.meanStdDev(cv2.Laplacian(gray, depth))
    return float(deviation[0, 0]) ** 2


def evidence_quality(image: np.ndarray, det: Detection, to_beat: float = -1.0) -> float:
    """Score x sqrt(area fraction) x sharpness factor (saturating at a Laplacian variance of 200).

    `to_beat`: the best quality so far; when score and size alone (a perfectly sharp crop) cannot beat
    it, the sharpness is not measured and that bound is returned (it does not beat `to_beat`)."""
    h, w = image.shape[:2]
    area_frac = det.area / float(max(1, w * h))
    bound = det.score * math.sqrt(min(area_frac, 0.25))
    if touches_edge(det, w, h):
        bound *= 0.5
    if bound <= to_beat:
        return bound
    return bound * (0.2 + 0.8 * min(1.0, sharpness(image, det) / 200.0))


def encode_evidence(image: np.ndarray, det: Detection, settings: EvidenceSettings) -> tuple[bytes, bytes]:
    """(frame with the box drawn, raw crop) as JPEG bytes; the frame is downscaled to max_long_side."""
    return _encode_frame(image, det, settings), _encode_crop(image, det, settings)


def render_evidence(
    frame_jpeg: bytes,
    det: Detection,
    settings: EvidenceSettings,
    view: str = "frame",
    blur: Sequence[Sequence[float]] | None = None,
) -> bytes:
    """One evidence image drawn from a kept original frame (a live upload, stored as it came):
    "frame" = the frame with the box drawn, "crop" = the raw crop; the pixels `encode_evidence` makes.
    `blur`: regions (fractions of the frame, detector.context.people_boxes) blurred before drawing."""
    from detector.decode import decode_full

    image = decode_full(frame_jpeg)
    if blur:
        image = blur_regions(image, blur)
    return _encode_crop(image, det, settings) if view == "crop" else _encode_frame(image, det, settings)


def blurred_evidence(jpeg: bytes, blur: Sequence[Sequence[float]], settings: EvidenceSettings) -> bytes:
    """An evidence image already drawn (recorded footage) with `blur` regions (fractions) blurred."""
    from detector.decode import decode_full

    return _jpeg(blur_regions(decode_full(jpeg), blur), settings.jpeg_quality)


def _encode_frame(image: np.ndarray, det: Detection, settings: EvidenceSettings) -> bytes:
    drawn = draw_detections(image, [det])
    h, w = drawn.shape[:2]
    if max(h, w) > settings.max_long_side:
        s = settings.max_long_side / float(max(h, w))
        drawn = cv2.resize(drawn, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA)
    return _jpeg(drawn, settings.jpeg_quality)


def _encode_crop(image: np.ndarray, det: Detection, settings: EvidenceSettings) -> bytes:
    return _jpeg(np.ascontiguousarray(_crop(image, det, settings.crop_margin)), settings.jpeg_quality)


def _jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return data.tobytes()


def track_passes(track: Track, rule: ClassRule) -> tuple[bool, str]:
    """Hits and median score per class. At low frame rates a short track may pass by its time span."""
    if not rule.enabled:
        return False, "class disabled"
    if track.hits < rule.min_hits:
        by_time = rule.min_track_seconds > 0 and track.hits >= 2 and track.duration >= rule.min_track_seconds
        if not by_time:
            return False, f"seen in {track.hits} frames < {rule.min_hits}"
    score = track.median_score
    if score < rule.min_median_score:
        return False, f"median score {score:.2f} < {rule.min_median_score}"
    if rule.min_box_area_frac > 0:
        largest = max(o.detection.area / float(max(1, o.image_w * o.image_h)) for o in track.observations)
        if largest < rule.min_box_area_frac:
            return False, f"visible area {largest:.4f} of the frame < {rule.min_box_area_frac}"
    if rule.min_area_m2 > 0:
        areas = [o.area_m2 for o in track.observations if o.area_m2 is not None]
        largest_m2 = max(areas, default=0.0)
        if largest_m2 < rule.min_area_m2:
            return False, f"visible area {largest_m2:.2f} m² < {rule.min_area_m2} m²"
    return True, "ok"


def _clear_of_edges(obs: TrackObservation) -> bool:
    return not touches_edge(obs.detection, obs.image_w, obs.image_h)


def _range_m(obs: TrackObservation) -> float:
    """Distance from the vehicle to the observation's ground position (inf without vehicle position)."""
    from detector.geo import distance_m

    meta = obs.meta
    if meta is None or meta.lat is None or meta.lon is None:
        return math.inf
    return distance_m(meta.lat, meta.lon, obs.position.lat, obs.position.lon)


def track_position(track: Track) -> GeoPosition | None:
    """Ground position of a track: the median over its nearest clear observations.

    When the foot of an object is hidden (behind a parked car, under the frame edge) the box bottom is
    higher in the image and the flat-ground ray lands FARTHER away, never nearer; so the nearest third
    of the observations whose box stands clear of the frame edges is the trustworthy part.
    """
    located = [o for o in track.observations if isinstance(o.position, GeoPosition)]
    if not located:
        return None
    ground = [o for o in located if o.position.source == "ground"]
    clear = [o for o in ground if _clear_of_edges(o)]
    chosen = clear or ground
    if chosen:
        nearest = sorted(chosen, key=_range_m)[: max(1, math.ceil(len(chosen) / 3))]
        return GeoPosition(
            statistics.median(o.position.lat for o in nearest),
            statistics.median(o.position.lon for o in nearest),
            "ground",
        )
    best = track.best_observation or track.observations[len(track.observations) // 2]
    pos = best.position if isinstance(best.position, GeoPosition) else located[0].position
    return GeoPosition(pos.lat, pos.lon, "vehicle")


def position_spread_m(track: Track, quantile: float = 1.0) -> float:
    """How far a track's clear ground positions lie from their median: the largest distance
    (quantile 1.0) or that quantile of the distances (0 when fewer than two positions)."""
    from detector.geo import distance_m

    pts = [
        o.position
        for o in track.observations
        if isinstance(o.position, GeoPosition) and o.position.source == "ground" and _clear_of_edges(o)
    ]
    if len(pts) < 2:
        return 0.0
    mlat = statistics.median(p.lat for p in pts)
    mlon = statistics.median(p.lon for p in pts)
    distances = sorted(distance_m(mlat, mlon, p.lat, p.lon) for p in pts)
    return distances[round(quantile * (len(distances) - 1))]


def _strength(track: Track) -> float:
    return sum(o.detection.score for o in track.observations)


def shadowing_track(
    track: Track, others: Iterable[Track], max_dt: float, min_iou: float = 0.5, min_share: float = 0.5
) -> Track | None:
    """A track of another class that covered the same object and saw it more strongly, else None.

    Same object: for at least `min_share` of `track`'s observations, the other track has an observation
    within `max_dt` seconds whose box overlaps by IoU >= `min_iou` (the same frame when the model gave
    one box two classes, the neighbouring frame when the class flickered). More strongly: a larger sum
    of detection scores (more frames, higher scores). Ties keep both.
    """
    if not track.observations:
        return None
    best: Track | None = None
    best_strength = _strength(track)  # a shadow must be stronger than the track and than any found so far
    begins, ends = track.first.timestamp - max_dt, track.last.timestamp + max_dt
    for other in others:
        if other is track or other.class_id == track.class_id or not other.observations:
            continue
        # The time check first: of the up to 256 recently ended tracks a live vehicle keeps, most
        # ended long before this one began, and summing their scores cost ~0.2 ms a frame.
        if other.first.timestamp > ends or other.last.timestamp < begins:
            continue
        strength = _strength(other)
        if strength <= best_strength:
            continue
        times = [o.timestamp for o in other.observations]
        covered = 0
        for obs in track.observations:
            lo = bisect.bisect_left(times, obs.timestamp - max_dt)
            hi = bisect.bisect_right(times, obs.timestamp + max_dt)
            if any(
                box_iou(obs.detection.box, other.observations[i].detection.box) >= min_iou
                for i in range(lo, hi)
            ):
                covered += 1
        if covered >= min_share * track.hits:
            best, best_strength = other, strength
    return best
