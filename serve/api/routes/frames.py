"""POST /v1/frames: one live frame (JPEG/PNG) with its metadata; idempotent on (vehicle_id, frame_id)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import BaseModel, Field

from serve.api.auth import check_vehicle, require_vehicle
from serve.api.inference import Overloaded
from serve.api.limits import ApiError, check_content_type, parse_metadata
from serve.store.types import Principal

router = APIRouter(tags=["live"])


class DetectionOut(BaseModel):
    box: list[float] = Field(description="x1, y1, x2, y2 in image pixels.")
    score: float
    class_id: int
    class_name: str


class CaseTouched(BaseModel):
    case_id: int
    created: bool = Field(description="The frame opened this case.")
    observation_added: bool = Field(description="A new observation was attached.")
    status: str
    class_name: str
    matter_code: str
    lat: float
    lon: float


class FrameResult(BaseModel):
    vehicle_id: str
    frame_id: str
    duplicate: bool = Field(description="True when this (vehicle_id, frame_id) was already processed.")
    width: int
    height: int
    detections: list[DetectionOut]
    cases: list[CaseTouched] = Field(description="Cases opened or updated by this frame.")
    pipeline_ms: float | None = None
    latency_ms: float | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Corrupt or truncated image."},
    401: {"description": "No or invalid API key."},
    403: {"description": "Not a vehicle key, or the key belongs to another vehicle."},
    413: {"description": "Upload or image dimensions too large."},
    415: {"description": "Not a JPEG or PNG."},
    422: {"description": "Malformed metadata; `detail` names the field."},
    429: {"description": "Rate limit of the key exceeded; see Retry-After."},
    503: {"description": "Detector queue full (overload) or model not loaded; see Retry-After."},
}


def live_service(request: Request):
    state = request.app.state.sw
    if state.live is None:
        raise ApiError(
            503, f"model not loaded: {state.model_error or 'unknown error'}", {"Retry-After": "30"}
        )
    return state.live


@router.post("/v1/frames", response_model=FrameResult, responses=ERRORS, summary="Send one live frame")
async def post_frame(
    request: Request,
    image: UploadFile = File(description="The frame, image/jpeg or image/png."),
    metadata: str = Form(
        description='JSON: {"vehicle_id", "frame_id", "captured_at" (ISO 8601 with zone), '
        '"lat", "lon", "heading"}'
    ),
    principal: Principal = Depends(require_vehicle),
) -> dict:
    started = time.monotonic()
    state = request.app.state.sw
    limits = state.settings.limits
    metrics = state.metrics
    try:
        meta = parse_metadata(metadata, limits)
        check_vehicle(principal, meta.vehicle_id)
        live = live_service(request)
        fmt = check_content_type(image.content_type)
        if image.size is not None and image.size > limits.max_upload_bytes:
            raise ApiError(
                413, f"image: {image.size} bytes is larger than the limit of {limits.max_upload_bytes} bytes"
            )
        data = await image.read(limits.max_upload_bytes + 1)
        # a retry is answered from the store: no decoding, no detection, no new observation
        answer = await live.process_upload(data, fmt, limits, meta)
    except ApiError as exc:
        metrics.frames.labels("http", f"refused_{exc.status}").inc()
        raise
    except Overloaded:
        metrics.frames.labels("http", "refused_503").inc()
        raise
    except Exception:
        metrics.frames.labels("http", "error").inc()
        raise
    elapsed = time.monotonic() - started
    duplicate = bool(answer.get("duplicate"))
    metrics.frames.labels("http", "duplicate" if duplicate else "processed").inc()
    if not duplicate:
        metrics.frame_latency.labels("http").observe(elapsed)
    return {**answer, "latency_ms": round(elapsed * 1000, 2)}
