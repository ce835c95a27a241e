"""Case exports: GeoJSON (for GIS) and CSV (for spreadsheets), same filters as GET /v1/cases."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from serve.api.auth import require_inspector
from serve.api.routes.cases import case_filter
from serve.store.types import Case, CaseFilter, Principal

router = APIRouter(tags=["exports"])

CSV_FIELDS = [
    "id",
    "status",
    "class_name",
    "class_zh",
    "class_en",
    "matter_code",
    "lat",
    "lon",
    "address",
    "road_name",
    "road_segment_id",
    "responsible_unit",
    "road_chief",
    "area_class",
    "deadline",
    "overdue",
    "created_at",
    "updated_at",
    "first_seen",
    "last_seen",
    "closed_at",
    "observation_count",
    "vehicle_ids",
    "score",
    "layer_version",
    "published_url",
]
# Exported files leave the review page: they link to the evidence with people blurred, never to the
# originals an inspector sees.
ORIGINAL_PICTURES = ("evidence_url", "crop_url", "evidence_key", "crop_key", "frame_key")


def iter_cases(store: Any, filters: CaseFilter, page_size: int = 200) -> Iterator[Case]:
    """Every case matching the filters, page by page (bounded memory)."""
    cursor = None
    while True:
        page = store.cases.list_cases(filters, cursor, page_size)
        yield from page.items
        if not page.next_cursor:
            return
        cursor = page.next_cursor


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def case_properties(case: Case) -> dict[str, Any]:
    data = case.model_dump(mode="json")
    data.pop("best_box", None)
    for name in ORIGINAL_PICTURES:
        data.pop(name, None)
    return data


@router.get(
    "/v1/exports/cases.geojson",
    summary="Cases as a GeoJSON FeatureCollection",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/geo+json": {}}}},
)
def export_geojson(
    request: Request, filters: CaseFilter = Depends(case_filter), _: Principal = Depends(require_inspector)
) -> StreamingResponse:
    store = request.app.state.sw.store

    def body() -> Iterator[str]:
        yield '{"type": "FeatureCollection", "features": ['
        first = True
        for case in iter_cases(store, filters):
            feature = {
                "type": "Feature",
                "id": case.id,
                "geometry": {"type": "Point", "coordinates": [case.lon, case.lat]},
                "properties": case_properties(case),
            }
            yield ("" if first else ",") + json.dumps(feature, ensure_ascii=False)
            first = False
        yield "]}"

    return StreamingResponse(
        body(),
        media_type="application/geo+json",
        headers={"Content-Disposition": 'attachment; filename="cases.geojson"'},
    )


@router.get(
    "/v1/exports/cases.csv",
    summary="Cases as CSV (UTF-8 with BOM, opens in spreadsheets)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_csv(
    request: Request, filters: CaseFilter = Depends(case_filter), _: Principal = Depends(require_inspector)
) -> StreamingResponse:
    store = request.app.state.sw.store

    def body() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, extrasaction="ignore")
        yield "\ufeff"
        writer.writeheader()
        for case in iter_cases(store, filters):
            row = case.model_dump(mode="json")
            row["vehicle_ids"] = " ".join(case.vehicle_ids)
            writer.writerow(row)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="cases.csv"'},
    )
