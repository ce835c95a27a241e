"""The batch job runner: persisted jobs processed in background threads, resumed after a restart.

Each job runs `detector.pipeline.process_video` with a detections cache under
`<data_dir>/jobs/<job id>/detections.jsonl`. After a crash (even SIGKILL) the job is still
`running` in the store; on start-up the runner takes it again: frames in the cache skip the
model, everything after the detector is recomputed from the same detections, and the store refuses
event keys it already has, so the case list ends up the same as an uninterrupted run.

The model runs through the service's micro-batcher (`BatcherDetector`), so footage jobs share the
CPU with live vehicles instead of competing with them; job frames wait (they are never refused).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from detector.errors import StreetWatchError
from serve.api.inference import MicroBatcher, Overloaded
from serve.store.cases import DEFAULT_MERGE_DISTANCE_M
from serve.store.types import JobStatus

log = logging.getLogger("streetwatch.jobs")

PROGRESS_EVERY_S = 0.5
RENEW_SHARE = 0.2  # renew the job's lease when a fifth of it has passed


class JobCancelled(Exception):
    pass


class BatcherDetector:
    """A detector facade whose detect_batch goes through the shared micro-batcher (waiting when full)."""

    def __init__(self, batcher: MicroBatcher, detector: Any, stop: threading.Event) -> None:
        self._batcher = batcher
        self._detector = detector
        self._stop = stop

    def __getattr__(self, name: str) -> Any:  # path, conf, iou, names: the cache header uses them
        return getattr(self._detector, name)

    def detect_batch(self, images: list[Any]) -> list[list[Any]]:
        futures = []
        for image in images:
            while True:
                if self._stop.is_set():
                    raise JobCancelled("service stopping")
                try:
                    futures.append(self._batcher.submit(image))
                    break
                except Overloaded as exc:
                    time.sleep(min(max(exc.retry_after, 0.02), 0.5))
        return [future.result() for future in futures]


class _CountingSink:
    """The store as process_video's event sink, counting the distinct cases a job touched."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.case_ids: set[int] = set()
        self.observations = 0

    def __getattr__(self, name: str) -> Any:  # sightings_near, record_sighting, ...
        return getattr(self._store, name)

    def ingest_event(self, event: Any, merge_distance_m: float = DEFAULT_MERGE_DISTANCE_M) -> Any:
        result = self._store.ingest_event(event, merge_distance_m)
        case = getattr(result, "case", None)
        if case is not None:
            self.case_ids.add(int(case.id))
        if getattr(result, "observation_added", False):
            self.observations += 1
        return result


def instance_id(data_dir: Path) -> str:
    """This service instance's name in job claims: made once and kept in its data directory, so a
    restarted instance resumes its own interrupted jobs at once (others wait for their lease to end)."""
    path = data_dir / "instance-id"
    try:
        return path.read_text(encoding="utf-8").strip() or _new_instance_id(path)
    except FileNotFoundError:
        return _new_instance_id(path)


def _new_instance_id(path: Path) -> str:
    name = f"{socket.gethostname()[:40]}-{uuid.uuid4().hex[:12]}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(name + "\n", encoding="utf-8")
    return name


class JobRunner:
    """Background threads that take queued (and interrupted) jobs from the store, oldest first."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.store = state.store
        self.settings = state.settings
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._cancelled: set[str] = set()
        self._claimed: set[str] = set()
        self.owner = instance_id(Path(self.settings.data_dir))
        self.lease = timedelta(seconds=self.settings.job_lease_s)
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._loop, name=f"jobs-{i}", daemon=True)
            for i in range(self.settings.job_workers)
        ]

    def start(self) -> None:
        if self.state.batcher is None:
            log.warning("jobs wait: no model loaded")
            return
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    def cancel(self, job_id: str) -> None:
        with self._lock:
            self._cancelled.add(job_id)

    def job_dir(self, job_id: str) -> Path:
        return Path(self.settings.data_dir) / "jobs" / job_id

    def _next_job(self) -> tuple[Any, bool] | None:
        with self._lock:
            claimed = self.store.jobs.claim_job(self.owner, self.lease, exclude=sorted(self._claimed))
            if claimed is not None:
                self._claimed.add(claimed[0].id)
            return claimed

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._next_job()
            except Exception:  # noqa: BLE001 - store briefly unavailable
                log.exception("cannot list jobs")
                job = None
            if job is None:
                self._wake.wait(2.0)
                self._wake.clear()
                continue
            try:
                self._run(*job)
            finally:
                with self._lock:
                    self._claimed.discard(job[0].id)

    def _run(self, job: Any, resumed: bool) -> None:
        from detector.horizon_band import with_horizon_band
        from detector.pipeline import process_video
        from serve.settings import camera_mount, zone_layers

        store = self.store
        sink = _CountingSink(store)
        last_update = [0.0]
        last_renewal = [time.monotonic()]
        log.info("job %s %s: %s", job.id, "resuming" if resumed else "starting", job.source_path)

        def progress(done: int, total: int | None) -> None:
            if self._stop.is_set():
                raise JobCancelled("service stopping")
            if job.id in self._cancelled:
                raise JobCancelled("cancelled")
            now = time.monotonic()
            if now - last_renewal[0] >= RENEW_SHARE * self.lease.total_seconds():
                last_renewal[0] = now
                if not store.jobs.renew_job_lease(job.id, self.owner, self.lease):
                    raise JobCancelled("taken over")
            if now - last_update[0] >= PROGRESS_EVERY_S:
                last_update[0] = now
                store.jobs.update_job(
                    job.id,
                    frames_done=done,
                    frames_total=total,
                    cases_so_far=len(sink.case_ids),
                    observations_so_far=sink.observations,
                )

        config = self.settings.pipeline
        # whole frames through the shared micro-batcher; the horizon band (recorded footage only) on a
        # session of its own: its input shape is not the live frames'
        batched = BatcherDetector(self.state.batcher, self.state.detector, self._stop)
        detector = with_horizon_band(batched, config)
        try:
            if not job.gps_path:
                raise StreetWatchError("job has no GPS track: upload `gps` with the video")
            summary = process_video(
                job.source_path,
                job.gps_path,
                sink,
                detector,
                config=config,
                vehicle_id=job.vehicle_id or f"job-{job.id}",
                progress=progress,
                detections_cache=self.job_dir(job.id) / "detections.jsonl",
                camera=camera_mount(self.settings),
                zones=zone_layers(self.settings),
                fps=job.params.get("sample_fps"),
                reprocess=bool(job.params.get("reprocess", False)),
            )
        except JobCancelled as exc:
            if str(exc) == "cancelled":
                store.jobs.update_job(job.id, status=JobStatus.cancelled)
                self.state.metrics.jobs.labels("cancelled").inc()
            elif str(exc) == "taken over":
                log.warning("job %s: its lease ran out and another instance took it over", job.id)
            else:  # service stopping: the job stays `running`; this or another instance resumes it
                store.jobs.release_job(job.id, self.owner)
            return
        except StreetWatchError as exc:
            log.warning("job %s failed: %s", job.id, exc)
            store.jobs.update_job(job.id, status=JobStatus.failed, error=str(exc))
            self.state.metrics.jobs.labels("failed").inc()
            return
        except Exception as exc:  # noqa: BLE001 - recorded on the job, the runner keeps going
            log.exception("job %s crashed", job.id)
            store.jobs.update_job(job.id, status=JobStatus.failed, error=f"internal error: {str(exc)[:300]}")
            self.state.metrics.jobs.labels("failed").inc()
            return
        with self._lock:
            self._cancelled.discard(job.id)
        current = store.jobs.get_job(job.id)
        if current.status == JobStatus.cancelled:
            return
        store.jobs.update_job(
            job.id,
            status=JobStatus.done,
            frames_done=summary.frames,
            frames_total=summary.frames,
            cases_so_far=len(set(summary.case_ids)),
            observations_so_far=sink.observations,
            params={**job.params, "summary": summary.to_dict()},
        )
        self.state.metrics.jobs.labels("done").inc()
        log.info("job %s done: %s", job.id, summary.to_dict())
