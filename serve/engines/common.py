"""What every processing engine shares: the list of videos to process, the plan, the result.

`streetwatch process` turns its arguments into a `ProcessPlan` (videos, each with its GPS track and
camera; model; case store URL; evidence storage), checks every input before anything is written,
and hands the plan to an engine (`inprocess`, `ray`). Engines differ only in where the work runs:
for the same plan they must leave the same cases in the store.

Order matters where videos meet: a parked car becomes illegal parking when a later pass sees it
again, and an event joins the case nearest to it. The in-process engine processes the videos in
plan order; a parallel engine must keep that order between any two videos whose routes come close
(`route_dependencies`), and may run everything else at once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from detector.errors import InputError
from detector.pipeline_config import PipelineConfig, load_pipeline_config

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".mov", ".avi", ".m4v", ".ts", ".webm", ".mpg", ".mpeg"})
GPS_SUFFIXES = (".gpx", ".csv", ".nmea", ".jsonl", ".json")
#: Videos whose routes (GPS bounding boxes) come closer than this are processed in plan order: it
#: covers the camera's range (events are located up to ~60 m ahead), the 15 m case merge distance,
#: the same-place radius of sightings and the 40 m look-up of patrol verification.
INTERACTION_MARGIN_M = 150.0


@dataclass(frozen=True)
class VideoJob:
    """One recorded video with what geolocates it."""

    video: Path
    gps: Path
    camera: Path | None = None
    vehicle_id: str = "vehicle-1"


@dataclass
class ProcessPlan:
    """Everything an engine needs; plain data (paths, strings, a pydantic config) so it can be shipped."""

    jobs: list[VideoJob]
    db_url: str
    evidence: str
    model: Path | None = None
    pipeline: PipelineConfig = field(default_factory=load_pipeline_config)
    zones: Path | None = None
    camera: Path | None = None  # applies to jobs without their own camera
    fps: float | None = None
    conf: float | None = None
    threads: int | None = None
    reprocess: bool = False  # add videos processed before with other settings anyway (process_video)


def process_job(
    job: VideoJob,
    plan: ProcessPlan,
    store: Any,
    detector: Any,
    cfg: PipelineConfig,
    zones: Any,
    progress: Any = None,
) -> Any:
    """One video of the plan through `detector.pipeline.process_video`, as every engine runs it: the job's
    camera, else the plan's; the plan's sampling rate and `reprocess`. Returns its ProcessSummary."""
    from detector.pipeline import process_video

    return process_video(
        job.video,
        job.gps,
        store,
        detector,
        cfg,
        vehicle_id=job.vehicle_id,
        progress=progress,
        camera=job.camera or plan.camera,
        zones=zones,
        fps=plan.fps,
        reprocess=plan.reprocess,
    )


@dataclass
class EngineResult:
    engine: str
    workers: int
    videos: list[dict[str, Any]] = field(default_factory=list)  # ProcessSummary.to_dict() + video
    wall_seconds: float = 0.0
    startup_seconds: float = 0.0  # input checks, model loading, actors ready: before the first frame
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # CPU time by part (what was measured)

    def total(self, name: str) -> float:
        return sum(v.get(name, 0) for v in self.videos)

    @property
    def frames(self) -> int:
        return int(self.total("frames"))

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def steady_frames_per_second(self) -> float:
        """Frames/s once started (what a long archive run approaches)."""
        busy = self.wall_seconds - self.startup_seconds
        return self.frames / busy if busy > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        keys = ("frames", "detections", "tracks", "events", "new_cases", "merged_observations")
        totals = {k: int(self.total(k)) for k in keys + ("already_stored", "verifications")}
        return {
            "engine": self.engine,
            "workers": self.workers,
            "videos": len(self.videos),
            **totals,
            "video_seconds": round(self.total("video_seconds"), 2),
            "wall_seconds": round(self.wall_seconds, 2),
            "startup_seconds": round(self.startup_seconds, 2),
            "frames_per_second": round(self.frames_per_second, 2),
            "steady_frames_per_second": round(self.steady_frames_per_second, 2),
            "cpu_seconds": {k: round(v, 2) for k, v in self.cpu_seconds.items()},
            "per_video": self.videos,
        }


class Engine(Protocol):
    name: str

    def run(self, plan: ProcessPlan, progress: Any = None) -> EngineResult:
        """Process every job of the plan into the plan's store; progress(frames_done, frames_total)."""
        ...


def _sibling(video: Path, names: Sequence[str]) -> Path | None:
    for name in names:
        candidate = video.parent / name
        if candidate.is_file():
            return candidate
    return None


def find_videos(paths: Sequence[Path]) -> list[Path]:
    """Video files named directly, and every video under named folders (sorted, recursive)."""
    videos: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
            if not found:
                raise InputError(f"no video files ({', '.join(sorted(VIDEO_SUFFIXES))}) under", path)
            videos += found
        elif path.is_file():
            videos.append(path)
        else:
            raise InputError("no such video file or folder", path)
    seen: set[Path] = set()
    unique = []
    for video in videos:
        resolved = video.resolve()
        if resolved not in seen:
            seen.add(resolved)
            unique.append(video)
    return unique


def gps_for(video: Path, videos_in_folder: int) -> Path | None:
    """`<stem>.gpx|.csv|.nmea|.jsonl|.json` next to the video; `track.*`/`gps.*` when it is alone."""
    found = _sibling(video, [video.stem + s for s in GPS_SUFFIXES])
    if found is None and videos_in_folder == 1:
        found = _sibling(video, [f"{base}{s}" for base in ("track", "gps") for s in GPS_SUFFIXES])
    return found


def camera_for(video: Path, videos_in_folder: int) -> Path | None:
    names = [f"{video.stem}.camera.yaml"] + (["camera.yaml"] if videos_in_folder == 1 else [])
    return _sibling(video, names)


def build_jobs(
    paths: Sequence[Path],
    gps: Sequence[Path] | None = None,
    camera: Path | None = None,
    vehicle_id: str = "vehicle-1",
) -> list[VideoJob]:
    """The videos to process, in order, each with its GPS track (from `gps`, same order, or a sibling
    file) and camera (`camera` for all, else a sibling `<stem>.camera.yaml` / lone `camera.yaml`)."""
    videos = find_videos(paths)
    gps = list(gps or [])
    if gps and len(gps) != len(videos):
        raise InputError(
            f"--gps given {len(gps)} time(s) for {len(videos)} video(s): give one per video, in the "
            "same order, or none (then <video>.gpx/.csv or track.gpx/.csv next to each video is used)"
        )
    per_folder: dict[Path, int] = {}
    for video in videos:
        per_folder[video.parent] = per_folder.get(video.parent, 0) + 1
    jobs = []
    for i, video in enumerate(videos):
        alone = per_folder[video.parent]
        track = gps[i] if gps else gps_for(video, alone)
        if track is None:
            raise InputError(
                f"no GPS track for {video}: expected {video.stem}.gpx/.csv/.nmea/.json next to it"
                + (" (or track.gpx/.csv in its folder)" if alone == 1 else "")
                + ", or pass --gps"
            )
        if not Path(track).is_file():
            raise InputError("GPS track not found", track)
        cam = camera or camera_for(video, alone)
        jobs.append(
            VideoJob(video=video.resolve(), gps=Path(track).resolve(), camera=cam, vehicle_id=vehicle_id)
        )
    return jobs


def absolute_db_url(url: str) -> str:
    """SQLite URLs and bare paths made absolute: workers may run in another working directory."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rest = url[len("sqlite:///") :]
        if rest and not rest.startswith(":memory:"):
            return f"sqlite:///{Path(rest).resolve().as_posix()}"
    if "://" not in url:
        return f"sqlite:///{Path(url).resolve().as_posix()}"
    return url


def absolute_evidence(spec: str) -> str:
    text = str(spec)
    if "://" in text or (":/" in text and not text.startswith("/")):
        return text  # s3://... (or one that went through a Path field); open_storage normalises it
    return str(Path(text).resolve())


# ---------------------------------------------------------------------------------- validation


@dataclass
class CheckedJob:
    """A job whose inputs were read: frames expected and the route's bounding box (lat/lon)."""

    job: VideoJob
    frames_hint: int | None
    bbox: tuple[float, float, float, float]  # min lat, min lon, max lat, max lon
    cells: frozenset[tuple[int, int]] | None = None  # route_cells(): where the route passes
    start: float = 0.0  # Unix seconds of the first frame (GPS time, else the video's creation time)


def _cell_deg(margin_m: float) -> float:
    return margin_m / 111_320.0


def route_cells(points: Sequence[tuple[float, float]], margin_m: float = INTERACTION_MARGIN_M) -> frozenset:
    """Grid cells (margin_m of latitude on a side, the same number of degrees in longitude) the
    route passes through; long gaps between fixes are filled in so no cell is skipped."""
    size = _cell_deg(margin_m)
    cells: set[tuple[int, int]] = set()
    prev: tuple[float, float] | None = None
    for lat, lon in points:
        steps = 1
        if prev is not None:
            steps = max(1, math.ceil(max(abs(lat - prev[0]), abs(lon - prev[1])) / (size / 2)))
        for k in range(1, steps + 1):
            a, b = (
                (lat, lon)
                if prev is None
                else (prev[0] + (lat - prev[0]) * k / steps, prev[1] + (lon - prev[1]) * k / steps)
            )
            cells.add((math.floor(a / size), math.floor(b / size)))
        prev = (lat, lon)
    return frozenset(cells)


def _cells_meet(a: frozenset, b: frozenset, lat_deg: float) -> bool:
    """Some cell of a within one cell (north-south) and 1/cos(lat) cells (east-west) of one of b."""
    reach = math.ceil(1.0 / max(math.cos(math.radians(min(abs(lat_deg), 89.0))), 1e-6))
    small, big = (a, b) if len(a) <= len(b) else (b, a)
    for i, j in small:
        for di in (-1, 0, 1):
            for dj in range(-reach, reach + 1):
                if (i + di, j + dj) in big:
                    return True
    return False


def check_jobs(plan: ProcessPlan) -> list[CheckedJob]:
    """Open every video and parse every GPS track, camera and the zones before anything is written.

    The jobs come back in recording order (first GPS fix; the video's creation time for tracks with
    relative times; ties keep the given order): "seen again on a later pass" must mean later in time,
    whatever the files are called. Every engine processes them in this order.
    """
    from detector.pipeline.batch import prepare_inputs, video_start_time
    from detector.sources import VideoFileSource

    cfg = plan.pipeline
    checked = []
    zones = None
    if plan.zones is not None:
        from detector.zones import load_zones

        zones = load_zones(plan.zones)
    for job in plan.jobs:
        with VideoFileSource(job.video, fps=plan.fps or cfg.sample_fps) as src:
            native, total = src.native_fps, src.estimated_frames
            prepared = prepare_inputs(job.gps, cfg, job.camera or plan.camera, zones, fps_hint=native)
            start = video_start_time(src) if prepared.gps.relative else prepared.gps.times[0]
        lats = [f.lat for f in prepared.gps.fixes]
        lons = [f.lon for f in prepared.gps.fixes]
        hint = int(total) if total is not None and not math.isnan(total) else None
        cells = route_cells(list(zip(lats, lons, strict=True)))
        checked.append(CheckedJob(job, hint, (min(lats), min(lons), max(lats), max(lons)), cells, start))
    return sorted(checked, key=lambda c: c.start)  # stable: equal times keep the given order


def _boxes_meet(
    a: tuple[float, float, float, float], b: tuple[float, float, float, float], margin_m: float
) -> bool:
    mid_lat = math.radians((a[0] + a[2] + b[0] + b[2]) / 4.0)
    dlat = margin_m / 111_320.0
    dlon = margin_m / (111_320.0 * max(math.cos(mid_lat), 1e-6))
    return not (a[2] + dlat < b[0] or b[2] + dlat < a[0] or a[3] + dlon < b[1] or b[3] + dlon < a[1])


def route_dependencies(
    checked: Sequence[CheckedJob], margin_m: float = INTERACTION_MARGIN_M
) -> list[list[int]]:
    """For each job, the earlier jobs (plan order) whose routes come within margin_m of its route
    (bounding boxes first, then the grid cells the routes pass through: two long routes whose boxes
    overlap but whose streets never meet stay independent).

    Only the nearest such predecessors are needed to keep the order (the rest follow transitively),
    but listing all is simple and cheap for Ray (it waits on object refs).
    """
    deps: list[list[int]] = []
    for j, job in enumerate(checked):
        near = []
        for i in range(j):
            other = checked[i]
            meets = _boxes_meet(other.bbox, job.bbox, margin_m)  # cheap test first
            if meets and other.cells is not None and job.cells is not None:
                lat = max(abs(job.bbox[0]), abs(job.bbox[2]), abs(other.bbox[0]), abs(other.bbox[2]))
                meets = _cells_meet(other.cells, job.cells, lat)
            if meets:
                near.append(i)
        deps.append(near)
    return deps


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start
