"""Open311 GeoReport v2 read endpoints, mapped from cases (../shared/reference/city-management.md).

services = the taxonomy's violation classes (service_code = matter code). A request = a case that a
person has confirmed: pending_review (a model's unconfirmed detection) and rejected cases are not
civic requests and are not published. Status: every state before closing -> `open`; closed and
voided -> `closed`. Times are ISO 8601 with a zone; expected_datetime is the handling deadline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from serve.api.auth import require_inspector
from serve.api.limits import ApiError, check_query_time
from serve.api.routes.exports import iter_cases
from serve.store.types import Case, CaseFilter, CaseStatus, Principal

router = APIRouter(prefix="/open311/v2", tags=["open311"])

PUBLISHED = [s for s in CaseStatus if s not in (CaseStatus.pending_review, CaseStatus.rejected)]
CLOSED = {CaseStatus.closed, CaseStatus.voided}
STATUS_NOTES = {
    CaseStatus.confirmed: "Confirmed by an inspector; awaiting dispatch.",
    CaseStatus.dispatched: "Dispatched to the responsible unit.",
    CaseStatus.handled: "Reported handled; awaiting verification.",
    CaseStatus.verified: "Fix verified; awaiting closing.",
    CaseStatus.closed: "Closed after verification.",
    CaseStatus.voided: "Voided.",
}


class Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool = False
    type: str = "realtime"
    keywords: str
    group: str


class ServiceRequest(BaseModel):
    service_request_id: str
    status: str = Field(description="open | closed")
    status_notes: str | None = None
    service_name: str
    service_code: str
    description: str | None = None
    agency_responsible: str | None = None
    service_notice: str | None = None
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime | None = None
    address: str | None = None
    address_id: str | None = None
    zipcode: str | None = None
    lat: float
    long: float
    media_url: str | None = None


def _group(class_name: str) -> str:
    if class_name in ("overflowing_bin", "exposed_garbage"):
        return "sanitation"
    if class_name == "exposed_soil":
        return "construction"
    return "street_order"


@router.get("/services.json", response_model=list[Service], summary="Service types (one per violation class)")
def services(request: Request, _: Principal = Depends(require_inspector)) -> list[Service]:
    out = []
    for spec in request.app.state.sw.taxonomy.classes:
        if not spec.violation or not spec.matter_code:
            continue
        out.append(
            Service(
                service_code=spec.matter_code,
                service_name=spec.en,
                description=f"{spec.zh} / {spec.en} (matter code {spec.matter_code})",
                keywords=",".join(k for k in (spec.name, spec.zh, spec.legacy_code) if k),
                group=_group(spec.name),
            )
        )
    return out


def to_request(case: Case, base_url: str) -> ServiceRequest:
    media = case.published_url  # people blurred: media_url leaves the review page
    if media and media.startswith("/"):
        media = base_url.rstrip("/") + media
    return ServiceRequest(
        service_request_id=str(case.id),
        status="closed" if case.status in CLOSED else "open",
        status_notes=STATUS_NOTES.get(case.status, case.status.value) + (" Overdue." if case.overdue else ""),
        service_name=case.class_en,
        service_code=case.matter_code,
        description=f"{case.class_zh} / {case.class_en}",
        agency_responsible=case.responsible_unit,
        requested_datetime=case.created_at,
        updated_datetime=case.updated_at,
        expected_datetime=case.deadline,
        address=case.address or case.road_name,
        address_id=case.road_segment_id,
        lat=case.lat,
        long=case.lon,
        media_url=media,
    )


def _base_url(request: Request) -> str:
    return request.app.state.sw.settings.public_url or str(request.base_url)


@router.get(
    "/requests.json", response_model=list[ServiceRequest], summary="Service requests (GeoReport v2 filters)"
)
def requests(
    request: Request,
    service_request_id: Annotated[
        str | None, Query(max_length=2000, description="Comma-separated ids.")
    ] = None,
    service_code: Annotated[
        str | None, Query(max_length=200, description="Comma-separated service codes.")
    ] = None,
    start_date: Annotated[datetime | None, Query(description="requested_datetime >= (ISO 8601).")] = None,
    end_date: Annotated[datetime | None, Query(description="requested_datetime < (ISO 8601).")] = None,
    status: Annotated[str | None, Query(max_length=20, description="open, closed or open,closed.")] = None,
    page_size: Annotated[
        int, Query(ge=1, le=1000, description="Most requests returned (GeoReport default 1000).")
    ] = 1000,
    _: Principal = Depends(require_inspector),
) -> list[ServiceRequest]:
    store = request.app.state.sw.store
    base = _base_url(request)
    start_date = check_query_time("start_date", start_date, status=400)
    end_date = check_query_time("end_date", end_date, status=400)
    if service_request_id:
        out = []
        for raw in service_request_id.split(","):
            raw = raw.strip()
            if raw.isdigit() and 0 < int(raw) < 2**62:
                try:
                    case = store.cases.get_case(int(raw))
                except LookupError:
                    continue
                if case.status in PUBLISHED:
                    out.append(to_request(case, base))
        return out
    wanted = {s.strip() for s in (status or "open,closed").split(",") if s.strip()}
    if not wanted <= {"open", "closed"}:
        raise ApiError(400, "status: expected open, closed or open,closed")
    statuses = [s for s in PUBLISHED if ("closed" if s in CLOSED else "open") in wanted]
    codes = [c.strip() for c in (service_code or "").split(",") if c.strip()] or None
    filters = CaseFilter(
        statuses=statuses, matter_codes=codes, created_after=start_date, created_before=end_date
    )
    out = []
    for case in iter_cases(store, filters):
        out.append(to_request(case, base))
        if len(out) >= page_size:
            break
    return out


@router.get("/requests/{request_id}.json", response_model=list[ServiceRequest], summary="One service request")
async def request_by_id(
    request: Request,
    request_id: Annotated[int, Path(ge=1, le=2**62)],
    _: Principal = Depends(require_inspector),
) -> list[ServiceRequest]:
    store = request.app.state.sw.store
    case = await run_in_threadpool(store.cases.get_case, request_id)
    if case.status not in PUBLISHED:
        raise ApiError(404, f"no published service request {request_id}")
    return [to_request(case, _base_url(request))]
