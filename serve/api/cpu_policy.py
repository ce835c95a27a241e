"""The threads that decode, track and store run under Linux's SCHED_BATCH, so they never preempt the model.

On two cores the detector threads share the CPU with the live path's own threads (decode, pipeline;
serve.api.live) and the footage job threads. Under the normal policy a thread woken by an upload or a
finished detector call preempts a running detector thread at once, and the model's working set
leaves the core's caches many times a second: inside the service the model spent 44-46 ms of CPU a
frame against 42-43 alone (docs/api.md, "Session 13"). SCHED_BATCH is the same fair share at the same
nice level, minus that wake-up preemption: a batch thread waits for the running thread's time slice
to end. Measured in 7 alternating pairs of saturated WebSocket runs, it served more frames in 5
(median of the pairs: +0.08 served/standalone). The event loop keeps the normal policy (it answers
the network), and so do the detector threads and the request worker pool that runs the inspectors'
API calls. The live threads are put under SCHED_BATCH by their pools' initializer, once each.

Linux only; elsewhere, or where the kernel refuses, the thread keeps its policy. Turned off with the
setting `yield_cpu_to_detector: false`.
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger("streetwatch.cpu_policy")

_marked = threading.local()


def yield_to_detector() -> None:
    """Put the calling thread under SCHED_BATCH (once per thread; a no-op where not supported)."""
    if getattr(_marked, "done", False):
        return
    _marked.done = True
    policy = getattr(os, "SCHED_BATCH", None)
    if policy is None or not hasattr(os, "sched_setscheduler"):
        return
    try:
        os.sched_setscheduler(0, policy, os.sched_param(0))  # 0: the calling thread
    except OSError as exc:
        log.debug("SCHED_BATCH refused for thread %s: %s", threading.current_thread().name, exc)

