"""Tracks: one physical object across frames, with ByteTrack from `trackers` 2.1.0.

Why `trackers.ByteTrackTracker`: ByteTrack associates low-score detections in a second pass, which
keeps a track alive through the frames where a roadside object is half hidden or blurred; it needs
no appearance model (no extra network on a 2-core CPU), and `trackers` is a small, maintained
library on top of `supervision`. supervision 0.31 itself no longer ships ByteTrack, and trackers 2.2+
requires the GUI OpenCV that clashes with the headless one we install, hence the pin to 2.1.0.

How it is used here:
- classes are tracked apart (ByteTrack is class-agnostic, and a stall must not continue a car's
  track) by one ByteTrack whose boxes are shifted by a per-class offset, as batched NMS does: boxes
  of two classes never overlap, so association never crosses classes, and the result is that of one
  tracker per class at a fraction of the CPU (one update per frame instead of one per class:
  `trackers` spends most of an update on supervision bookkeeping, not on the matching);
- the lost-track buffer is set in seconds (`lost_track_seconds`) and converted with the sampling
  rate, so 2 fps and 30 fps footage keep a lost object for the same time;
- ByteTrack's ids come from a process-wide counter, so they are only used as keys during one run:
  a `Track` gets its own run-local number, and events are keyed by the source's content hash plus
  the track's first frame, class and quantised first box (see `detector.events.event_key`), which
  is the same every time the same footage is processed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detector.pipeline_config import TrackerSettings
from detector.types import Detection, Frame, FrameMeta

# Reference frame rate at which ByteTrack's buffer is expressed (trackers scales frame_rate/30).
_BYTETRACK_REFERENCE_FPS = 30.0


@dataclass(slots=True)
class TrackObservation:
    """One frame in which a track was seen."""

    frame_index: int
    timestamp: float  # seconds (video time, or Unix time for live frames)
    detection: Detection
    image_w: int
    image_h: int
    meta: FrameMeta | None = None
    position: Any = None  # detector.geo.GeoPosition, set by the pipeline
    area_m2: float | None = None  # ground footprint (flat objects), set by the pipeline when a rule needs it


@dataclass(slots=True)
class Track:
    """All observations of one object, plus the best evidence candidate seen so far."""

    number: int  # run-local, in order of creation
    class_id: int
    class_name: str
    observations: list[TrackObservation] = field(default_factory=list)
    best_quality: float = -1.0
    best_frame: Frame | None = None  # the frame of the best evidence (not copied: frames are not mutated)
    best_observation: TrackObservation | None = None

    @property
    def hits(self) -> int:
        return len(self.observations)

    @property
    def first(self) -> TrackObservation:
        return self.observations[0]

    @property
    def last(self) -> TrackObservation:
        return self.observations[-1]

    @property
    def duration(self) -> float:
        return self.last.timestamp - self.first.timestamp

    @property
    def median_score(self) -> float:
        return float(np.median([o.detection.score for o in self.observations]))

    def offer_evidence(self, quality: float, frame: Frame, obs: TrackObservation) -> bool:
        """Keep `frame` as evidence when it beats the current best; returns whether it did.

        The frame is kept as it came (a live frame: the reduced image plus its JPEG, decoded in full
        only if this track becomes a case)."""
        if quality > self.best_quality:
            self.best_quality = quality
            self.best_frame = frame
            self.best_observation = obs
            return True
        return False


class ObjectTracker:
    """Per-class ByteTrack over a stream of per-frame detections; hands back finished tracks.

    Args:
        settings: tracker settings (seconds-based).
        fps: the rate frames arrive at (sampling rate for video; a nominal rate for live frames).
    """

    def __init__(self, settings: TrackerSettings, fps: float) -> None:
        self.settings = settings
        self.fps = float(fps)
        # time_since_update must stay below this to keep the track; +1 so `lost_track_seconds` is kept.
        self.max_missed_frames = max(2, math.ceil(settings.lost_track_seconds * self.fps) + 1)
        # Buffered IoU: at low frame rates a roadside object jumps further between frames than its own
        # size, so both tracks and detections are associated on grown boxes (growth ~ 1 / fps).
        self.box_buffer = min(settings.max_box_buffer, settings.box_buffer_at_5fps * 5.0 / self.fps)
        self._byte: Any = None  # one ByteTrack for every class (boxes offset per class, see module doc)
        self._class_offset = 0.0  # px; set with the tracker from the first frame's size
        self._active: dict[tuple[int, int], Track] = {}  # (class_id, bytetrack id) -> Track
        self._next_number = 0
        self._last_frame_seen: dict[tuple[int, int], int] = {}
        self._frame_counter = 0
        # Per class: the previous frame's detections that started a ByteTrack track (id still -1).
        self._spawned: dict[int, list[TrackObservation]] = {}

    def _bytetrack(self, image_w: int, image_h: int):
        if self._byte is None:
            from trackers import ByteTrackTracker

            # Class c's boxes move right by c x this: more than a grown box can span (1 + 2 x buffer
            # times the frame, up to 8K frames even if a stream's frame size changes later), so boxes
            # of two classes never overlap. float64 boxes keep sub-pixel precision at these offsets.
            span = max(image_w, image_h, 8192)
            self._class_offset = float(math.ceil((1 + 2 * self.box_buffer) * span) + 64)
            self._byte = ByteTrackTracker(
                lost_track_buffer=self.max_missed_frames,
                frame_rate=_BYTETRACK_REFERENCE_FPS,
                track_activation_threshold=self.settings.track_activation_threshold,
                minimum_consecutive_frames=1,
                minimum_iou_threshold=self.settings.min_iou,
                high_conf_det_threshold=self.settings.high_conf_threshold,
            )
        return self._byte

    def update(
        self,
        frame_index: int,
        timestamp: float,
        detections: list[Detection],
        image_w: int,
        image_h: int,
        meta: FrameMeta | None = None,
    ) -> list[tuple[Track, TrackObservation]]:
        """Feed one frame's detections; returns the (track, observation) pairs of this frame.

        Detections that start a track are reported from the track's second frame on (ByteTrack
        confirms a track once it is matched); detections that match no track are dropped.
        """
        import supervision as sv

        self._frame_counter += 1
        if detections:
            byte = self._bytetrack(image_w, image_h)
            boxes = np.array([d.box for d in detections], dtype=np.float64)
            shift = np.array([d.class_id for d in detections], dtype=np.float64) * self._class_offset
            xyxy = self._buffered(boxes)
            xyxy[:, 0] += shift
            xyxy[:, 2] += shift
            sv_dets = sv.Detections(
                xyxy=xyxy,
                confidence=np.array([d.score for d in detections], dtype=np.float32),
                data={"source_index": np.arange(len(detections))},
            )
        elif self._byte is None:
            return []
        else:  # no detections: the tracks still age
            byte = self._byte
            sv_dets = sv.Detections.empty()
            sv_dets.confidence = np.zeros(0, dtype=np.float32)
            sv_dets.data = {"source_index": np.zeros(0, dtype=int)}
        tracked = byte.update(sv_dets)
        spawned_before, self._spawned = self._spawned, {}
        out: list[tuple[Track, TrackObservation]] = []
        if len(tracked) == 0 or tracked.tracker_id is None:
            return out
        ids = zip(tracked.data["source_index"], tracked.tracker_id, strict=True)
        all_pairs = sorted((int(src), int(tid)) for src, tid in ids)
        for src, tid in all_pairs:
            det = detections[src]
            if tid < 0:
                if det.score >= self.settings.track_activation_threshold:
                    self._spawned.setdefault(det.class_id, []).append(
                        TrackObservation(frame_index, timestamp, det, image_w, image_h, meta)
                    )
                continue
            key = (det.class_id, tid)
            track = self._active.get(key)
            if track is None:
                track = Track(self._next_number, det.class_id, det.class_name)
                self._next_number += 1
                self._active[key] = track
                first = _take_spawn(spawned_before.get(det.class_id, []), det)
                if first is not None:
                    track.observations.append(first)
            obs = TrackObservation(frame_index, timestamp, det, image_w, image_h, meta)
            track.observations.append(obs)
            self._last_frame_seen[key] = self._frame_counter
            out.append((track, obs))
        return out

    def _buffered(self, xyxy: np.ndarray) -> np.ndarray:
        """Boxes grown by the motion buffer before association (the tracker only ever sees grown boxes)."""
        b = self.box_buffer
        if b <= 0:
            return xyxy
        w = (xyxy[:, 2] - xyxy[:, 0])[:, None]
        h = (xyxy[:, 3] - xyxy[:, 1])[:, None]
        return xyxy + np.hstack([-b * w, -b * h, b * w, b * h])

    def pop_finished(self) -> list[Track]:
        """Tracks that ByteTrack has dropped (not matched for longer than the lost-track buffer)."""
        done_keys = [
            key
            for key, last in self._last_frame_seen.items()
            if self._frame_counter - last >= self.max_missed_frames
        ]
        finished = []
        for key in sorted(done_keys, key=lambda k: self._active[k].number):
            finished.append(self._active.pop(key))
            del self._last_frame_seen[key]
        return finished

    def flush(self) -> list[Track]:
        """End of the stream: every remaining track, in creation order; the tracker starts afresh."""
        remaining = sorted(self._active.values(), key=lambda t: t.number)
        self._active.clear()
        self._last_frame_seen.clear()
        self._byte = None
        self._spawned.clear()
        return remaining

    @property
    def active_tracks(self) -> list[Track]:
        return sorted(self._active.values(), key=lambda t: t.number)


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """IoU of two xyxy boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _take_spawn(candidates: list[TrackObservation], det: Detection) -> TrackObservation | None:
    """The previous-frame detection that started the ByteTrack track `det` now confirms, if any.

    ByteTrack reports a track's first detection with id -1; giving it back to the track keeps the
    hit count honest at low frame rates (2 fps: one frame is half a second of evidence).
    """
    best, best_iou = None, 0.0
    for cand in candidates:
        iou = box_iou(cand.detection.box, det.box)
        if iou > best_iou:
            best, best_iou = cand, iou
    if best is None:
        return None
    candidates.remove(best)
    return best
