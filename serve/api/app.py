"""The FastAPI app factory: `create_app(settings)` opens the store, loads the model, starts workers."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from detector.errors import ConfigError, InputError, ModelError, StreetWatchError
from serve.api.auth import KeyCache
from serve.api.inference import AdmissionMiddleware, MicroBatcher, Overloaded, overload_answer
from serve.api.limits import ApiError, BodyLimitMiddleware, BodyTooLarge, RateLimiter
from serve.api.metrics import ServiceMetrics
from serve.api.state import ServiceState
from serve.settings import Settings, load_settings
from serve.web.session import session_secret

log = logging.getLogger("streetwatch.service")

API_DESCRIPTION = """StreetWatch: street-scene violation detection for city management.

Authenticate with an API key (`Authorization: Bearer KEY` or `X-API-Key: KEY`) or a web login cookie.
Roles: `vehicle` (ingest frames for its own vehicle id), `inspector` (review cases), `admin` (everything).
See docs/api.md for limits, the WebSocket protocol and configuration.
"""


def _status_for(exc: StreetWatchError) -> int:
    from serve.store import ActionError, CaseNotFound, TransitionError

    if isinstance(exc, CaseNotFound):
        return 404
    if isinstance(exc, TransitionError):
        return 409
    if isinstance(exc, ActionError):
        return 422
    if isinstance(exc, ModelError):
        return 503
    if isinstance(exc, InputError | ConfigError):
        return 400
    return 400


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        body: dict[str, Any] = {"detail": exc.message, **exc.extra}
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, exc: Overloaded) -> JSONResponse:
        body, headers = overload_answer(exc, request.app.state.sw.active_vehicle_count())
        return JSONResponse(body, status_code=503, headers=headers)

    @app.exception_handler(BodyTooLarge)
    async def body_too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=413, headers={"Connection": "close"})

    @app.exception_handler(StreetWatchError)
    async def user_error(_: Request, exc: StreetWatchError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=_status_for(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("request",), "msg": "invalid"}
        field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header"))
        return JSONResponse(
            {"detail": f"{field or 'request'}: {first.get('msg')}", "errors": _jsonable(errors)},
            status_code=422,
        )


def _jsonable(errors: list[dict]) -> list[dict]:
    out = []
    for err in errors:
        out.append(
            {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg")), "type": err.get("type")}
        )
    return out


def _load_detector(settings: Settings, state: ServiceState) -> None:
    from detector.pipeline import build_detector

    try:
        state.detector = build_detector(
            state.settings.pipeline,
            settings.model_path,
            threads=settings.detector_threads(),
            spin=settings.spin,
        )
    except StreetWatchError as exc:
        state.model_error = str(exc)
        log.error("model not loaded: %s (live frames answer 503 until it is fixed)", exc)
        return
    batching = settings.batching
    state.batcher = MicroBatcher(
        state.detector,
        max_batch=batching.max_batch,
        max_wait_ms=batching.max_wait_ms,
        queue_depth=settings.limits.queue_depth,
        workers=batching.workers,
        max_queue_wait_s=settings.limits.max_queue_wait_s,
    ).start()


def build_state(settings: Settings) -> ServiceState:
    """Open the store, bootstrap credentials, load the model, start the batcher and the job runner."""
    from detector.taxonomy import default_taxonomy, load_taxonomy
    from serve.api.bootstrap import bootstrap
    from serve.api.jobs import JobRunner
    from serve.api.live import LiveService
    from serve.api.pipeline import build_live_pipeline
    from serve.store import CaseStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    taxonomy = load_taxonomy(settings.taxonomy) if settings.taxonomy else default_taxonomy()
    store = CaseStore.open(settings.db_url, str(settings.evidence_dir), taxonomy=taxonomy)
    state = ServiceState(settings=settings, store=store, taxonomy=taxonomy)
    state.rate_limiter = RateLimiter(settings.limits.rate_per_key, settings.limits.burst_per_key)
    state.key_cache = KeyCache()
    limits = settings.limits
    state.login_limiter = RateLimiter(limits.login_attempts_per_minute / 60.0, limits.login_burst)
    state.session_secret = session_secret(settings)
    if settings.bootstrap:
        bootstrap(store, settings)
    _load_detector(settings, state)
    state.metrics = ServiceMetrics(
        queue_depth=lambda: float(state.batcher.depth if state.batcher else 0),
        case_counts=store.cases.counts_by_status,
    )
    if state.batcher is not None:
        state.batcher.on_batch = state.metrics.observe_batch
        state.live = LiveService(
            store,
            state.batcher,
            build_live_pipeline(settings, store, state.detector, state.settings.pipeline),
            idle_flush_s=settings.live_idle_flush_s,
            keep_answers_s=settings.frame_answers_keep_hours * 3600.0,
            input_shape=tuple(state.detector.imgsz) if settings.reduced_decode else None,
        )
    state.jobs = JobRunner(state)
    state.jobs.start()
    return state


def shutdown_state(state: ServiceState) -> None:
    if state.jobs is not None:
        state.jobs.stop()
    if state.live is not None:
        state.live.close()
    if state.batcher is not None:
        state.batcher.stop()
    state.store.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The StreetWatch service. Everything starts here (not in the lifespan) so that test clients
    without lifespan support get a working app; the lifespan only stops the workers."""
    settings = settings or load_settings()
    state = build_state(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        shutdown_state(state)

    app = FastAPI(
        title="StreetWatch",
        version=_version(),
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # FastAPI's own pages load their scripts from a CDN: serve.web.api_docs serves them
        redoc_url=None,
    )
    app.state.sw = state
    _install_error_handlers(app)
    from serve.api.routes.frames import RawFrameUpload

    app.add_middleware(RawFrameUpload)  # innermost: inside the body limit and the admission check
    app.add_middleware(BodyLimitMiddleware, limit_for=_body_limits(settings))
    app.add_middleware(
        AdmissionMiddleware,
        get_batcher=lambda: state.batcher,
        active_vehicles=state.active_vehicle_count,
        on_refuse=lambda: state.metrics.frames.labels("http", "refused_503").inc(),
    )

    from serve.api.routes import (
        actions,
        admin,
        auth_routes,
        cases,
        exports,
        frames,
        health,
        jobs,
        open311,
        stream,
    )

    for module in (health, frames, stream, jobs, cases, actions, exports, open311, admin, auth_routes):
        app.include_router(module.router)
    _mount_web(app)
    return app


def _body_limits(settings: Settings):
    """Largest request body per path: a frame + its metadata, a zone layer, or 1 MiB of JSON/form."""
    from serve.api.routes.admin import MAX_LAYER_BYTES

    frame = settings.limits.max_upload_bytes + settings.limits.max_metadata_bytes + 64 * 1024

    def limit_for(path: str) -> int | None:
        if path == "/v1/frames":
            return frame
        if path == "/v1/jobs":
            return None  # streamed to disk, capped at limits.max_video_bytes by the route itself
        if path == "/v1/admin/zones":
            return MAX_LAYER_BYTES + 64 * 1024
        return 1024 * 1024

    return limit_for


def _mount_web(app: FastAPI) -> None:
    """The inspector page at `/`, the API documentation at `/docs` and `/redoc`, and their static files."""
    from serve.web import api_docs, mount, router

    app.include_router(router)
    app.include_router(api_docs.router)
    mount(app)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("streetwatch")
    except PackageNotFoundError:  # running from a checkout that was never `pip install`ed
        return "0.0.0"


def app_from_env() -> FastAPI:
    """uvicorn factory (`uvicorn --factory serve.api.app:app_from_env`): settings from file + environment."""
    return create_app(load_settings())
