"""Batch footage jobs: POST /v1/jobs (upload streamed to disk, or a path on the server), progress, cancel."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from serve.api.auth import require_inspector
from serve.api.limits import ApiError
from serve.store.types import Job, JobStatus, Principal, Role

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".ts", ".m4v"}
GPS_SUFFIXES = {".gpx", ".nmea", ".csv", ".json", ".txt", ".log"}
FORM_FIELD_LIMIT = 4096


class JobFromPath(BaseModel):
    """A job on footage already on the server (admin only: the service reads that path)."""

    path: str = Field(min_length=1, max_length=4096, description="Video file on the server.")
    gps_path: str | None = Field(
        default=None, max_length=4096, description="GPS track (GPX, NMEA, CSV, JSON)."
    )
    vehicle_id: str | None = Field(default=None, max_length=64, description="Vehicle that filmed it.")
    sample_fps: float | None = Field(
        default=None,
        gt=0,
        le=60,
        description="Frames per second analysed (default: the pipeline configuration's sample_fps).",
    )
    reprocess: bool = Field(
        default=False,
        description="Process a video this store holds from a run with other settings (model, rate, "
        "tracker) anyway: some of its objects' observations may be added to their cases a second time. "
        "Without it such a job fails and says why.",
    )


JOB_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["video"],
                    "properties": {
                        "video": {"type": "string", "format": "binary", "description": "The video file."},
                        "gps": {"type": "string", "format": "binary", "description": "GPS track file."},
                        "vehicle_id": {"type": "string", "maxLength": 64},
                        "sample_fps": {"type": "number", "exclusiveMinimum": 0, "maximum": 60},
                        "reprocess": {"type": "boolean"},
                    },
                }
            },
            "application/json": {"schema": JobFromPath.model_json_schema()},
        },
    }
}


async def _stream_multipart(
    request: Request, target_dir: FsPath, max_bytes: int
) -> tuple[dict[str, str], dict[str, FsPath]]:
    """Parse a multipart body chunk by chunk; file parts go straight to files in target_dir."""
    from python_multipart.multipart import create_form_parser

    fields: dict[str, str] = {}
    files: dict[str, FsPath] = {}
    file_objects: list[Any] = []

    def on_field(field: Any) -> None:
        name = (field.field_name or b"").decode("utf-8", "replace")
        value = field.value or b""
        if len(value) > FORM_FIELD_LIMIT:
            raise ApiError(413, f"{name}: form field too large")
        fields[name] = value.decode("utf-8", "replace")

    def on_file(file: Any) -> None:
        file_objects.append(file)

    headers = {k.lower(): v.encode("latin-1") for k, v in request.headers.items()}
    headers["Content-Type"] = headers.get("content-type", b"")
    config = {
        "UPLOAD_DIR": str(target_dir),
        "MAX_MEMORY_FILE_SIZE": 0,
        "UPLOAD_DELETE_TMP": False,
        "UPLOAD_KEEP_EXTENSIONS": False,
        "MAX_BODY_SIZE": float("inf"),
    }
    try:
        parser = create_form_parser(headers, on_field, on_file, config=config)
    except (ValueError, KeyError) as exc:
        raise ApiError(400, f"body: not a multipart form ({exc})") from None
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes:
                raise ApiError(413, f"upload larger than the limit of {max_bytes} bytes")
            parser.write(chunk)
        parser.finalize()
    except ApiError:
        raise
    except Exception as exc:  # noqa: BLE001 - the multipart parser's own errors
        raise ApiError(400, f"body: malformed multipart form ({str(exc)[:120]})") from None
    finally:
        for file in file_objects:
            file.close()
    for file in file_objects:
        name = (file.field_name or b"").decode("utf-8", "replace")
        original = (file.file_name or b"").decode("utf-8", "replace")
        actual = file.actual_file_name
        if actual is None:  # an empty part never reached the disk
            raise ApiError(400, f"{name}: empty file")
        path = FsPath(actual.decode() if isinstance(actual, bytes) else actual)
        suffix = FsPath(original).suffix.lower()
        final = target_dir / f"{name}{suffix if suffix.isascii() and len(suffix) <= 6 else ''}"
        path.replace(final)
        files[name] = final
    return fields, files


def _check_suffix(path: FsPath, allowed: set[str], field: str) -> None:
    if path.suffix.lower() not in allowed:
        raise ApiError(
            415, f"{field}: {path.suffix or 'no extension'} is not one of {', '.join(sorted(allowed))}"
        )


def _server_file(text: str, field: str) -> FsPath:
    """A file named by a path on the server (`~` and `~user` expanded); 422 naming the field otherwise.

    os.path.expanduser leaves `~nosuchuser` as it is, where Path.expanduser raises RuntimeError (a 500)."""
    path = FsPath(os.path.expanduser(text))
    try:
        found = path.is_file()
    except (OSError, ValueError):  # a name longer than the file system takes; a NUL byte
        found = False
    if not found:
        raise ApiError(422, f"{field}: no such file on the server: {text}")
    return path


@router.post(
    "",
    response_model=Job,
    status_code=202,
    openapi_extra=JOB_REQUEST_BODY,
    summary="Start a batch job on a video (multipart upload, or JSON {path} on the server)",
    responses={
        413: {"description": "Video larger than limits.max_video_bytes."},
        415: {"description": "Unsupported file type."},
        422: {"description": "Invalid field."},
    },
)
async def create_job(request: Request, principal: Principal = Depends(require_inspector)) -> Job:
    state = request.app.state.sw
    settings = state.settings
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    params: dict[str, Any] = {}
    if content_type == "application/json":
        if principal.role != Role.admin:
            raise ApiError(403, "only admins may start jobs on server paths; upload the video instead")
        body = await request.body()
        try:
            spec = JobFromPath.model_validate(json.loads(body or b"null"))
        except (ValueError, ValidationError) as exc:
            detail = exc.errors()[0] if isinstance(exc, ValidationError) else None
            field = ".".join(str(p) for p in detail["loc"]) if detail else "body"
            raise ApiError(422, f"{field}: {detail['msg'] if detail else exc}") from None
        video = _server_file(spec.path, "path")
        gps = _server_file(spec.gps_path, "gps_path") if spec.gps_path else None
        vehicle_id, sample_fps = spec.vehicle_id, spec.sample_fps
        params["reprocess"] = spec.reprocess
    elif content_type == "multipart/form-data":
        target = FsPath(settings.uploads_dir) / uuid.uuid4().hex
        target.mkdir(parents=True, exist_ok=True)
        try:
            fields, files = await _stream_multipart(request, target, settings.limits.max_video_bytes)
            if "video" not in files:
                raise ApiError(422, "video: field required (the video file)")
            video = files["video"]
            _check_suffix(video, VIDEO_SUFFIXES, "video")
            gps = files.get("gps")
            if gps is not None:
                _check_suffix(gps, GPS_SUFFIXES, "gps")
            vehicle_id = fields.get("vehicle_id") or None
            if vehicle_id is not None and len(vehicle_id) > 64:
                raise ApiError(422, "vehicle_id: at most 64 characters")
            sample_fps = None
            if fields.get("sample_fps"):
                try:
                    sample_fps = float(fields["sample_fps"])
                except ValueError:
                    raise ApiError(422, "sample_fps: not a number") from None
                if not 0 < sample_fps <= 60:
                    raise ApiError(422, "sample_fps: must be in (0, 60]")
            reprocess = fields.get("reprocess", "false").strip().lower()
            if reprocess not in ("true", "false", "1", "0", ""):
                raise ApiError(422, "reprocess: true or false")
            params["reprocess"] = reprocess in ("true", "1")
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        params["upload_dir"] = str(target)
    else:
        raise ApiError(415, "send multipart/form-data (video [+ gps]) or application/json ({path, gps_path})")
    # the rate is fixed when the job is made: a job resumed after an upgrade that changed the default
    # goes on at its own rate, from its detections cache, with the same event keys
    params["sample_fps"] = sample_fps if sample_fps is not None else state.settings.pipeline.sample_fps
    params["submitted_by"] = principal.name
    job = await run_in_threadpool(
        state.store.jobs.create_job,
        str(video.resolve()),
        str(gps.resolve()) if gps else None,
        vehicle_id,
        "video",
        params,
    )
    state.jobs.wake()
    return job


@router.get("", response_model=list[Job], summary="List jobs, oldest first")
async def list_jobs(request: Request, _: Principal = Depends(require_inspector)) -> list[Job]:
    return await run_in_threadpool(request.app.state.sw.store.jobs.list_jobs, None)


@router.get(
    "/{job_id}", response_model=Job, summary="A job's progress: frames_done / frames_total, cases so far"
)
async def get_job(
    request: Request, job_id: Annotated[str, Path(max_length=64)], _: Principal = Depends(require_inspector)
) -> Job:
    return await run_in_threadpool(request.app.state.sw.store.jobs.get_job, job_id)


@router.delete("/{job_id}", response_model=Job, summary="Cancel a job (cases already made stay)")
async def cancel_job(
    request: Request, job_id: Annotated[str, Path(max_length=64)], _: Principal = Depends(require_inspector)
) -> Job:
    state = request.app.state.sw
    job = await run_in_threadpool(state.store.jobs.get_job, job_id)
    if job.status in (JobStatus.done, JobStatus.failed, JobStatus.cancelled):
        return job
    state.jobs.cancel(job_id)
    return await run_in_threadpool(state.store.jobs.update_job, job_id, status=JobStatus.cancelled)
