"""Recorded footage: one video + its GPS track through the whole path into the case store.

Everything that can be wrong with the inputs (video, GPS, camera, zones, config) is checked before the
store is touched, so a bad input leaves nothing half-written. Re-processing is safe: every event's key
is deterministic (source content hash + track's first frame + class + box), and the store refuses an
event key it already has. An interrupted job resumes from its detections cache: cached frames skip
inference, everything after the detector is recomputed from the same detections.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from detector.errors import InputError
from detector.events import event_key, source_id_for_file
from detector.geo import CameraMount
from detector.gps import GpsTrack, load_gps_track
from detector.pipeline.assembler import EventAssembler
from detector.pipeline.cache import DetectionsCache, detections_cache_header, detector_identity
from detector.pipeline.ingest import EventSink, FrameDetector, ProcessSummary, ingest_events
from detector.pipeline.patrol import PatrolVerifier
from detector.pipeline_config import PipelineConfig, load_pipeline_config
from detector.rules import RuleEngine, SightingLog
from detector.taxonomy import Taxonomy, default_taxonomy, load_taxonomy
from detector.types import Detection, Frame, FrameMeta
from detector.verifier import open_verifier
from detector.zones import ZoneLayers, load_zones


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


def detect_frames(detector: Any, frames: list[Frame]) -> list[list[Detection]]:
    """Detectors that need the frame itself (e.g. a ground-truth oracle) offer `detect_frames`."""
    if hasattr(detector, "detect_frames"):
        return detector.detect_frames(frames)
    return detector.detect_batch([f.image for f in frames])


def sampled_rate(requested_fps: float, native_fps: float | None) -> float:
    """The rate frames are taken at: the requested one, or the recording's own when slower (a 2 fps
    recording stays 2 fps)."""
    return min(requested_fps, native_fps or requested_fps)


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
        watcher = PatrolVerifier.for_route(store, prepared.gps) if verify_handled else None
        total = source.estimated_frames
        batch_size = prepared.config.detector.batch
        pending: list[Frame] = []
        last_t = 0.0

        def run_batch(frames: list[Frame]) -> None:
            need = [f for f in frames if cache is None or cache.get(f.index) is None]
            fresh = (
                dict(zip((f.index for f in need), detect_frames(detector, need), strict=True))
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
                ingest_events(store, assembler.finish(ended), summary, prepared.config.cases)
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
        ingest_events(store, assembler.finish(assembler.flush()), summary, prepared.config.cases)
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

