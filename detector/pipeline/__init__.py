"""The data path after the model: frames → detector → tracker → events → rules → an event sink (the case
store), for recorded footage (`process_video`) and for live frames (`LivePipeline`).

- `build`: the one place a detector is built from the configuration (every caller uses it).
- `assembler`: tracker, geolocation, evidence and rules for one stream of frames.
- `batch`: one recorded video and its GPS track; `cache`: its per-frame detections, for resuming.
- `live`: frames from many vehicles, one assembler each.
- `patrol`: handled cases the vehicle passed in view of (verification evidence).
- `ingest`: the protocols the pipeline needs (detector, sink) and what it reports.
"""

from detector.pipeline.assembler import EventAssembler
from detector.pipeline.batch import PreparedInputs, prepare_inputs, process_video
from detector.pipeline.build import build_detector, footage_detector
from detector.pipeline.cache import DetectionsCache, read_detections_cache
from detector.pipeline.ingest import EventSink, FrameDetector, ProcessSummary
from detector.pipeline.live import LivePipeline
from detector.pipeline.patrol import PatrolVerifier

__all__ = [
    "DetectionsCache",
    "EventAssembler",
    "EventSink",
    "FrameDetector",
    "LivePipeline",
    "PatrolVerifier",
    "PreparedInputs",
    "ProcessSummary",
    "build_detector",
    "footage_detector",
    "prepare_inputs",
    "process_video",
    "read_detections_cache",
]
