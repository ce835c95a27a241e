"""Liveness, readiness and Prometheus metrics (no authentication: for load balancers and scrapers)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: model loaded and case store reachable (503 otherwise)",
    responses={503: {"description": "Not ready; `checks` says which part is missing."}},
)
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state.sw

    def store_ok() -> bool:
        try:
            return bool(state.store.db.ping())
        except Exception:  # noqa: BLE001 - unreachable store = not ready
            return False

    checks = {
        "model": state.model_loaded,
        "store": await run_in_threadpool(store_ok),
    }
    ready = all(checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    if state.model_error:
        body["model_error"] = state.model_error
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    registry = request.app.state.sw.metrics.registry
    data = await run_in_threadpool(generate_latest, registry)
    return Response(data, media_type=CONTENT_TYPE_LATEST)
