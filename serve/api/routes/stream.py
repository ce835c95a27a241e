"""WebSocket `/v1/vehicles/{vehicle_id}/stream`: a vehicle's live frames, acknowledged one by one.

Protocol (docs/api.md): the client sends a text message with the frame's JSON metadata, then one
binary message with the JPEG/PNG bytes. The server answers each frame with exactly one text message:
- `{"type": "ack", "frame_id", "duplicate", "detections", "cases", "latency_ms"}` once processed;
- `{"type": "slow_down", "frame_id", "max_fps", "retry_after"}` when the stream's in-flight window or
  the detector queue is full: the frame was NOT queued, resend it later at no more than `max_fps`;
- `{"type": "error", "frame_id", "status", "detail"}` for a frame that can never succeed as sent
  (same status codes as POST /v1/frames).
Frames are processed concurrently (up to `limits.stream_queue_depth` per stream), so acks may
arrive out of order; the frame_id says which frame each answer belongs to. A vehicle resends
every frame it has no ack for after a reconnect; duplicates are answered from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from serve.api.auth import authenticate_websocket
from serve.api.inference import Overloaded
from serve.api.limits import ApiError, parse_metadata
from serve.store.types import Role

log = logging.getLogger("streetwatch.stream")
router = APIRouter(tags=["live"])


@router.websocket("/v1/vehicles/{vehicle_id}/stream")
async def vehicle_stream(websocket: WebSocket, vehicle_id: str) -> None:
    state = websocket.app.state.sw
    await websocket.accept()
    principal = authenticate_websocket(websocket)
    if principal is None:
        await websocket.send_json({"type": "error", "status": 401, "detail": "authentication required"})
        await websocket.close(code=4401)
        return
    if principal.role == Role.inspector or (
        principal.role == Role.vehicle and principal.vehicle_id != vehicle_id
    ):
        await websocket.send_json(
            {"type": "error", "status": 403, "detail": f"this key may not stream for vehicle {vehicle_id!r}"}
        )
        await websocket.close(code=4403)
        return
    if state.live is None:
        await websocket.send_json(
            {"type": "error", "status": 503, "detail": f"model not loaded: {state.model_error}"}
        )
        await websocket.close(code=1013)
        return

    limits = state.settings.limits
    metrics = state.metrics
    send_lock = asyncio.Lock()
    in_flight: set[asyncio.Task] = set()
    state.active_streams.add(vehicle_id)

    async def send(message: dict) -> None:
        async with send_lock:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await websocket.send_json(message)

    def fair_rate() -> float:
        """The frames per second this vehicle can expect: measured detector rate shared by the streams."""
        return round(state.batcher.rate() / state.active_vehicle_count(), 2)

    async def slow_down(frame_id: str, retry_after: float) -> None:
        metrics.frames.labels("ws", "refused_slow_down").inc()
        await send(
            {
                "type": "slow_down",
                "frame_id": frame_id,
                "max_fps": fair_rate(),
                "retry_after": round(max(retry_after, 0.1), 2),
            }
        )

    async def handle(meta, payload: bytes, received: float) -> None:
        try:
            answer = await state.live.process_upload(payload, None, limits, meta)
        except ApiError as exc:
            metrics.frames.labels("ws", f"refused_{exc.status}").inc()
            await send(
                {"type": "error", "frame_id": meta.frame_id, "status": exc.status, "detail": exc.message}
            )
            return
        except Overloaded as exc:
            await slow_down(meta.frame_id, exc.retry_after)
            return
        except Exception as exc:  # noqa: BLE001 - report, keep the stream alive
            log.exception("frame %s/%s failed", vehicle_id, meta.frame_id)
            metrics.frames.labels("ws", "error").inc()
            await send({"type": "error", "frame_id": meta.frame_id, "status": 500, "detail": str(exc)[:200]})
            return
        elapsed = time.monotonic() - received
        duplicate = bool(answer.get("duplicate"))
        metrics.frames.labels("ws", "duplicate" if duplicate else "processed").inc()
        if not duplicate:
            metrics.frame_latency.labels("ws").observe(elapsed)
        await send(
            {
                "type": "ack",
                "frame_id": meta.frame_id,
                "duplicate": duplicate,
                "detections": answer.get("detections", []),
                "cases": answer.get("cases", []),
                "latency_ms": round(elapsed * 1000, 2),
            }
        )

    pending_meta = None
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            received = time.monotonic()
            text, data = message.get("text"), message.get("bytes")
            if text is not None:
                raw = None
                try:
                    raw = json.loads(text)
                    if isinstance(raw, dict) and "vehicle_id" not in raw:
                        raw["vehicle_id"] = vehicle_id
                    pending_meta = parse_metadata(json.dumps(raw) if isinstance(raw, dict) else text, limits)
                except ApiError as exc:
                    pending_meta = None
                    frame_id = raw.get("frame_id") if isinstance(raw, dict) else None
                    await send(
                        {"type": "error", "frame_id": frame_id, "status": exc.status, "detail": exc.message}
                    )
                    continue
                except ValueError as exc:
                    pending_meta = None
                    await send(
                        {"type": "error", "frame_id": None, "status": 422, "detail": f"metadata: {exc}"}
                    )
                    continue
                if pending_meta.vehicle_id != vehicle_id:
                    await send(
                        {
                            "type": "error",
                            "frame_id": pending_meta.frame_id,
                            "status": 403,
                            "detail": f"metadata.vehicle_id {pending_meta.vehicle_id!r} is not this stream's",
                        }
                    )
                    pending_meta = None
                continue
            if data is None:
                continue
            if pending_meta is None:
                await send(
                    {
                        "type": "error",
                        "frame_id": None,
                        "status": 422,
                        "detail": "binary frame without a metadata message before it",
                    }
                )
                continue
            meta, pending_meta = pending_meta, None
            if len(data) > limits.max_upload_bytes:
                metrics.frames.labels("ws", "refused_413").inc()
                await send(
                    {
                        "type": "error",
                        "frame_id": meta.frame_id,
                        "status": 413,
                        "detail": f"image: larger than {limits.max_upload_bytes} bytes",
                    }
                )
                continue
            wait = state.rate_limiter.acquire(principal.id)
            if wait > 0:
                await slow_down(meta.frame_id, wait)
                continue
            if len(in_flight) >= limits.stream_queue_depth:
                await slow_down(meta.frame_id, state.batcher.retry_after())
                continue
            task = asyncio.create_task(handle(meta, data, received))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
    except WebSocketDisconnect:
        pass
    finally:
        state.active_streams.discard(vehicle_id)
        if in_flight:  # frames already accepted are finished (their results are stored for the retry)
            await asyncio.gather(*in_flight, return_exceptions=True)
