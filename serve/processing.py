"""Orchestration of one data path: frames → detector → tracker → events → rules → case store.

Used by `streetwatch process` (recorded video + GPS track), by the API's batch jobs, and by live
frames (`LivePipeline`, per-vehicle tracker state). Everything that can be wrong with the inputs
(video, GPS, camera, zones, config) is checked before the store is touched, so a bad input leaves
nothing half-written.

Re-processing is safe: every event's key is deterministic (source content hash + track's first
frame + class + box), and the store refuses an event key it already has. An interrupted job resumes
from its detections cache (JSON Lines, one line per processed frame): cached frames skip inference,
everything after the detector is recomputed from the same detections, so the results are the same.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from datasets.taxonomy import Taxonomy, default_taxonomy, load_taxonomy
from detector.decode import DecodedImage
from detector.errors import InputError, StreetWatchError
from detector.events import (
    encode_evidence,
    event_key,
    evidence_quality,
    shadowing_track,
    source_id_for_file,
    track_passes,
    track_position,
)
from detector.geo import CameraMount, GeoPosition, distance_m, ground_area_m2, initial_bearing, locate
from detector.gps import GpsTrack, load_gps_track
from detector.pipeline_config import CaseMerging, PipelineConfig, load_pipeline_config
from detector.rules import RuleEngine, SightingLog
from detector.track import ObjectTracker, Track
from detector.types import Detection, Frame, FrameMeta, ViolationEvent
from detector.verifier import open_verifier
from detector.zones import ZoneLayers, load_zones

log = logging.getLogger("streetwatch.processing")


class FrameDetector(Protocol):
    """What the pipeline needs from a detector (detector.model.Detector fits)."""

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]: ...


class EventSink(Protocol):
    """Where events go (serve.store.CaseStore fits)."""

    def ingest_event(self, event: ViolationEvent, merge_distance_m: float = ...) -> Any: ...


@dataclass
class ProcessSummary:
    frames: int = 0  # frames processed (after sampling)
    fps: float = 0.0  # the rate the frames were sampled at (tracker and rules ran for it)
    inferred_frames: int = 0  # frames that ran the model (the rest came from the detections cache)
    detections: int = 0
    tracks: int = 0
    events: int = 0
    new_cases: int = 0
    merged_observations: int = 0
    already_stored: int = 0  # events whose key the store already had (re-processing)
    verifications: int = 0  # handled cases passed by and no longer seen (attached as verification)
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> tracks
    video_seconds: float = 0.0
    wall_seconds: float = 0.0
    case_ids: list[int] = field(default_factory=list)
    events_detail: list[dict] = field(default_factory=list)

    @property
    def speed_x_realtime(self) -> float:
        return self.video_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "fps": self.fps,
            "inferred_frames": self.inferred_frames,
            "detections": self.detections,
            "tracks": self.tracks,
            "events": self.events,
            "new_cases": self.new_cases,
            "merged_observations": self.merged_observations,
            "already_stored": self.already_stored,
            "verifications": self.verifications,
            "rejected": dict(sorted(self.rejected.items())),
            "video_seconds": round(self.video_seconds, 2),
            "wall_seconds": round(self.wall_seconds, 2),
            "speed_x_realtime": round(self.speed_x_realtime, 2),
        }


def _reason_bucket(reason: str) -> str:
    """Group rejection reasons for the summary ("seen in 2 frames < 3" -> "seen in N frames < min")."""
    for prefix in (
        "seen in",
        "median score",
        "visible area",
        "moving",
        "outside",
        "seen for",
        "no zone",
        "too far",
        "class confusion",
        "verifier",
    ):
        if reason.startswith(prefix):
            return prefix
    return reason


def _evidence_image(frame: Frame | None) -> np.ndarray:
    """The full-resolution image of a track's best frame. Should the kept JPEG not decode in full
    (it did decode reduced), the reduced image scaled up stands in: a case never fails on its picture."""
    if frame is None:
        return np.zeros((8, 8, 3), np.uint8)
    try:
        return frame.full_image()
    except ValueError:
        import cv2

        log.warning(
            "evidence of %s frame %d: full decode failed, using the reduced image", frame.source, frame.index
        )
        return cv2.resize(frame.image, (frame.width, frame.height), interpolation=cv2.INTER_LINEAR)


def _original_jpeg(frame: Frame | None) -> bytes | None:
    """The frame's original JPEG bytes when it has them (live uploads), else None."""
    data = frame.encoded if frame is not None else None
    return data if data is not None and data[:2] == b"\xff\xd8" else None


class EventAssembler:
    """Tracker + geolocation + evidence + rules for one stream of frames (one video, or one vehicle live)."""

    def __init__(
        self,
        config: PipelineConfig,
        taxonomy: Taxonomy,
        rules: RuleEngine,
        camera: CameraMount,
        fps: float,
        vehicle_id: str,
        key_for: Callable[[Track], str],
        source: str,
    ) -> None:
        self.config = config
        self.taxonomy = taxonomy
        self.rules = rules
        self.camera = camera
        self.vehicle_id = vehicle_id
        self.key_for = key_for
        self.source = source
        self.tracker = ObjectTracker(config.tracker, fps)
        self.verifier = open_verifier(config.verifier)
        self.rejected: dict[str, int] = {}
        self.tracks_seen = 0
        # ended tracks kept a while: the stronger reading of an object may end before the weaker one
        self._recent: collections.deque[Track] = collections.deque(maxlen=256)
        self._frame_times: collections.deque[float] = collections.deque(maxlen=32)

    def observe(self, frame: Frame, detections: list[Detection]) -> list[Track]:
        """Feed one frame; returns the tracks that ended with it (ready for `finish`)."""
        meta = frame.meta
        self._frame_times.append(frame.timestamp)
        pairs = self.tracker.update(frame.index, frame.timestamp, detections, frame.width, frame.height, meta)
        for track, obs in pairs:
            if meta is not None and meta.lat is not None and meta.lon is not None:
                obs.position = self._locate(obs.detection, frame.width, frame.height, meta)
            if self.config.rule_for(track.class_name).min_area_m2 > 0:
                obs.area_m2 = ground_area_m2(obs.detection.box, frame.width, frame.height, self.camera)
            # Quality is measured on the pixels at hand (a reduced live frame: the box scaled down).
            det_here = obs.detection.scaled(1.0 / frame.scale)
            track.offer_evidence(evidence_quality(frame.image, det_here, track.best_quality), frame, obs)
            # The spawn observation the tracker hands back with a new track (always its first) has no
            # position yet; every later one was placed above. O(1): a parked car's track runs long.
            early = track.first
            if early.position is None and early.meta is not None and early.meta.lat is not None:
                early.position = self._locate(early.detection, early.image_w, early.image_h, early.meta)
        return self.tracker.pop_finished()

    @property
    def sampling_fps(self) -> float:
        """The rate this stream's frames come at: the median interval of its latest 32 frames (sorted:
        live uploads may finish out of order), so that a live vehicle sending 10 frames/s is held to
        the same dense-sampling rules as footage sampled at 10. The tracker's rate until known."""
        times = sorted(self._frame_times)
        gaps = sorted(b - a for a, b in zip(times, times[1:], strict=False) if b > a)
        return 1.0 / gaps[len(gaps) // 2] if gaps else self.tracker.fps

    def _locate(self, det: Detection, width: int, height: int, meta: FrameMeta) -> GeoPosition:
        rule = self.config.rule_for(det.class_name)
        top = ((det.x1 + det.x2) / 2.0, det.y1) if rule.flat_on_ground else None
        return locate(
            det.bottom_center,
            width,
            height,
            meta.lat,
            meta.lon,
            meta.heading,
            self.camera,
            depth_m=rule.depth_m,
            top_center=top,
        )

    def flush(self) -> list[Track]:
        return self.tracker.flush()

    def finish(self, tracks: Iterable[Track]) -> list[ViolationEvent]:
        """Turn ended tracks into events (hits, score, rules); count the rest by reason."""
        events = []
        ended = list(tracks)
        self._recent.extend(ended)  # a track that ends later may be the same object under another class
        for track in ended:
            self.tracks_seen += 1
            event, reason = self._event_for(track)
            if event is None:
                bucket = _reason_bucket(reason)
                self.rejected[bucket] = self.rejected.get(bucket, 0) + 1
            else:
                events.append(event)
        return events

    def _second_look(self, track: Track, det: Detection) -> tuple[dict[str, float] | None, str | None]:
        """The crop verifier on the track's best frame: (the probabilities; why it refuses the track,
        or None). (None, None) when no verifier judges this class."""
        settings = self.config.verifier
        if (
            self.verifier is None
            or settings is None
            or not settings.checks(track.class_name)
            or track.class_name not in self.verifier.names  # a class it never learnt is not its to judge
            or track.best_frame is None
        ):
            return None, None
        frame = track.best_frame
        verdict = self.verifier.verify_frame(frame, det.box, full_image=lambda: _evidence_image(frame))
        support = verdict[track.class_name]
        if support >= settings.min_prob:
            return verdict, None
        top = max(verdict, key=verdict.__getitem__)
        named = f"{track.class_name} {support:.2f}"
        return verdict, f"verifier: looks like {top} ({verdict[top]:.2f}), {named}"

    def _event_for(self, track: Track) -> tuple[ViolationEvent | None, str]:
        rule = self.config.rule_for(track.class_name, fps=self.sampling_fps)
        ok, reason = track_passes(track, rule)
        if not ok:
            return None, reason
        if self.config.class_confusion_iou is not None:
            others = [*self.tracker.active_tracks, *self._recent]
            shadow = shadowing_track(track, others, 1.5 / self.tracker.fps, self.config.class_confusion_iou)
            if shadow is not None:
                return None, f"class confusion: the same object seen more strongly as {shadow.class_name}"
        position = track_position(track)
        if position is None:
            return None, "no position (frames without GPS)"
        if position.source == "vehicle" and not self.config.far_tracks_at_vehicle:
            had_geometry = any(o.meta is not None and o.meta.heading is not None for o in track.observations)
            if had_geometry:
                return None, f"too far to place (beyond {self.camera.max_range_m:.0f} m in every frame)"
        placed = self.rules.where_filed(track, position)  # before the verifier: a car outside every
        if not placed.accepted:  # no-parking zone is not worth a second look
            return None, placed.reason
        best = track.best_observation or track.observations[-1]
        verdict, refusal = self._second_look(track, best.detection)
        if refusal is not None:
            return None, refusal
        first_meta, last_meta = track.first.meta, track.last.meta
        first_seen = (
            first_meta.captured_at if first_meta else datetime.fromtimestamp(track.first.timestamp, UTC)
        )
        last_seen = last_meta.captured_at if last_meta else datetime.fromtimestamp(track.last.timestamp, UTC)
        key = self.key_for(track)
        decision = self.rules.judge(
            track,
            position,
            vehicle_id=self.vehicle_id,
            source_id=self.source,
            track_key=key,
            first_seen=first_seen,
            last_seen=last_seen,
            placed=placed,
        )
        if not decision.accepted:
            return None, decision.reason
        placement = self.rules.place(decision.class_name, position.lat, position.lon, first_seen)
        seg = placement.segment
        frame_jpeg = _original_jpeg(track.best_frame)
        if frame_jpeg is None:  # decoded video: draw now (no original JPEG to keep)
            evidence_jpeg, crop_jpeg = encode_evidence(
                _evidence_image(track.best_frame),  # a decoded video frame: already full size
                best.detection,
                self.config.evidence,
            )
        else:  # a live upload: kept as it came, the evidence is drawn when first asked for
            evidence_jpeg = crop_jpeg = None
        event = ViolationEvent(
            event_key=key,
            class_name=decision.class_name,
            matter_code=decision.matter_code or "",
            score=round(track.median_score, 4),
            hits=track.hits,
            first_seen=first_seen,
            last_seen=last_seen,
            vehicle_id=self.vehicle_id,
            lat=position.lat,
            lon=position.lon,
            position_source=position.source,
            detection=best.detection,
            evidence_jpeg=evidence_jpeg,
            crop_jpeg=crop_jpeg,
            frame_jpeg=frame_jpeg,
            frame_index=best.frame_index,
            source=self.source,
            road_segment_id=seg.segment_id if seg else None,
            road_name=seg.name if seg else None,
            responsible_unit=seg.department if seg else None,
            road_chief=seg.road_chief if seg else None,
            area_class=seg.area_class if seg else None,
            deadline=placement.deadline,
            layer_version=placement.layer_version,
            extra={
                "evidence_quality": round(max(track.best_quality, 0.0), 6),
                "detected_class": track.class_name,
                "best_score": round(float(best.detection.score), 4),  # the evidence frame's own score
                "track_seconds": round(track.duration, 2),
                "rule": decision.reason,
                **({"verifier": {k: round(v, 4) for k, v in verdict.items()}} if verdict else {}),
            },
        )
        return event, "ok"


# --------------------------------------------------------------------------------- detections cache


def _cached_frames(lines: Iterable[str]) -> dict[int, list[Detection]]:
    """The frame lines of a detections cache, up to a cut-off one (the line being written when a run
    stopped)."""
    frames: dict[int, list[Detection]] = {}
    for line in lines:
        try:
            row = json.loads(line)
            frames[int(row["frame"])] = [Detection.from_dict(d) for d in row["dets"]]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            break
    return frames


def read_detections_cache(path: str | Path) -> dict[int, list[Detection]]:
    """The frames of a DetectionsCache file, read only (its header is not checked, the file is kept)."""
    return _cached_frames(Path(path).read_text(encoding="utf-8").splitlines()[1:])


class DetectionsCache:
    """JSON Lines: a header line, then one line per processed frame with its detections.

    Written line by line (flushed), so an interrupted run leaves every finished frame behind; a cut-off
    last line is ignored. A header that does not match (other footage or model) discards the cache.
    """

    def __init__(self, path: str | Path, header: dict[str, Any]) -> None:
        self.path = Path(path)
        self.header = header
        self.frames: dict[int, list[Detection]] = {}
        if self.path.exists():
            self._load()
        self._fh = None

    def _load(self) -> None:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        if not lines:
            return
        try:
            head = json.loads(lines[0])
        except json.JSONDecodeError:
            head = None
        if head != {"header": self.header}:
            self.path.unlink()  # another footage/model/settings: start afresh
            return
        self.frames = _cached_frames(lines[1:])
        # Rewrite without a possibly cut-off tail so appends start on a clean line.
        self._rewrite()

    def _rewrite(self) -> None:
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(json.dumps({"header": self.header}) + "\n")
            for index in sorted(self.frames):
                dets = [d.to_dict(exact=True) for d in self.frames[index]]
                fh.write(json.dumps({"frame": index, "dets": dets}) + "\n")
        tmp.replace(self.path)

    def get(self, index: int) -> list[Detection] | None:
        return self.frames.get(index)

    def put(self, index: int, dets: list[Detection]) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            new = not self.path.exists()
            self._fh = self.path.open("a", encoding="utf-8")
            if new:
                self._fh.write(json.dumps({"header": self.header}) + "\n")
        self.frames[index] = dets
        self._fh.write(json.dumps({"frame": index, "dets": [d.to_dict(exact=True) for d in dets]}) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


# ------------------------------------------------------------------------------------ batch video


@dataclass
class PreparedInputs:
    config: PipelineConfig
    taxonomy: Taxonomy
    gps: GpsTrack
    camera: CameraMount
    zones: ZoneLayers | None


def prepare_inputs(
    gps_track: str | Path | GpsTrack,
    config: PipelineConfig | None = None,
    camera: str | Path | CameraMount | None = None,
    zones: str | Path | ZoneLayers | None = None,
    fps_hint: float | None = None,
) -> PreparedInputs:
    """Parse every input file up front (raises InputError/ConfigError before anything is written)."""
    from detector.geo import load_camera_mount

    config = config or load_pipeline_config()
    taxonomy = load_taxonomy(config.taxonomy) if config.taxonomy else default_taxonomy()
    gps = gps_track if isinstance(gps_track, GpsTrack) else load_gps_track(gps_track, fps=fps_hint)
    if isinstance(camera, CameraMount):
        mount = camera
    elif camera is not None:
        mount = load_camera_mount(camera)
    else:
        mount = config.camera
    if isinstance(zones, ZoneLayers):
        layers: ZoneLayers | None = zones
    elif zones is not None:
        layers = load_zones(zones)
    elif config.zones_dir:
        layers = load_zones(config.zones_dir)
    else:
        layers = None
    return PreparedInputs(config, taxonomy, gps, mount, layers)


def _ingest(
    store: EventSink, events: list[ViolationEvent], summary: ProcessSummary, merging: CaseMerging
) -> list[Any]:
    results = []
    for event in events:
        result = store.ingest_event(event, merging.distance_for(event.class_name))
        results.append(result)
        summary.events += 1
        created = bool(getattr(result, "created", False))
        added = bool(getattr(result, "observation_added", True))
        if created:
            summary.new_cases += 1
        elif added:
            summary.merged_observations += 1
        else:
            summary.already_stored += 1
        case = getattr(result, "case", None)
        if case is not None and getattr(case, "id", None) is not None:
            summary.case_ids.append(int(case.id))
        summary.events_detail.append(
            {
                "event_key": event.event_key,
                "class_name": event.class_name,
                "lat": event.lat,
                "lon": event.lon,
                "position_source": event.position_source,
                "hits": event.hits,
                "score": event.score,
                "case_id": getattr(case, "id", None),
                "created": created,
            }
        )
    return results


def _detect_frames(detector: Any, frames: list[Frame]) -> list[list[Detection]]:
    """Detectors that need the frame itself (e.g. a ground-truth oracle) offer `detect_frames`."""
    if hasattr(detector, "detect_frames"):
        return detector.detect_frames(frames)
    return detector.detect_batch([f.image for f in frames])


def detector_identity(detector: Any) -> str:
    """What makes two runs' detections interchangeable: model file hash, thresholds, input size (the
    horizon band's included), whatever wraps the model (the service's micro-batcher, for one). A
    detector that runs a model elsewhere (serve.engines.ray_engine) states that model's identity in
    `detections_identity`; one without a model file (ground-truth boxes) its class and `identity`."""
    remote = getattr(detector, "detections_identity", None)
    if remote:
        return str(remote)
    path = getattr(detector, "path", None)
    if path is not None and Path(str(path)).exists():
        conf, iou = getattr(detector, "conf", ""), getattr(detector, "iou", "")
        imgsz = getattr(detector, "imgsz", "")
        return f"{source_id_for_file(path)}:conf={conf}:iou={iou}:imgsz={imgsz}"
    return f"{type(detector).__name__}:{getattr(detector, 'identity', '')}"


def sampled_rate(requested_fps: float, native_fps: float | None) -> float:
    """The rate frames are taken at: the requested one, or the recording's own when slower (a 2 fps
    recording stays 2 fps)."""
    return min(requested_fps, native_fps or requested_fps)


def detections_cache_header(source_id: str, detector: Any, sample_fps: float) -> dict[str, Any]:
    """What a detections cache must match to be reused: the recording, the detector and the rate."""
    return {"source": source_id, "detector": detector_identity(detector), "fps": sample_fps}


def run_settings(detector: Any, sample_fps: float, config: PipelineConfig) -> dict[str, Any]:
    """What decides a recording's event keys (a track's first frame, class and box): the detections
    (model, thresholds, input size), the sampling rate and the tracker. The rules are not in it: they
    decide which tracks become events, not their keys, so footage run again under new rules adds only
    the events the new rules find."""
    return {
        "detector": detector_identity(detector),
        "sample_fps": float(sample_fps),
        "tracker": config.tracker.model_dump(mode="json"),
    }


def _flat(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"tracker": {"lost_track_seconds": 1.2}} -> {"tracker.lost_track_seconds": 1.2}."""
    out: dict[str, Any] = {}
    for name, value in settings.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = value
    return out


def claim_source(store: Any, video: Path, source_id: str, settings: dict[str, Any], reprocess: bool) -> None:
    """Record that `video` is processed with `settings`; refuse (InputError) when this store holds it
    processed with other settings, unless `reprocess`. Stores without a source record are not checked."""
    if not hasattr(store, "claim_source"):
        return
    earlier = store.claim_source(source_id, settings, str(video), replace=reprocess)
    if earlier is None:
        return
    then, now = _flat(earlier), _flat(settings)
    changed = ", ".join(
        f"{name} {then.get(name)!r} then, {now.get(name)!r} now"
        for name in sorted(then.keys() | now.keys())
        if then.get(name) != now.get(name)
    )
    raise InputError(
        f"processed into this store before with other settings ({changed or 'different'}); "
        "processing it again may add its objects to their cases a second time. Run it with the "
        "settings it had, or reprocess it on purpose (--reprocess; `reprocess` for a footage job)",
        video,
    )


def process_video(
    video: str | Path,
    gps_track: str | Path | GpsTrack,
    store: EventSink,
    detector: FrameDetector,
    config: PipelineConfig | None = None,
    vehicle_id: str = "vehicle-1",
    progress: Callable[[int, int | None], None] | None = None,
    detections_cache: str | Path | None = None,
    camera: str | Path | CameraMount | None = None,
    zones: str | Path | ZoneLayers | None = None,
    start_time: float | None = None,
    fps: float | None = None,
    verify_handled: bool = True,
    reprocess: bool = False,
) -> ProcessSummary:
    """Run the whole path on one recorded video and feed the store; returns the summary.

    A video processed into this store before with other settings (model, sampling rate, tracker;
    `run_settings`) is refused with an InputError: its tracks may start on other frames, get other event
    keys and be added to their cases a second time. `reprocess=True` runs it anyway (and records the
    new settings).

    gps_track: a GPS file (GPX, NMEA, CSV, per-frame JSON) or a parsed GpsTrack; relative times are
    seconds from the video start, absolute times are aligned to the video start at `start_time`
    (Unix seconds; default: the track's first fix).
    progress: called as progress(frames_done, frames_total_or_None) after each frame.
    detections_cache: JSON Lines file of per-frame detections; resumes without re-running inference.
    verify_handled: handled cases the vehicle passed in view of, without seeing the violation again,
    get this pass attached as verification evidence (store.attach_verification).
    """
    from detector.sources import Prefetched, VideoFileSource

    started = time.perf_counter()
    config = config or load_pipeline_config()
    sample_fps = fps or config.sample_fps
    video = Path(video)
    source = VideoFileSource(video, fps=sample_fps)  # raises InputError for a missing/unreadable video
    try:
        prepared = prepare_inputs(gps_track, config, camera, zones, fps_hint=source.native_fps)
        open_verifier(prepared.config.verifier)  # a missing or broken verifier fails before the store
        source_id = source_id_for_file(video)
        effective_fps = sampled_rate(sample_fps, source.native_fps)
        settings = run_settings(detector, effective_fps, prepared.config)
        claim_source(store, video, source_id, settings, reprocess)
        sightings: SightingLog | None = store if hasattr(store, "sightings_near") else None  # type: ignore[assignment]
        rules = RuleEngine(prepared.config, prepared.taxonomy, prepared.zones, sightings)
        summary = ProcessSummary(fps=effective_fps)
        assembler = EventAssembler(
            prepared.config,
            prepared.taxonomy,
            rules,
            prepared.camera,
            summary.fps,
            vehicle_id,
            key_for=lambda t: event_key(source_id, t),
            source=source_id,
        )
        cache = None
        if detections_cache is not None:
            cache = DetectionsCache(
                detections_cache, detections_cache_header(source_id, detector, sample_fps)
            )
        if start_time is None and prepared.gps.relative:
            start_time = video_start_time(source)
        watcher = PatrolVerifier.for_route(store, prepared, start_time) if verify_handled else None
        total = source.estimated_frames
        batch_size = prepared.config.detector.batch
        pending: list[Frame] = []
        last_t = 0.0

        def run_batch(frames: list[Frame]) -> None:
            need = [f for f in frames if cache is None or cache.get(f.index) is None]
            fresh = (
                dict(zip((f.index for f in need), _detect_frames(detector, need), strict=True))
                if need
                else {}
            )
            summary.inferred_frames += len(need)
            for f in frames:
                if f.index in fresh:
                    dets = fresh[f.index]
                    if cache is not None:
                        cache.put(f.index, dets)
                else:
                    dets = cache.get(f.index) or []  # type: ignore[union-attr]
                summary.detections += len(dets)
                if watcher is not None:
                    watcher.look(f, prepared.camera)
                ended = assembler.observe(f, dets)
                _ingest(store, assembler.finish(ended), summary, prepared.config.cases)
                summary.frames += 1
                if progress is not None:
                    progress(summary.frames, total)

        # the next frames are decoded while the detector runs (FFmpeg releases the GIL)
        with Prefetched(source, depth=2 * batch_size) as frames:
            for frame in frames:
                frame.meta = frame_meta(prepared.gps, frame, start_time, vehicle_id, source_id)
                last_t = frame.timestamp
                pending.append(frame)
                if len(pending) >= batch_size:
                    run_batch(pending)
                    pending = []
        if pending:
            run_batch(pending)
        _ingest(store, assembler.finish(assembler.flush()), summary, prepared.config.cases)
        if cache is not None:
            cache.close()
        if watcher is not None:
            summary.verifications = watcher.attach(store, summary, source_id, vehicle_id, prepared.config)
        summary.tracks = assembler.tracks_seen
        summary.rejected = dict(assembler.rejected)
        summary.video_seconds = last_t + 1.0 / sample_fps if summary.frames else 0.0
        summary.wall_seconds = time.perf_counter() - started
        return summary
    finally:
        source.close()


class PatrolVerifier:
    """Handled cases along the route: was the place in view, and was the violation still there?

    A case counts as passed when its position came into the camera's view (within the horizontal
    field of view, `min_m`..`max_m` ahead) in at least one frame; the frame where it was nearest is
    kept as verification evidence. After the run, a passed case that no event of this run re-observed
    (same matter code within `merge_distance_m`) gets `store.attach_verification`.
    """

    def __init__(self, cases: list[Any], min_m: float = 4.0, max_m: float = 25.0) -> None:
        self.cases = cases
        self.min_m, self.max_m = min_m, max_m
        self.best: dict[int, tuple[float, Frame, Any]] = {}  # case id -> (distance, frame copy, meta)

    @classmethod
    def for_route(
        cls, store: Any, prepared: PreparedInputs, start_time: float | None
    ) -> PatrolVerifier | None:
        if not hasattr(store, "find_cases_near") or not hasattr(store, "attach_verification"):
            return None
        found: dict[int, Any] = {}
        fixes = prepared.gps.fixes
        last = None
        for fix in fixes:
            if last is not None and distance_m(last[0], last[1], fix.lat, fix.lon) < 10.0:
                continue
            last = (fix.lat, fix.lon)
            for case in store.find_cases_near(fix.lat, fix.lon, 40.0, statuses=["handled"]):
                found[int(case.id)] = case
        return cls(list(found.values())) if found else None

    def look(self, frame: Frame, camera: CameraMount) -> None:
        meta = frame.meta
        if meta is None or meta.lat is None or meta.lon is None or meta.heading is None:
            return
        for case in self.cases:
            d = distance_m(meta.lat, meta.lon, case.lat, case.lon)
            if not (self.min_m <= d <= self.max_m):
                continue
            bearing = initial_bearing(meta.lat, meta.lon, case.lat, case.lon)
            off_axis = (bearing - (meta.heading + camera.yaw_deg) + 180.0) % 360.0 - 180.0
            if abs(off_axis) > camera.hfov_deg / 2.0 * 0.9:
                continue
            prev = self.best.get(int(case.id))
            if prev is None or d < prev[0]:
                self.best[int(case.id)] = (
                    d,
                    dataclasses.replace(frame, image=frame.image.copy(), meta=meta),
                    meta,
                )

    def attach(
        self, store: Any, summary: ProcessSummary, source_id: str, vehicle_id: str, config: PipelineConfig
    ) -> int:
        import cv2

        seen_again = summary.events_detail
        attached = 0
        for case in self.cases:
            entry = self.best.get(int(case.id))
            if entry is None:
                continue
            merge_m = config.cases.distance_for(case.class_name)
            again = any(
                e["class_name"] == case.class_name
                and distance_m(e["lat"], e["lon"], case.lat, case.lon) <= merge_m
                for e in seen_again
            )
            if again:
                continue
            _, frame, meta = entry
            ok, jpeg = cv2.imencode(
                ".jpg", frame.full_image(), [cv2.IMWRITE_JPEG_QUALITY, config.evidence.jpeg_quality]
            )
            try:
                store.attach_verification(
                    int(case.id),
                    vehicle_id=vehicle_id,
                    at=meta.captured_at,
                    lat=meta.lat,
                    lon=meta.lon,
                    event_key=f"{source_id}:verify:{case.id}",
                    evidence_jpeg=jpeg.tobytes() if ok else None,
                    frame_index=frame.index,
                    source=source_id,
                    note="patrol pass: violation no longer seen at this place",
                )
            except StreetWatchError:
                continue  # the case moved on meanwhile (e.g. already verified by this pass)
            attached += 1
        return attached


def frame_meta(
    gps: GpsTrack, frame: Frame, start_time: float | None, vehicle_id: str, source_id: str
) -> FrameMeta:
    """A recorded frame's metadata as a patrol vehicle would send it: its time and GPS fix from the track
    (interpolated to the frame's video time), the vehicle, and an id unique within the video."""
    point = gps.at_video_time(frame.timestamp, start_time)
    return FrameMeta(
        vehicle_id=vehicle_id,
        frame_id=f"{source_id}:{frame.index}",
        captured_at=gps.wall_time(frame.timestamp, start_time),
        lat=point.lat,
        lon=point.lon,
        heading=point.heading,
    )


def video_start_time(source: Any) -> float:
    """Wall-clock start of a recording whose GPS track has only relative times.

    The container's `creation_time` tag when present, else the file's modification time: both are
    the same on every run over the same file, so re-processing stays idempotent.
    """
    tags = {}
    try:
        tags = dict(source.container.metadata or {})
        tags.update(dict(source.stream.metadata or {}))
    except AttributeError:
        pass
    created = tags.get("creation_time")
    if created:
        try:
            dt = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
            return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
        except ValueError:
            pass
    return Path(source.path).stat().st_mtime


# ------------------------------------------------------------------------------------------ live


class LivePipeline:
    """Live frames from many vehicles: one tracker per vehicle, events ingested as tracks end.

    A vehicle's tracks end when they are lost (ByteTrack buffer), when the vehicle's next frame comes
    more than `lost_track_seconds` after the previous one (a gap in the stream), or on `flush()`.
    """

    def __init__(
        self,
        store: EventSink,
        detector: FrameDetector,
        config: PipelineConfig | None = None,
        zones: ZoneLayers | None = None,
        camera: CameraMount | None = None,
        nominal_fps: float = 2.0,
        cameras: dict[str, CameraMount] | None = None,
    ) -> None:
        self.config = config or load_pipeline_config()
        self.taxonomy = load_taxonomy(self.config.taxonomy) if self.config.taxonomy else default_taxonomy()
        if zones is None and self.config.zones_dir:
            zones = load_zones(self.config.zones_dir)
        self.zones = zones
        self.store = store
        self.detector = detector
        self.camera = camera or self.config.camera
        self.cameras = cameras or {}
        self.nominal_fps = nominal_fps
        sightings = store if hasattr(store, "sightings_near") else None
        self.rules = RuleEngine(self.config, self.taxonomy, zones, sightings)  # type: ignore[arg-type]
        open_verifier(self.config.verifier)  # a missing or broken verifier fails here, not at a first frame
        self._vehicles: dict[str, EventAssembler] = {}
        self._last_time: dict[str, float] = {}
        self._counter: dict[str, int] = {}
        self._arrived: dict[str, float] = {}  # wall clock of each vehicle's last frame (idle flush)

    def _assembler(self, vehicle_id: str) -> EventAssembler:
        asm = self._vehicles.get(vehicle_id)
        if asm is None:
            source = f"live:{vehicle_id}"

            def key_for(track: Track, _vid: str = vehicle_id) -> str:
                first = track.first
                frame_id = first.meta.frame_id if first.meta else str(first.frame_index)
                box = "-".join(str(int(v // 16)) for v in first.detection.box)
                return f"live:{_vid}:{frame_id}:{track.class_name}:{box}"

            asm = EventAssembler(
                self.config,
                self.taxonomy,
                self.rules,
                self.cameras.get(vehicle_id, self.camera),
                self.nominal_fps,
                vehicle_id,
                key_for=key_for,
                source=source,
            )
            self._vehicles[vehicle_id] = asm
        return asm

    def process_frame(self, image: np.ndarray, meta: FrameMeta) -> tuple[list[Detection], list[Any]]:
        """Detect, track and ingest; returns the detections and the ingest results of tracks that ended."""
        if not isinstance(image, np.ndarray) or image.ndim != 3:
            raise InputError("frame is not a decoded colour image")
        detections = self.detector.detect_batch([image])[0]
        return detections, self.process_detections(image, meta, detections)

    def process_detections(
        self,
        image: np.ndarray | DecodedImage,
        meta: FrameMeta,
        detections: list[Detection],
        summary: ProcessSummary | None = None,
    ) -> list[Any]:
        """The part after the detector (for callers that ran the model themselves). `summary`, when
        given, counts the events, new cases and merged observations (the service passes none).

        `detections` are in original pixels; `image` may be a reduced decode (detector.decode)."""
        decoded = DecodedImage.of(image)
        vid = meta.vehicle_id
        t = meta.captured_at.timestamp()
        results: list[Any] = []
        summary = summary if summary is not None else ProcessSummary()
        prev = self._last_time.get(vid)
        gap = self.config.tracker.lost_track_seconds * 2
        # A frame a little older than the vehicle's latest is one of several uploads in flight that
        # finished out of order: it is tracked as it comes (ending every track of the vehicle for it
        # would split each object's track in two). A long gap either way (a stop in the stream, a
        # reset clock) ends the vehicle's tracks first.
        if prev is not None and abs(t - prev) > gap:
            results += self._flush_vehicle(vid, summary)
            prev = None
        asm = self._assembler(vid)
        index = self._counter.get(vid, 0)
        self._counter[vid] = index + 1
        self._last_time[vid] = t if prev is None else max(prev, t)
        self._arrived[vid] = time.time()
        frame = Frame(
            image=decoded.pixels,
            index=index,
            timestamp=t,
            source=f"live:{vid}",
            meta=meta,
            scale=decoded.scale,
            encoded=decoded.encoded,
        )
        ended = asm.observe(frame, detections)
        results += _ingest(self.store, asm.finish(ended), summary, self.config.cases)
        return results

    def _flush_vehicle(self, vehicle_id: str, summary: ProcessSummary) -> list[Any]:
        self._arrived.pop(vehicle_id, None)
        asm = self._vehicles.pop(vehicle_id, None)
        if asm is None:
            return []
        return _ingest(self.store, asm.finish(asm.flush()), summary, self.config.cases)

    def flush(
        self,
        vehicle_id: str | None = None,
        idle_seconds: float | None = None,
        summary: ProcessSummary | None = None,
    ) -> list[Any]:
        """End tracks: of one vehicle, of vehicles idle for `idle_seconds` (by wall clock), or of all;
        `summary` as in `process_detections`."""
        summary = summary if summary is not None else ProcessSummary()
        results: list[Any] = []
        if vehicle_id is not None:
            return self._flush_vehicle(vehicle_id, summary)
        now = time.time()
        for vid in list(self._vehicles):
            if idle_seconds is None or now - self._arrived.get(vid, now) >= idle_seconds:
                results += self._flush_vehicle(vid, summary)
        return results


def frames_total_hint(video: str | Path, fps: float) -> int | None:
    """How many frames process_video will handle (for progress bars before it starts)."""
    from detector.sources import VideoFileSource

    with VideoFileSource(video, fps=fps) as src:
        n = src.estimated_frames
    return int(n) if n is not None and not math.isnan(n) else None
