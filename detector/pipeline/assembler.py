"""Tracker + geolocation + evidence + rules for one stream of frames (one video, or one vehicle live)."""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import numpy as np

from detector.context import PersonVeto, people_boxes
from detector.events import encode_evidence, evidence_quality, shadowing_track, track_passes, track_position
from detector.geo import CameraMount, GeoPosition, ground_area_m2, locate
from detector.pipeline_config import PipelineConfig
from detector.rules import RuleEngine
from detector.taxonomy import Taxonomy
from detector.track import ObjectTracker, Track
from detector.types import Detection, Frame, FrameMeta, ViolationEvent
from detector.verifier import open_verifier

log = logging.getLogger("streetwatch.pipeline")


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
        "context class",
    ):
        if reason.startswith(prefix):
            return prefix
    return reason


def evidence_image(frame: Frame | None) -> np.ndarray:
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


def person_veto(config: PipelineConfig, taxonomy: Taxonomy) -> PersonVeto | None:
    """The configuration's person veto over the taxonomy's violation classes (None: off)."""
    if config.person_veto is None:
        return None
    return PersonVeto((c.name for c in taxonomy.violation_classes), min_cover=config.person_veto)


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
        self.veto = person_veto(config, taxonomy)
        self.verifier = open_verifier(config.verifier)
        self.rejected: dict[str, int] = {}
        self.tracks_seen = 0
        # ended tracks kept a while: the stronger reading of an object may end before the weaker one
        self._recent: collections.deque[Track] = collections.deque(maxlen=256)
        self._frame_times: collections.deque[float] = collections.deque(maxlen=32)

    def observe(self, frame: Frame, detections: list[Detection]) -> list[Track]:
        """Feed one frame; returns the tracks that ended with it (ready for `finish`)."""
        if self.veto is not None:
            detections = self.veto(detections)
        frame.people = people_boxes(detections, frame.width, frame.height) or None
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
        verdict = self.verifier.verify_frame(frame, det.box, full_image=lambda: evidence_image(frame))
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
        people = track.best_frame.people if track.best_frame is not None else None
        if frame_jpeg is None:  # decoded video: draw now (no original JPEG to keep)
            evidence_jpeg, crop_jpeg = encode_evidence(
                evidence_image(track.best_frame),  # a decoded video frame: already full size
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
                **({"people": people} if people else {}),  # to blur in published copies
                **({"verifier": {k: round(v, 4) for k, v in verdict.items()}} if verdict else {}),
            },
        )
        return event, "ok"

