"""The in-process engine: one detector, one store connection, the videos one after the other."""

from __future__ import annotations

import time
from typing import Any

from serve.engines.common import EngineResult, ProcessPlan, Stopwatch, check_jobs, process_job


def open_detector(plan: ProcessPlan, cfg: Any, threads: int | None = None):
    """The plan's ONNX detector (the same construction as the single-video `streetwatch process`)."""
    from detector.pipeline import build_detector, footage_detector

    threads = threads if threads is not None else plan.threads
    detector = build_detector(cfg, plan.model, conf=plan.conf, threads=threads)
    return footage_detector(detector, cfg)


class InProcessEngine:
    name = "inprocess"

    def run(self, plan: ProcessPlan, progress: Any = None) -> EngineResult:
        from detector.zones import load_zones
        from serve.store import CaseStore

        clock = Stopwatch()
        cpu0 = time.process_time()
        cfg = plan.pipeline
        checked = check_jobs(plan)  # every input read before the store is touched
        total = sum(c.frames_hint or 0 for c in checked) or None
        zones = load_zones(plan.zones) if plan.zones is not None else None
        detector = open_detector(plan, cfg)
        result = EngineResult(self.name, 1)
        store = CaseStore.open(plan.db_url, plan.evidence)
        result.startup_seconds = clock.seconds
        done = 0
        try:
            for item in checked:
                job = item.job

                def step(frames: int, _total: int | None, _base: int = done) -> None:
                    if progress is not None:
                        progress(_base + frames, total)

                summary = process_job(job, plan, store, detector, cfg, zones, progress=step)
                done += summary.frames
                result.videos.append({"video": str(job.video), **summary.to_dict()})
        finally:
            store.close()
        result.wall_seconds = clock.seconds
        result.cpu_seconds = {"process": time.process_time() - cpu0}
        return result
