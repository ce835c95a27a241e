"""The detections cache: a footage run's per-frame detections on disk, so an interrupted run resumes
without running the model again over the frames it finished (the results are the same)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from detector.events import source_id_for_file
from detector.types import Detection


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


def detections_cache_header(source_id: str, detector: Any, sample_fps: float) -> dict[str, Any]:
    """What a detections cache must match to be reused: the recording, the detector and the rate."""
    return {"source": source_id, "detector": detector_identity(detector), "fps": sample_fps}

