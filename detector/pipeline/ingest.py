"""What the pipeline hands on: the detector and store it needs (protocols), a run's summary, and the
one function that feeds events to the store and counts what became of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from detector.pipeline_config import CaseMerging
from detector.types import Detection, ViolationEvent


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


def ingest_events(
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

