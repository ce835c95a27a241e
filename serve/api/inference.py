"""Micro-batching: frames from many vehicles share one detector call, off the event loop.

A bounded queue feeds worker threads. Each worker takes the first waiting frame, then waits at most
`max_wait_ms` for more, up to `max_batch`, and runs `Detector.detect_batch` on them (ONNX Runtime
releases the GIL, so the event loop keeps serving). When the queue is full, `submit` refuses at once
(`Overloaded`): HTTP answers 503 + Retry-After, the stream answers slow_down. Memory is bounded by
`queue_depth` frames.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

log = logging.getLogger("streetwatch.inference")


class BatchDetector(Protocol):
    def detect_batch(self, images: list[np.ndarray]) -> list[list[Any]]: ...


class Overloaded(Exception):
    """The detector queue is full; retry after `retry_after` seconds."""

    def __init__(self, retry_after: float, max_fps: float) -> None:
        super().__init__(f"detector queue full; retry in {retry_after:.1f} s")
        self.retry_after = retry_after
        self.max_fps = max_fps

    @classmethod
    def stopping(cls) -> Overloaded:
        """The refusal of a frame the service can no longer take because it is shutting down."""
        return cls(5.0, 0.0)


@dataclass
class _Item:
    image: np.ndarray
    future: Future


class MicroBatcher:
    """Bounded queue + worker threads running `detector.detect_batch` on groups of frames."""

    def __init__(
        self,
        detector: BatchDetector,
        max_batch: int = 8,
        max_wait_ms: float = 10.0,
        queue_depth: int = 64,
        workers: int = 1,
        max_queue_wait_s: float | None = None,
    ) -> None:
        self.detector = detector
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.queue_depth = queue_depth
        self.max_queue_wait = max_queue_wait_s
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=queue_depth)
        self._threads = [
            threading.Thread(target=self._run, name=f"detector-{i}", daemon=True) for i in range(workers)
        ]
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._done: collections.deque[tuple[float, int]] = collections.deque(maxlen=64)  # (seconds, frames)
        self.on_batch: Callable[[int, float], None] | None = None  # (frames, seconds) after each call

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self, warm_up: tuple[int, int] | None = (720, 1280)) -> MicroBatcher:
        """Start the workers. `warm_up` (h, w): first run one full batch of blank frames of that size, so
        ONNX Runtime's first-call cost is paid now and the capacity estimate (hence admission and
        Retry-After) is known before the first vehicle arrives."""
        if warm_up is not None:
            blank = np.full((*warm_up, 3), 114, np.uint8)
            started = time.monotonic()
            self.detector.detect_batch([blank] * self.max_batch)
            with self._lock:  # a first call is slower than the rest: a cautious first estimate
                self._done.append((time.monotonic() - started, self.max_batch))
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the workers; frames still waiting are refused (their callers get Overloaded)."""
        self._stopped.set()
        for thread in self._threads:
            thread.join(timeout)
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None and item.future.set_running_or_notify_cancel():
                item.future.set_exception(Overloaded.stopping())

    # -- submitting ------------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def check_admission(self) -> None:
        """Raise Overloaded when a new frame would be refused: the queue is full, or the frames already
        waiting would keep it longer than `max_queue_wait_s` at the measured rate (bounded latency)."""
        if self._stopped.is_set():
            raise Overloaded.stopping()
        depth = self.depth
        if depth >= self.queue_depth:
            raise Overloaded(self.retry_after(), self.rate())
        if self.max_queue_wait is not None and depth >= self.max_batch:
            rate = self.rate()
            if rate > 0 and (depth + 1) / rate > self.max_queue_wait:
                raise Overloaded(self.retry_after(), rate)

    def submit(self, image: np.ndarray) -> Future:
        """Queue one frame; raises Overloaded at once when it would be refused (see check_admission)."""
        self.check_admission()
        future: Future = Future()
        try:
            self._queue.put_nowait(_Item(image, future))
        except queue.Full:
            raise Overloaded(self.retry_after(), self.rate()) from None
        return future

    # -- measurements ----------------------------------------------------------------------------
    def rate(self) -> float:
        """Frames per second the detector can take now: frames / seconds inside its last 32 batch calls
        (its capacity while serving, robust to idle gaps; 0 before the first batch)."""
        with self._lock:
            recent = list(self._done)[-32:]
        busy = sum(seconds for seconds, _ in recent)
        return len(self._threads) * sum(n for _, n in recent) / busy if busy > 0 else 0.0

    def retry_after(self) -> float:
        """Seconds until the frames waiting now are through (at least 1 s: what a refused client waits)."""
        rate = self.rate()
        return max(1.0, self.depth / rate) if rate > 0 else 1.0

    # -- the worker ------------------------------------------------------------------------------
    def _take_batch(self) -> list[_Item] | None:
        first = None
        while first is None:
            if self._stopped.is_set():
                return None
            try:
                first = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
        batch = [first]
        deadline = time.monotonic() + self.max_wait
        while len(batch) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get_nowait() if remaining <= 0 else self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if item is None:  # stop marker: finish this batch, the loop above then returns
                break
            batch.append(item)
        return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            live = [item for item in batch if item.future.set_running_or_notify_cancel()]
            if not live:
                continue
            start = time.monotonic()
            try:
                results = self.detector.detect_batch([item.image for item in live])
            except Exception as exc:  # noqa: BLE001 - the error belongs to the callers
                log.exception("detector batch of %d failed", len(live))
                for item in live:
                    item.future.set_exception(exc)
                continue
            elapsed = time.monotonic() - start
            with self._lock:
                self._done.append((elapsed, len(live)))
            if self.on_batch is not None:
                self.on_batch(len(live), elapsed)
            for item, detections in zip(live, results, strict=True):
                item.future.set_result(detections)


def overload_answer(exc: Overloaded, vehicles: int = 1) -> tuple[dict[str, Any], dict[str, str]]:
    """The 503 body and headers for a refused frame: when to retry, and the rate a vehicle may send at
    (`max_fps`: the detector's measured capacity shared among the vehicles sending now)."""
    retry = max(1, math.ceil(exc.retry_after))
    body = {
        "detail": f"detector busy; retry in {retry} s",
        "retry_after_s": round(exc.retry_after, 3),
        "max_fps": round(exc.max_fps / max(1, vehicles), 2),
        "detector_fps": round(exc.max_fps, 2),
    }
    return body, {"Retry-After": str(retry)}


class AdmissionMiddleware:
    """Refuses live frames with 503 + Retry-After *before* their body is read when the detector is
    saturated: under overload a refused frame then costs the service almost nothing."""

    def __init__(
        self,
        app: Any,
        get_batcher: Callable[[], MicroBatcher | None],
        active_vehicles: Callable[[], int] = lambda: 1,
        path: str = "/v1/frames",
        on_refuse: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.get_batcher = get_batcher
        self.active_vehicles = active_vehicles
        self.path = path
        self.on_refuse = on_refuse

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        batcher = self.get_batcher() if scope["type"] == "http" and scope["path"] == self.path else None
        if batcher is not None and scope.get("method") == "POST":
            try:
                batcher.check_admission()
            except Overloaded as exc:
                if self.on_refuse is not None:
                    self.on_refuse()
                body, headers = overload_answer(exc, self.active_vehicles())
                raw_headers = [(b"content-type", b"application/json")]
                raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
                await send({"type": "http.response.start", "status": 503, "headers": raw_headers})
                await send({"type": "http.response.body", "body": json.dumps(body).encode()})
                return
        await self.app(scope, receive, send)
