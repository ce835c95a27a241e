"""Live frames (HTTP and WebSocket share this): idempotency, detection through the batcher, the live pipeline.

One frame's path: already answered for (vehicle_id, frame_id)? -> the stored answer (no new
observation, no decoding). Else the JPEG is decoded only as large as the model needs (a 416 model:
half of a 1280x720 frame; detector.decode) in the same call as that lookup, goes through the
micro-batcher (bounded; Overloaded when full), its boxes are scaled back to original pixels, then
the live pipeline (tracker/events state shared by every vehicle: one frame at a time), then the
answer is stored under (vehicle_id, frame_id) so a retry after a dropped connection gets the same
answer.

The stages hand a frame on to each other directly, not through the event loop: the loop gives the
upload to a decode thread, the decode thread queues the pixels for the detector, the detector's
finished batch queues each frame for the one pipeline thread, and only the answer goes back to the
loop. The request worker pool would cost the loop two more wake-ups a frame and the pipeline's
frames would queue on its lock from many threads at once (docs/api.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from detector.decode import DecodedImage
from detector.types import Detection, FrameMeta
from serve.api.inference import MicroBatcher, Overloaded
from serve.api.limits import FrameMetadata, decode_image
from serve.settings import Limits

log = logging.getLogger("streetwatch.live")


def _case_summary(result: Any) -> dict[str, Any]:
    """One IngestResult (or Case) as the frame answer lists it."""
    case = getattr(result, "case", result)
    return {
        "case_id": case.id,
        "created": bool(getattr(result, "created", False)),
        "observation_added": bool(getattr(result, "observation_added", True)),
        "status": str(case.status),
        "class_name": case.class_name,
        "matter_code": case.matter_code,
        "lat": case.lat,
        "lon": case.lon,
    }


class LiveService:
    """Processes live frames for every vehicle; safe to call from many requests at once."""

    PURGE_EVERY_S = 3600.0  # how often answers older than keep_answers_s are deleted

    def __init__(
        self,
        store: Any,
        batcher: MicroBatcher,
        pipeline: Any | None,
        idle_flush_s: float = 10.0,
        keep_answers_s: float | None = 48 * 3600.0,
        input_shape: tuple[int, int] | None = None,
    ) -> None:
        self.store = store
        self.input_shape = input_shape  # the model's (h, w): JPEGs are decoded no larger than it needs
        self.batcher = batcher
        self.pipeline = pipeline
        # The pipeline keeps per-vehicle tracker state and shared rule state: one frame at a time.
        # (It is the cheap part: tracking + an occasional evidence JPEG; the model runs batched.)
        self.pipeline_lock = threading.Lock()
        self._inflight: dict[tuple[str, str], asyncio.Future] = {}
        self.idle_flush_s = idle_flush_s
        self.keep_answers_s = keep_answers_s
        self._next_purge = time.monotonic()  # the first purge right after start-up
        self.last_arrival: dict[str, float] = {}  # vehicle -> monotonic time of its last processed frame
        # Lookup + decode: as many threads as cores (the decode releases the GIL; a PostgreSQL lookup
        # waits on the network). The pipeline: one thread, as the pipeline takes one frame at a time.
        self._decoders = ThreadPoolExecutor(
            max_workers=max(2, os.cpu_count() or 1), thread_name_prefix="live-decode"
        )
        self._pipeline_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-pipeline")
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_idle, name="live-flush", daemon=True)
        self._flusher.start()

    def _flush_idle(self) -> None:
        """End the tracks of vehicles that stopped sending, so their last violations become cases.

        Idle is measured by this server's clock (when frames arrived), not by the vehicles' capture
        times, so a vehicle with a skewed clock is not flushed while it is still sending."""
        while not self._stop.wait(min(2.0, self.idle_flush_s)):
            self._purge_old_answers()
            if self.pipeline is None:
                continue
            now = time.monotonic()
            idle = [vid for vid, at in list(self.last_arrival.items()) if now - at >= self.idle_flush_s]
            for vehicle_id in idle:
                try:
                    with self.pipeline_lock:
                        if now - self.last_arrival.get(vehicle_id, now) >= self.idle_flush_s:
                            self.pipeline.flush(vehicle_id=vehicle_id)
                            self.last_arrival.pop(vehicle_id, None)
                except Exception:  # noqa: BLE001 - keep flushing later
                    log.exception("idle flush of %s failed", vehicle_id)

    def _purge_old_answers(self) -> None:
        if self.keep_answers_s is None or time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + self.PURGE_EVERY_S
        try:
            purged = self.store.idempotency.purge_frame_answers(timedelta(seconds=self.keep_answers_s))
        except Exception:  # noqa: BLE001 - the store may be down for a moment; try again next time
            log.exception("purging old frame answers failed")
            return
        if purged:
            log.info("purged %d frame answers older than %.0f h", purged, self.keep_answers_s / 3600)

    def replace_pipeline(self, pipeline: Any) -> None:
        """Swap in a pipeline (new zone layers): current tracks are ended under the old one first."""
        with self.pipeline_lock:
            if self.pipeline is not None:
                self.pipeline.flush()
            self.pipeline = pipeline

    def close(self) -> None:
        """Finish the frames already decoding or waiting for the pipeline, then end every track. A frame
        the detector answers after this gets Overloaded (503 / slow_down: the vehicle resends it)."""
        self._stop.set()
        self._decoders.shutdown(wait=True)
        self._pipeline_thread.shutdown(wait=True)
        with self.pipeline_lock:
            if self.pipeline is not None:
                try:
                    self.pipeline.flush()
                except Exception:  # noqa: BLE001 - shutting down
                    log.exception("final flush failed")

    def known_answer(self, vehicle_id: str, frame_id: str) -> dict | None:
        return self.store.idempotency.get_frame_answer(vehicle_id, frame_id)

    async def process_upload(
        self, data: bytes, expected_format: str | None, limits: Limits, meta: FrameMetadata
    ) -> dict[str, Any]:
        """The answer for one uploaded JPEG/PNG: a frame already answered is not decoded again; a new
        one is decoded (only as large as the model needs) in the same worker-thread call as the lookup.
        Raises ApiError for a bad image, inference.Overloaded when the detector queue is full."""
        return await self._answer(
            meta, lambda: decode_image(data, expected_format, limits, self.input_shape)
        )

    async def _answer(self, meta: FrameMetadata, decode: Callable[[], DecodedImage]) -> dict[str, Any]:
        """Concurrent duplicates of the same (vehicle, frame) wait for the first one's answer; a frame
        answered before gets its stored answer."""
        key = (meta.vehicle_id, meta.frame_id)
        pending = self._inflight.get(key)
        if pending is not None:
            answer = await asyncio.shield(pending)
            return {**answer, "duplicate": True}
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            answer = await asyncio.wrap_future(self.answer_later(key, meta, decode))
            future.set_result(answer)
            return answer
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: nobody may be waiting
            raise
        finally:
            self._inflight.pop(key, None)

    def answer_later(
        self, key: tuple[str, str], meta: FrameMetadata, decode: Callable[[], DecodedImage]
    ) -> Future:
        """Start one frame down the live path; the future gets its answer (or the ApiError, Overloaded
        or failure that ended it). Once started, a frame goes all the way even if its caller stops
        waiting (a dropped connection): its answer is stored for the vehicle's resend."""
        answer: Future = Future()
        answer.set_running_or_notify_cancel()  # not cancellable: the frame is processed regardless

        def first_half() -> None:  # on a decode thread
            stored, decoded = self.known_or_decode(key, decode)
            if stored is not None:
                answer.set_result({**stored, "duplicate": True})
                return
            detected = self.batcher.submit(decoded.pixels)
            # runs on the detector thread: it only hands the frame on
            detected.add_done_callback(
                lambda done: self._hand_on(self._pipeline_thread, lambda: second_half(done, decoded), answer)
            )

        def second_half(detected: Future, decoded: DecodedImage) -> None:  # on the pipeline thread
            detections = [d.scaled(decoded.scale) for d in detected.result()]  # raises the model's error
            answer.set_result(self.after_detection(decoded, meta, detections))

        self._hand_on(self._decoders, first_half, answer)
        return answer

    @staticmethod
    def _hand_on(pool: ThreadPoolExecutor, work: Callable[[], None], answer: Future) -> None:
        """Run `work` on `pool`; whatever it raises, or a pool already shut down, ends `answer`."""

        def run() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - the error belongs to the caller
                answer.set_exception(exc)

        try:
            pool.submit(run)
        except RuntimeError:  # the pool is shut down: the service is stopping
            answer.set_exception(Overloaded.stopping())

    def known_or_decode(
        self, key: tuple[str, str], decode: Callable[[], DecodedImage]
    ) -> tuple[dict | None, DecodedImage | None]:
        """A frame's first half, before the model: its stored answer, else its pixels."""
        stored = self.known_answer(*key)
        return (stored, None) if stored is not None else (None, decode())

    def after_detection(self, image: DecodedImage, meta: FrameMetadata, detections: list[Detection]) -> dict:
        """A frame's second half, after the model: the live pipeline, then its answer stored for a retry."""
        frame_meta = FrameMeta(
            vehicle_id=meta.vehicle_id,
            frame_id=meta.frame_id,
            captured_at=meta.captured_at,
            lat=meta.lat,
            lon=meta.lon,
            heading=meta.heading,
        )
        started = time.monotonic()
        cases: list[dict[str, Any]] = []
        with self.pipeline_lock:
            if self.pipeline is not None:
                detections = self.pipeline.screen(detections)
                self.last_arrival[meta.vehicle_id] = time.monotonic()
                results = self.pipeline.process_detections(image, frame_meta, detections)
                cases = [_case_summary(r) for r in results or []]
        answer = {
            "vehicle_id": meta.vehicle_id,
            "frame_id": meta.frame_id,
            "duplicate": False,
            "width": image.width,
            "height": image.height,
            "detections": [d.to_dict() for d in detections],
            "cases": cases,
            "pipeline_ms": round((time.monotonic() - started) * 1000, 2),
        }
        stored = self.store.idempotency.save_frame_answer(meta.vehicle_id, meta.frame_id, answer)
        if stored is not answer:  # another process answered this frame first: its answer stands
            return {**stored, "duplicate": True}
        return answer
