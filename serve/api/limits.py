"""Request limits with clear errors: image size/type/dimensions, metadata, and a per-key rate limit.

Every check raises `ApiError` with the HTTP status a client can act on:
413 too large, 415 wrong content type, 422 malformed metadata (naming the field) or image too small,
400 corrupt image, 429 over the key's rate (with Retry-After).

Why a hand-written token bucket and not a library (slowapi/limits): the same bucket must guard
HTTP requests *and* individual WebSocket messages, per API key, in-process; slowapi only decorates
HTTP routes, and `limits` would add a storage abstraction for 30 lines of arithmetic under a lock.
"""

from __future__ import annotations

import json
import math
import threading
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from detector.decode import DecodedImage, decode_for_detection, read_header
from serve.settings import Limits

ALLOWED_IMAGE_TYPES = {"image/jpeg": "JPEG", "image/jpg": "JPEG", "image/png": "PNG"}


class ApiError(Exception):
    """An error the API returns as `{"detail": message}` with `status` (and optional headers)."""

    def __init__(
        self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra


class FrameMetadata(BaseModel):
    """The JSON metadata sent with every live frame."""

    vehicle_id: str = Field(min_length=1, max_length=64, description="Patrol vehicle id (as in its API key).")
    frame_id: str = Field(
        min_length=1,
        max_length=128,
        description="Frame id, unique per vehicle; retries reuse it (idempotency).",
    )
    captured_at: datetime = Field(description="Capture time, ISO 8601 with a time zone.")
    lat: float | None = Field(default=None, ge=-90, le=90, description="Latitude (WGS84) of the vehicle.")
    lon: float | None = Field(default=None, ge=-180, le=180, description="Longitude (WGS84) of the vehicle.")
    heading: float | None = Field(
        default=None, ge=0, lt=360, description="Direction of travel, degrees clockwise from north."
    )

    @field_validator("captured_at")
    @classmethod
    def _needs_zone(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("needs a time zone (e.g. 2026-11-21T08:00:00+08:00)")
        return value

    @field_validator("lat", "lon", "heading")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


def parse_metadata(raw: str | bytes | None, limits: Limits) -> FrameMetadata:
    """Parse and validate the metadata JSON; 422 names the first bad field."""
    if raw is None or (isinstance(raw, str | bytes) and len(raw) == 0):
        raise ApiError(
            422, "metadata: field required (JSON with vehicle_id, frame_id, captured_at, lat, lon)"
        )
    if len(raw) > limits.max_metadata_bytes:
        raise ApiError(413, f"metadata: larger than {limits.max_metadata_bytes} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, f"metadata: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ApiError(422, "metadata: must be a JSON object")
    try:
        return FrameMetadata.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "metadata"
        raise ApiError(422, f"metadata.{field}: {err['msg']}", field=field) from None


def check_query_time(name: str, value: datetime | None, status: int = 422) -> datetime | None:
    """A time filter from a query string, in UTC: it must name its time zone and lie within the years
    a datetime holds once in UTC (0001-01-01T00:00+00:01 does not). `status`: the error's HTTP status."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ApiError(status, f"{name}: needs a time zone (e.g. 2026-11-21T08:00:00Z)")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ApiError(status, f"{name}: out of range once converted to UTC") from None


def check_content_type(content_type: str | None) -> str:
    """415 unless the part is a JPEG or PNG; returns the image format name."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in ALLOWED_IMAGE_TYPES:
        raise ApiError(
            415, f"image: content type {kind or 'missing'!r} not supported; send image/jpeg or image/png"
        )
    return ALLOWED_IMAGE_TYPES[kind]


def check_upload_size(size: int, limits: Limits) -> None:
    if size > limits.max_upload_bytes:
        raise ApiError(
            413, f"image: {size} bytes is larger than the limit of {limits.max_upload_bytes} bytes"
        )
    if size == 0:
        raise ApiError(400, "image: empty upload")


def decode_image(
    data: bytes,
    expected_format: str | None,
    limits: Limits,
    input_shape: tuple[int, int] | None = None,
) -> DecodedImage:
    """Check the header (format, dimensions) before decoding, then decode to BGR.

    The header is read with Pillow (no pixel decode), so a small file that claims to be huge
    (a decompression bomb) is refused with 413 before any memory is spent on it. With the model's
    `input_shape` (h, w), a JPEG is decoded only as large as the model needs (detector.decode).
    """
    check_upload_size(len(data), limits)
    try:
        fmt, width, height = read_header(data)
    except ValueError:
        raise ApiError(400, "image: not a readable JPEG or PNG (corrupt or truncated)") from None
    if fmt not in ("JPEG", "PNG"):
        raise ApiError(415, f"image: {fmt} images are not supported; send JPEG or PNG")
    if expected_format and fmt != expected_format:
        raise ApiError(415, f"image: content type says {expected_format} but the data is {fmt}")
    if max(width, height) > limits.max_image_side or width * height > limits.max_image_pixels:
        raise ApiError(
            413,
            f"image: {width}x{height} exceeds the limit ({limits.max_image_side} px per side, "
            f"{limits.max_image_pixels} pixels)",
        )
    if min(width, height) < limits.min_image_side:
        raise ApiError(422, f"image: {width}x{height} is smaller than {limits.min_image_side} px per side")
    if fmt == "JPEG" and b"\xff\xd9" not in data[-4096:]:
        raise ApiError(400, "image: JPEG is truncated (no end-of-image marker)")
    decoded = decode_for_detection(data, width, height, fmt == "JPEG", input_shape)
    if decoded is None:
        raise ApiError(400, "image: corrupt image data (could not decode)")
    return decoded


class RateLimiter:
    """A token bucket per key: `rate` tokens/s refill, up to `burst`. Thread-safe, in-process."""

    def __init__(self, rate: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)
        self._lock = threading.Lock()

    def acquire(self, key: str, cost: float = 1.0) -> float:
        """Take `cost` tokens; returns 0 when allowed, else the seconds to wait before retrying."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self.max_keys:  # bounded memory: forget the oldest buckets
                for stale in sorted(self._buckets, key=lambda k: self._buckets[k][1])[: self.max_keys // 10]:
                    self._buckets.pop(stale, None)
            return (cost - tokens) / self.rate

    def check(self, key: str) -> None:
        """Raise 429 with Retry-After when `key` is over its rate."""
        wait = self.acquire(key)
        if wait > 0:
            retry = max(1, math.ceil(wait))
            raise ApiError(
                429,
                f"rate limit exceeded for this key; retry in {retry} s",
                {"Retry-After": str(retry)},
                retry_after_s=round(wait, 3),
            )


class BodyTooLarge(Exception):
    """A request body went past its route's limit while it was being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than the limit of {limit} bytes")
        self.limit = limit


class BodyLimitMiddleware:
    """Caps request bodies before the framework buffers them (multipart parts are spooled otherwise).

    `limit_for(path)` gives the cap for a path (None: not capped here, e.g. the job upload, which
    streams to disk with its own limit). A declared Content-Length above the cap is refused at once;
    a chunked body is counted as it arrives and cut off with BodyTooLarge (answered 413).
    """

    def __init__(self, app: Any, limit_for: Any) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            body = json.dumps({"detail": f"request body larger than the limit of {limit} bytes"}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        received = 0

        async def counting_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counting_receive, send)
