"""Case reads for inspectors: filtered, paginated lists; one case with observations and history; evidence."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from serve.api.auth import require_any_role, require_inspector
from serve.api.limits import ApiError, check_query_time
from serve.store.types import Case, CaseDetail, CaseFilter, CaseStatus, Page, Principal

router = APIRouter(tags=["cases"])

MAX_PAGE = 500
#: A case's or an observation's id in a path.
RowId = Annotated[int, Path(ge=1, le=2**62)]
#: What the routes answering an observation's picture answer.
_OBSERVATION_PICTURE: dict[str, Any] = {
    "response_class": Response,
    "responses": {
        200: {"content": {"image/jpeg": {}}},
        404: {"description": "No such observation or picture."},
    },
}


def parse_bbox(bbox: str | None) -> tuple[float, float, float, float] | None:
    if not bbox:
        return None
    try:
        values = tuple(float(v) for v in bbox.split(","))
    except ValueError:
        raise ApiError(422, "bbox: expected min_lon,min_lat,max_lon,max_lat (4 numbers)") from None
    if len(values) != 4:
        raise ApiError(422, "bbox: expected min_lon,min_lat,max_lon,max_lat (4 numbers)")
    min_lon, min_lat, max_lon, max_lat = values
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise ApiError(
            422, "bbox: needs -180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90"
        )
    return values  # type: ignore[return-value]


def _split(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or []:
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return out


def case_filter(
    request: Request,
    status: Annotated[list[str] | None, Query(description="Status(es), repeated or comma-separated.")] = None,
    class_: Annotated[
        list[str] | None,
        Query(alias="class", description="Class name(s) or matter code(s), e.g. illegal_parking or 09009."),
    ] = None,
    road_segment: Annotated[list[str] | None, Query(description="Road segment id(s).")] = None,
    vehicle_id: Annotated[str | None, Query(max_length=64, description="Cases seen by this vehicle.")] = None,
    since: Annotated[datetime | None, Query(description="Created at or after (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Created before (ISO 8601).")] = None,
    bbox: Annotated[str | None, Query(description="min_lon,min_lat,max_lon,max_lat")] = None,
    overdue: Annotated[bool | None, Query(description="true: only overdue; false: only not overdue.")] = None,
) -> CaseFilter:
    statuses = []
    for value in _split(status):
        try:
            statuses.append(CaseStatus(value))
        except ValueError:
            known = ", ".join(s.value for s in CaseStatus)
            raise ApiError(422, f"status: unknown status {value!r}; known: {known}") from None
    taxonomy = request.app.state.sw.taxonomy
    class_names, codes = [], []
    for value in _split(class_):
        if value in taxonomy.names:
            class_names.append(value)
        elif any(c.matter_code == value for c in taxonomy.classes):
            codes.append(value)
        else:
            raise ApiError(
                422,
                f"class: {value!r} is neither a class name ({', '.join(taxonomy.names)}) nor a matter code",
            )
    since, until = check_query_time("since", since), check_query_time("until", until)
    return CaseFilter(
        statuses=statuses or None,
        class_names=class_names or None,
        matter_codes=codes or None,
        road_segment_ids=_split(road_segment) or None,
        vehicle_id=vehicle_id,
        created_after=since,
        created_before=until,
        bbox=parse_bbox(bbox),
        overdue=overdue,
    )


@router.get("/v1/cases", response_model=Page[Case], summary="List cases (filters + cursor pagination)")
async def list_cases(
    request: Request,
    filters: CaseFilter = Depends(case_filter),
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    _: Principal = Depends(require_inspector),
) -> Page[Case]:
    store = request.app.state.sw.store
    try:
        return await run_in_threadpool(store.cases.list_cases, filters, cursor, limit)
    except ValueError as exc:  # a cursor that is not one of ours
        raise ApiError(422, f"cursor: {exc}") from None


@router.get("/v1/review/queue", response_model=Page[Case], summary="Pending cases, most urgent first")
async def review_queue(
    request: Request,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    _: Principal = Depends(require_inspector),
) -> Page[Case]:
    store = request.app.state.sw.store
    try:
        return await run_in_threadpool(store.cases.review_queue, limit, cursor)
    except ValueError as exc:
        raise ApiError(422, f"cursor: {exc}") from None


@router.get(
    "/v1/cases/{case_id}", response_model=CaseDetail, summary="One case with observations and history"
)
async def get_case(
    request: Request,
    case_id: RowId,
    _: Principal = Depends(require_inspector),
) -> CaseDetail:
    return await run_in_threadpool(request.app.state.sw.store.cases.get_case_detail, case_id)


@router.get(
    "/v1/evidence/{key}",
    summary="An evidence image (content-addressed key from a case or observation)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "No such evidence."}},
)
async def get_evidence(
    request: Request,
    key: Annotated[str, Path(max_length=80, pattern=r"^[0-9a-f]{64}(\.[A-Za-z0-9]{1,8})?$")],
    _: Principal = Depends(require_inspector),
) -> Response:
    storage = request.app.state.sw.store.evidence
    media = "image/png" if key.endswith(".png") else "image/jpeg"
    headers = {"Cache-Control": "private, max-age=31536000, immutable"}  # content-addressed: never changes
    path = storage.path(key)
    if path is not None:
        return FileResponse(path, media_type=media, headers=headers)
    return await _picture(
        partial(storage.get, key), missing=f"no evidence {key}", headers=headers, media=media
    )


@router.get(
    "/v1/observations/{observation_id}/evidence",
    summary="An observation's evidence image, drawn from its original frame when it was not stored drawn",
    description="A live upload is kept as it came; its frame with the box (`view=frame`) and its raw crop "
    "(`view=crop`) are drawn when first asked for. Observations of recorded footage have them stored.",
    **_OBSERVATION_PICTURE,
)
async def get_observation_evidence(
    request: Request,
    observation_id: RowId,
    view: Annotated[str, Query(pattern="^(frame|crop)$", description="frame (box drawn) or crop")] = "frame",
    _: Principal = Depends(require_inspector),
) -> Response:
    state = request.app.state.sw
    read = partial(state.store.cases.observation_evidence, observation_id, view, state.evidence_settings)
    headers = {"Cache-Control": "private, max-age=31536000, immutable"}  # an observation never changes
    return await _picture(
        read, missing=f"observation {observation_id} has no {view} evidence", headers=headers
    )


@router.get(
    "/v1/observations/{observation_id}/published",
    summary="An observation's evidence frame as it may leave the review page: people blurred",
    description="What exports and Open311 `media_url` link to, for any authenticated client: the frame "
    "with the box drawn, every person the detector saw in it pixelated and blurred. Inspectors see the "
    "original at /v1/observations/{id}/evidence.",
    **_OBSERVATION_PICTURE,
)
async def get_published_evidence(
    request: Request,
    observation_id: RowId,
    _: Principal = Depends(require_any_role),
) -> Response:
    state = request.app.state.sw
    read = partial(state.store.cases.published_evidence, observation_id, state.evidence_settings)
    headers = {"Cache-Control": "private, max-age=3600"}
    return await _picture(read, missing=f"observation {observation_id} has no evidence", headers=headers)


async def _picture(
    read: Callable[[], bytes], *, missing: str, headers: dict[str, str], media: str = "image/jpeg"
) -> Response:
    """The picture `read()` returns (a store call, run in the thread pool); 404 with `missing` when it
    raises KeyError."""
    try:
        data = await run_in_threadpool(read)
    except KeyError:
        raise ApiError(404, missing) from None
    return Response(data, media_type=media, headers=headers)
