"""Who is calling, and may they? API keys (`Authorization: Bearer KEY` or `X-API-Key: KEY`) or a web login.

Roles: `vehicle` keys may only ingest, and only for their own vehicle id; `inspector` may read and
act on cases; `admin` may do everything. No credentials -> 401; wrong role or vehicle -> 403.
Keys are stored hashed by the case store (`store.access.authenticate`); the web page's login is a
signed cookie (serve/web/session.py) whose user is re-read from the store on every request, so a
disabled user or demoted role takes effect at once.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from fastapi import Depends, Request, WebSocket
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from serve.api.limits import ApiError
from serve.store.types import Principal, Role
from serve.web.session import read_session

# Declared as security schemes so the OpenAPI document (and /docs) shows how to authenticate.
bearer_scheme = HTTPBearer(auto_error=False, description="API key as a bearer token.")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key header.")

SESSION_COOKIE = "sw_session"
AUTH_REQUIRED = "authentication required: send an API key (Authorization: Bearer KEY)"
REVIEW_ROLES = frozenset({Role.inspector, Role.admin})


def _key_from_headers(headers, bearer: str | None = None, header_key: str | None = None) -> str | None:
    if bearer:
        return bearer
    if header_key:
        return header_key
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return headers.get("x-api-key") or None


def _principal_from_cookie(conn: Request | WebSocket) -> Principal | None:
    cookie = conn.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    state = conn.app.state.sw
    session = read_session(cookie, state.session_secret)
    if session is None:
        return None
    return state.store_principal_for_user(session.username)


class KeyCache:
    """Valid API keys -> their principal, remembered for `ttl_s` seconds.

    A vehicle sends several frames a second, each with its key: without this every frame cost a store
    read. Only valid keys are remembered (a new key works at once, a wrong one always reaches the
    store). A key revoked through this service (DELETE /v1/admin/keys/ID) is forgotten at once; revoked
    elsewhere (`streetwatch keys revoke`, another service process) it stops working within `ttl_s`.
    Keys are remembered by their SHA-256 digest, so the process memory holds no usable key (the store
    keeps only hashes too).
    """

    def __init__(self, ttl_s: float = 10.0, max_keys: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_keys = max_keys
        self._known: dict[bytes, tuple[Principal, float]] = {}

    @staticmethod
    def _digest(key: str) -> bytes:
        return hashlib.sha256(key.encode()).digest()

    def get(self, key: str) -> Principal | None:
        entry = self._known.get(self._digest(key))
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, key: str, principal: Principal) -> None:
        if len(self._known) >= self.max_keys:
            self._known.clear()  # bounded memory; the next request of each key reads the store again
        self._known[self._digest(key)] = (principal, time.monotonic() + self.ttl_s)

    def clear(self) -> None:
        self._known.clear()


def principal_for_key(state, key: str) -> Principal:
    """The principal of an API key (KeyCache, else the store), or 401. Blocking on a cache miss."""
    principal = state.key_cache.get(key)
    if principal is None:
        principal = state.store.access.authenticate(key)
        if principal is None:
            raise ApiError(401, "invalid or revoked API key", {"WWW-Authenticate": "Bearer"})
        state.key_cache.put(key, principal)
    return principal


def resolve_principal(conn: Request | WebSocket, key: str | None) -> Principal | None:
    """The caller for a raw key or the session cookie; None when neither identifies anyone."""
    if key:
        return principal_for_key(conn.app.state.sw, key)
    return _principal_from_cookie(conn)


def get_principal(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
    header_key: str | None = Depends(api_key_scheme),
) -> Principal:
    """FastAPI dependency: the authenticated caller (API key or web login), else 401."""
    key = _key_from_headers(request.headers, bearer.credentials if bearer else None, header_key)
    principal = resolve_principal(request, key)
    if principal is None:
        raise ApiError(401, AUTH_REQUIRED, {"WWW-Authenticate": "Bearer"})
    request.state.principal = principal
    limiter = request.app.state.sw.rate_limiter
    limiter.check(principal.id)
    return principal


def get_optional_principal(request: Request) -> Principal | None:
    """The caller if any (for pages that render a login form otherwise)."""
    key = _key_from_headers(request.headers)
    try:
        return resolve_principal(request, key)
    except ApiError:
        return None


def check_role(principal: Principal, *roles: Role) -> None:
    """403 unless the caller has one of `roles` (admin always passes)."""
    allowed = frozenset(roles) | {Role.admin}
    if principal.role not in allowed:
        names = ", ".join(sorted(r.value for r in allowed))
        raise ApiError(403, f"role {principal.role.value!r} may not do this (needs one of: {names})")


def require_roles(*roles: Role) -> Callable[..., Principal]:
    """Dependency factory: the caller must have one of `roles` (admin always passes)."""

    def dependency(principal: Principal = Depends(get_principal)) -> Principal:
        check_role(principal, *roles)
        return principal

    return dependency


async def api_key_caller(state, headers) -> Principal:
    """The caller of a request outside FastAPI's dependencies (serve.api.routes.frames.RawFrameUpload):
    an API key in the headers, else 401; over the key's rate, 429. The store is read off the event
    loop, and only when the key is not in the KeyCache."""
    key = _key_from_headers(headers)
    if not key:
        raise ApiError(401, AUTH_REQUIRED, {"WWW-Authenticate": "Bearer"})
    principal = state.key_cache.get(key) or await run_in_threadpool(principal_for_key, state, key)
    state.rate_limiter.check(principal.id)
    return principal


def frame_sender(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
    header_key: str | None = Depends(api_key_scheme),
) -> Principal:
    """The caller of the live-frame form route: a vehicle key (or admin). A refusal (401, 403, 429) is
    counted in the frame metrics too, as RawFrameUpload counts it for an image body."""
    try:
        principal = get_principal(request, bearer, header_key)
        check_role(principal, Role.vehicle)
    except ApiError as exc:
        request.app.state.sw.metrics.frames.labels("http", f"refused_{exc.status}").inc()
        raise
    return principal


require_inspector = require_roles(Role.inspector)
require_any_role = require_roles(*Role)  # any authenticated caller (pictures already made public-safe)
require_admin = require_roles(Role.admin)


def check_vehicle(principal: Principal, vehicle_id: str) -> None:
    """A vehicle key may only send frames for its own vehicle id; people (inspector/admin) may test any."""
    if principal.role == Role.vehicle and principal.vehicle_id != vehicle_id:
        raise ApiError(403, f"this key belongs to vehicle {principal.vehicle_id!r}, not {vehicle_id!r}")
    if principal.role == Role.inspector:
        raise ApiError(403, "inspector accounts may not ingest frames")


def authenticate_websocket(websocket: WebSocket) -> Principal | None:
    """The caller of a WebSocket: key in the headers, `?api_key=` (browsers set no headers), or cookie."""
    key = _key_from_headers(websocket.headers) or websocket.query_params.get("api_key")
    try:
        return resolve_principal(websocket, key)
    except ApiError:
        return None
