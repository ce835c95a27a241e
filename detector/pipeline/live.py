"""Live frames from many vehicles: one event assembler (tracker state) per vehicle."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from detector.decode import DecodedImage
from detector.errors import InputError
from detector.geo import CameraMount
from detector.pipeline.assembler import EventAssembler, person_veto
from detector.pipeline.ingest import EventSink, FrameDetector, ProcessSummary, ingest_events
from detector.pipeline_config import PipelineConfig, load_pipeline_config
from detector.rules import RuleEngine
from detector.taxonomy import default_taxonomy, load_taxonomy
from detector.track import Track
from detector.types import Detection, Frame, FrameMeta
from detector.verifier import open_verifier
from detector.zones import ZoneLayers, load_zones


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
        self.veto = person_veto(self.config, self.taxonomy)
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

    def screen(self, detections: list[Detection]) -> list[Detection]:
        """The detections the pipeline acts on: without violation boxes that are mostly a person."""
        return self.veto(detections) if self.veto is not None else detections

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
        results += ingest_events(self.store, asm.finish(ended), summary, self.config.cases)
        return results

    def _flush_vehicle(self, vehicle_id: str, summary: ProcessSummary) -> list[Any]:
        self._arrived.pop(vehicle_id, None)
        asm = self._vehicles.pop(vehicle_id, None)
        if asm is None:
            return []
        return ingest_events(self.store, asm.finish(asm.flush()), summary, self.config.cases)

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

