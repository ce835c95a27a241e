"""The Ray engine: footage archives over the cores of one machine or a cluster.

Three stages, each where Ray runs it best:

1. **decode + sample**: PyAV decodes a video and keeps the frames at the sampling rate;
2. **inference** (`InferenceWorker`, a pool of Ray actors, one per worker): each actor holds one
   onnxruntime session with one intra-op thread and reserves one CPU; batches from all videos are
   spread round-robin over the actors;
3. **tracker → events → rules → cases** (`assemble_video`, one Ray task per video): the same
   `detector.pipeline.process_video` as in-process, writing to the shared case store (the store URL
   is passed to the workers: a SQLite file on one machine, PostgreSQL on a cluster; evidence in a
   folder all workers see, or S3).

Stage 3 of a video waits for stage 3 of every earlier video (recording order) whose route comes
within `INTERACTION_MARGIN_M` of its own (`route_dependencies`): that is where the order can change
the outcome (a parked car needs its earlier pass recorded first; an event joins the nearest case),
so the cases are the same as the in-process run's. Videos of other streets run fully in parallel.

A video with nothing to wait for takes the one-pass path: `assemble_video` decodes it once and its
`process_video` sends batches to the actors as it goes (`ActorDetector`). A video that must wait
takes the two-stage path: `detect_video` (a Ray task) decodes it and runs inference right away, in
parallel with the videos it waits for; `assemble_video` then decodes it again and takes the
detections from there (`PrecomputedDetections`) instead of running the model.

Workers import this package: on a cluster every node needs the same StreetWatch install and sees
the video, GPS, model, taxonomy and zone paths at the same place (a shared or synced folder).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from typing import Any

import numpy as np
import ray

from detector.errors import InputError, ModelError, StreetWatchError
from detector.types import Detection
from serve.engines.common import (
    EngineResult,
    ProcessPlan,
    Stopwatch,
    VideoJob,
    check_jobs,
    process_job,
    route_dependencies,
)

_PASSED_ENV = ("AWS_", "STREETWATCH_", "YOLO_")


class PrecomputedDetections:
    """A 'detector' that answers with detections computed earlier (by the actor pool), by frame index."""

    identity = "precomputed"

    def __init__(self, by_frame: dict[int, list[Detection]]) -> None:
        self.by_frame = by_frame

    def detect_frames(self, frames: list[Any]) -> list[list[Detection]]:
        out = []
        for frame in frames:
            dets = self.by_frame.get(frame.index)
            if dets is None:
                raise ModelError(f"frame {frame.index} of {frame.source} was not sent to inference")
            out.append(dets)
        return out

    def detect_batch(self, images: Any) -> list[list[Detection]]:
        raise ModelError("precomputed detections are looked up by frame (detect_frames)")


class ActorDetector:
    """A detector whose batches run on the inference actors (round-robin), for the one-pass path."""

    identity = "ray-actors"

    def __init__(self, actors: list[Any], first_actor: int) -> None:
        self.actors = actors
        self.turn = first_actor

    def detect_batch(self, images: Any) -> list[list[Detection]]:
        actor = self.actors[self.turn % len(self.actors)]
        self.turn += 1
        return ray.get(actor.detect.remote(list(images)))


@ray.remote(num_cpus=1)
class InferenceWorker:
    """One onnxruntime session (one intra-op thread) serving batches of frames from any video."""

    def __init__(self, plan: ProcessPlan, cfg: Any, threads: int = 1) -> None:
        from serve.engines.inprocess import open_detector

        self.detector = open_detector(plan, cfg, threads=threads)
        self.frames = 0

    def ready(self) -> str:
        return f"{os.getpid()}: {self.detector!r}"

    def identity(self) -> str:
        """The detections' identity (detector.pipeline.cache) of the model this actor runs."""
        from detector.pipeline.cache import detector_identity

        return detector_identity(self.detector)

    def detect(self, images: list[np.ndarray]) -> list[list[Detection]]:
        self.frames += len(images)
        return self.detector.detect_batch(images)

    def cpu_seconds(self) -> float:
        """CPU time of this actor's process so far (model loading included)."""
        return time.process_time()


@ray.remote(num_cpus=0)
def detect_video(
    job: VideoJob, fps: float, batch: int, actors: list[Any], first_actor: int
) -> dict[str, Any]:
    """Decode and sample one video: {"detections": {frame index: detections}, "cpu": seconds}.

    At most one batch per actor is in flight from one video, so memory stays bounded while every
    actor has work queued.
    """
    from detector.sources import VideoFileSource

    cpu0 = time.process_time()
    out: dict[int, list[Detection]] = {}
    pending: deque[tuple[list[int], Any]] = deque()
    turn = first_actor

    def submit(frames: list[Any]) -> None:
        nonlocal turn
        actor = actors[turn % len(actors)]
        turn += 1
        pending.append(([f.index for f in frames], actor.detect.remote([f.image for f in frames])))

    def drain(keep: int) -> None:
        while len(pending) > keep:
            indexes, ref = pending.popleft()
            for index, dets in zip(indexes, ray.get(ref), strict=True):
                out[index] = dets

    frames: list[Any] = []
    with VideoFileSource(job.video, fps=fps) as source:
        for frame in source:
            frames.append(frame)
            if len(frames) >= batch:
                submit(frames)
                frames = []
                drain(len(actors))
    if frames:
        submit(frames)
    drain(0)
    return {"detections": out, "cpu": time.process_time() - cpu0}


@ray.remote(num_cpus=0)
def assemble_video(
    job: VideoJob,
    plan: ProcessPlan,
    cfg: Any,
    detected: dict[str, Any] | None,
    actors: list[Any],
    first_actor: int,
    *after: Any,
) -> dict[str, Any]:
    """Tracker → events → rules → cases for one video, into the shared store (after `after` finished).

    With `detected` (from `detect_video`) the video is decoded a second time and the model is not
    run; without, this is the one-pass path: decode once, batches to the actors as they come.
    The result carries the CPU seconds of this task and of its decode task (`cpu_tasks`).
    """
    cpu0 = time.process_time()
    from detector.zones import load_zones
    from serve.store import CaseStore

    detector: Any = (
        PrecomputedDetections(detected["detections"])
        if detected is not None
        else ActorDetector(actors, first_actor)
    )
    # the actors run the same model as an in-process run: the same identity, so that a video processed
    # either way is recognised as processed with the same detector (detector.pipeline.batch.claim_source)
    if actors:
        detector.detections_identity = ray.get(actors[first_actor % len(actors)].identity.remote())
    zones = load_zones(plan.zones) if plan.zones is not None else None
    store = CaseStore.open(plan.db_url, plan.evidence)
    try:
        summary = process_job(job, plan, store, detector, cfg, zones)
    finally:
        store.close()
    return {
        "video": str(job.video),
        **summary.to_dict(),
        "path": "one-pass" if detected is None else "two-stage",
        "cpu_tasks": {
            "decode_tasks": detected["cpu"] if detected is not None else 0.0,
            "assembly_tasks": time.process_time() - cpu0,
        },
    }


def _unwrap(exc: Exception) -> Exception:
    """A StreetWatchError raised in a worker comes back as itself (one-line CLI message)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, StreetWatchError) else exc


class RayEngine:
    """Run a ProcessPlan on Ray: `address` of a running cluster ("auto", "ray://host:10001", "host:6379"),
    else the instance this process already started, else a fresh local one (`num_cpus`, default all)."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        num_cpus: int | None = None,
        actor_threads: int = 1,
        one_pass: bool = True,
    ) -> None:
        if workers is not None and workers < 1:
            raise InputError(f"--workers must be at least 1, not {workers}")
        self.address = address
        self.workers = workers
        self.num_cpus = num_cpus
        self.actor_threads = actor_threads
        self.one_pass = one_pass  # False: always decode+detect first, assemble after (tests, studies)

    def _connect(self) -> bool:
        """Join or start Ray; True when this call started it (and must shut it down)."""
        if ray.is_initialized():
            return False
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        # Workers need the same credentials and settings as this process (S3 keys for the evidence,
        # STREETWATCH_* paths): passed through Ray's runtime environment.
        passed = {k: v for k, v in os.environ.items() if k.startswith(_PASSED_ENV)}
        if passed:
            kwargs["runtime_env"] = {"env_vars": passed}
        if self.address:
            kwargs["address"] = self.address
        else:
            kwargs["num_cpus"] = self.num_cpus or os.cpu_count() or 1
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = self.address or "a local instance"
            raise InputError(f"cannot start Ray on {where}: {str(exc).splitlines()[0]}") from None
        return True

    def run(self, plan: ProcessPlan, progress: Any = None) -> EngineResult:
        from serve.engines.inprocess import open_detector

        clock = Stopwatch()
        cpu0 = time.process_time()
        cfg = plan.pipeline
        checked = check_jobs(plan)  # every input read before anything is written
        open_detector(plan, cfg, threads=1)  # a bad model fails here, with its one-line error
        deps = route_dependencies(checked)
        total = sum(c.frames_hint or 0 for c in checked) or None
        started = self._connect()
        actors: list[Any] = []
        try:
            cpus = int(ray.cluster_resources().get("CPU", 1))
            # Default: two cores in three run inference, the rest decode and assemble (docs/scaling.md).
            workers = self.workers or max(1, cpus - cpus // 3)
            if workers > cpus:
                raise InputError(
                    f"--workers {workers} needs {workers} CPUs but the Ray cluster has {cpus} (one per actor)"
                )
            actors = [InferenceWorker.remote(plan, cfg, self.actor_threads) for _ in range(workers)]
            try:
                ray.get([a.ready.remote() for a in actors])
            except ray.exceptions.RayActorError as exc:
                lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
                cause = lines[-1] if lines else type(exc).__name__  # the error raised in the actor
                raise ModelError(f"inference workers failed to start: {cause}") from None
            result = EngineResult(self.name, workers, startup_seconds=clock.seconds)
            result.videos = self._schedule(plan, cfg, checked, deps, actors, progress, total)
            with contextlib.suppress(ray.exceptions.RayError):
                result.cpu_seconds["inference_actors"] = sum(
                    ray.get([a.cpu_seconds.remote() for a in actors])
                )
            result.cpu_seconds["driver"] = time.process_time() - cpu0
            for video in result.videos:
                for part, seconds in video.pop("cpu_tasks", {}).items():
                    result.cpu_seconds[part] = result.cpu_seconds.get(part, 0.0) + seconds
        except ray.exceptions.RayTaskError as exc:
            raise _unwrap(exc) from None
        finally:
            for actor in actors:
                ray.kill(actor)
            if started:
                ray.shutdown()
        result.wall_seconds = clock.seconds
        return result

    def _schedule(self, plan, cfg, checked, deps, actors, progress, total) -> list[dict[str, Any]]:
        """Submit per video: decode+detect, then assemble after its route's predecessors; keep a window
        of open videos so decoded frames and worker processes stay bounded."""
        fps = plan.fps or cfg.sample_fps
        batch = max(1, cfg.detector.batch)
        window = len(actors) + 1
        assembled: list[Any] = []
        results: list[dict[str, Any] | None] = [None] * len(checked)
        open_refs: dict[Any, int] = {}
        done_frames = 0

        def collect(block: bool) -> None:
            nonlocal done_frames
            while open_refs and (block or len(open_refs) >= window):
                ready, _ = ray.wait(list(open_refs), num_returns=1)
                index = open_refs.pop(ready[0])
                results[index] = ray.get(ready[0])
                done_frames += int(results[index]["frames"])  # type: ignore[index]
                if progress is not None:
                    progress(done_frames, total)

        for j, item in enumerate(checked):
            collect(block=False)
            after = [assembled[i] for i in deps[j]]
            unfinished = after and len(ray.wait(after, num_returns=len(after), timeout=0)[0]) < len(after)
            if unfinished or not self.one_pass:
                # Decode + inference now, in parallel with the videos it must wait for; only the
                # (cheap) assembly waits.
                detections = detect_video.options(scheduling_strategy="SPREAD").remote(
                    item.job, fps, batch, actors, j
                )
            else:
                detections = None  # nothing to wait for: one pass, the video is decoded once
            ref = assemble_video.options(scheduling_strategy="SPREAD").remote(
                item.job, plan, cfg, detections, actors, j, *after
            )
            assembled.append(ref)
            open_refs[ref] = j
        collect(block=True)
        return [r for r in results if r is not None]
