"""POST /v1/frames: one live frame (JPEG/PNG) with its metadata; idempotent on (vehicle_id, frame_id).

Two bodies, one answer: a multipart form (`image` + `metadata` fields; the FastAPI route below) or
the image itself (`Content-Type: image/jpeg` or `image/png`, the metadata JSON in the
`X-Frame-Metadata` header). The image body is answered by `RawFrameUpload`, an ASGI middleware that
takes it before the framework: no routing, dependency solving, multipart parsing or response
validation, which were half the CPU the service spent per frame outside the detector (docs/api.md,
"Load test"). Both go through `ingest`: the same checks, errors, metrics and answer.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import BaseModel, Field
from starlette.datastructures import Headers

from serve.api.auth import api_key_caller, check_role, check_vehicle, frame_sender
from serve.api.inference import Overloaded, overload_answer
from serve.api.limits import (
    ALLOWED_IMAGE_TYPES,
    ApiError,
    BodyTooLarge,
    FrameMetadata,
    check_content_type,
    parse_metadata,
)
from serve.store.types import Principal, Role

log = logging.getLogger("streetwatch.frames")
FRAMES_PATH = "/v1/frames"
METADATA_HEADER = "x-frame-metadata"

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


IMAGE_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "content": {
            kind: {
                "schema": {"type": "string", "format": "binary"},
                "example": "(the JPEG bytes; metadata JSON in the X-Frame-Metadata header)",
            }
            for kind in ("image/jpeg", "image/png")
        }
    },
    "parameters": [
        {
            "name": "X-Frame-Metadata",
            "in": "header",
            "required": False,
            "description": "With an image/jpeg or image/png body (instead of the multipart form): the "
            'metadata JSON, {"vehicle_id", "frame_id", "captured_at", "lat", "lon", "heading"}.',
            "schema": {"type": "string"},
        }
    ],
}


async def ingest(
    state: Any,
    transport: str,
    prepare: Callable[[], Awaitable[tuple[FrameMetadata, str]]],
    read: Callable[[], Awaitable[bytes]],
) -> dict:
    """The answer for one live frame: `prepare` checks the sender and returns the frame's metadata and
    image format, then the body is read (`read`, at most the upload limit), decoded, detected and
    tracked, or answered from the store for a retry. Counts the outcome in the metrics (the one place
    that does); raises ApiError / Overloaded for the caller to answer."""
    started = time.monotonic()
    limits = state.settings.limits
    metrics = state.metrics
    try:
        meta, fmt = await prepare()
        if state.live is None:
            raise ApiError(
                503, f"model not loaded: {state.model_error or 'unknown error'}", {"Retry-After": "30"}
            )
        data = await read()
        # a retry is answered from the store: no decoding, no detection, no new observation
        answer = await state.live.process_upload(data, fmt, limits, meta)
    except ApiError as exc:
        metrics.frames.labels(transport, f"refused_{exc.status}").inc()
        raise
    except Overloaded:
        metrics.frames.labels(transport, "refused_503").inc()
        raise
    except Exception:
        metrics.frames.labels(transport, "error").inc()
        raise
    elapsed = time.monotonic() - started
    duplicate = bool(answer.get("duplicate"))
    metrics.frames.labels(transport, "duplicate" if duplicate else "processed").inc()
    if not duplicate:
        metrics.frame_latency.labels(transport).observe(elapsed)
    return {**answer, "latency_ms": round(elapsed * 1000, 2)}


@router.post(
    FRAMES_PATH,
    response_model=FrameResult,
    responses=ERRORS,
    summary="Send one live frame",
    description="The body is either a multipart form (`image`, `metadata`) or the image itself "
    "(`Content-Type: image/jpeg` or `image/png`) with the metadata JSON in the `X-Frame-Metadata` "
    "header: the leaner of the two for vehicle uploaders.",
    openapi_extra=IMAGE_BODY_DOC,
)
async def post_frame(
    request: Request,
    image: UploadFile = File(description="The frame, image/jpeg or image/png."),
    metadata: str = Form(
        description='JSON: {"vehicle_id", "frame_id", "captured_at" (ISO 8601 with zone), '
        '"lat", "lon", "heading"}'
    ),
    principal: Principal = Depends(frame_sender),
) -> dict:
    state = request.app.state.sw
    limits = state.settings.limits

    async def read() -> bytes:
        if image.size is not None and image.size > limits.max_upload_bytes:
            raise ApiError(
                413, f"image: {image.size} bytes is larger than the limit of {limits.max_upload_bytes} bytes"
            )
        return await image.read(limits.max_upload_bytes + 1)

    async def prepare() -> tuple[FrameMetadata, str]:
        meta = parse_metadata(metadata, limits)
        check_vehicle(principal, meta.vehicle_id)
        return meta, check_content_type(image.content_type)

    return await ingest(state, "http", prepare, read)


class RawFrameUpload:
    """ASGI middleware answering `POST /v1/frames` with an image body (see the module docstring); every
    other request goes on to the app. Same checks and answers as the multipart route: API key of a
    vehicle (or admin), the key's rate, metadata, upload size and image checks, 503 when overloaded."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != FRAMES_PATH or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "multipart/form-data":
            await self.app(scope, receive, send)  # the form: the FastAPI route
            return
        state = scope["app"].state.sw
        extra_headers: dict[str, str] = {}
        try:
            status, body = 200, await self._answer(state, headers, kind, receive)
        except ApiError as exc:
            status, body, extra_headers = exc.status, {"detail": exc.message, **exc.extra}, exc.headers
        except Overloaded as exc:
            body, extra_headers = overload_answer(exc, state.active_vehicle_count())
            status = 503
        except BodyTooLarge as exc:
            status, body, extra_headers = 413, {"detail": str(exc)}, {"Connection": "close"}
        except Exception:  # noqa: BLE001 - answered like any unhandled error, and logged
            log.exception("frame upload failed")
            status, body = 500, {"detail": "internal error"}
        raw_headers = [(b"content-type", b"application/json")]
        raw_headers += [(k.lower().encode(), v.encode()) for k, v in extra_headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})

    @staticmethod
    async def _answer(state: Any, headers: Headers, kind: str, receive: Any) -> dict:
        limits = state.settings.limits

        async def prepare() -> tuple[FrameMetadata, str]:
            principal = await api_key_caller(state, headers)
            check_role(principal, Role.vehicle)
            if kind not in ALLOWED_IMAGE_TYPES:
                raise ApiError(
                    415,
                    f"content type {kind or 'missing'!r} not supported: send the image as image/jpeg or "
                    "image/png (metadata JSON in the X-Frame-Metadata header), or a multipart/form-data form",
                )
            meta = parse_metadata(headers.get(METADATA_HEADER), limits)
            check_vehicle(principal, meta.vehicle_id)
            return meta, ALLOWED_IMAGE_TYPES[kind]

        async def read() -> bytes:
            chunks, size = [], 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ApiError(400, "image: the connection closed before the whole body arrived")
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limits.max_upload_bytes:
                    raise ApiError(413, f"image: more than the limit of {limits.max_upload_bytes} bytes")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)

        return await ingest(state, "http", prepare, read)
