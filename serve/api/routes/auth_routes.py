"""Web login for the inspector page: username + password -> signed session cookie; and `who am I`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from serve.api.auth import SESSION_COOKIE, get_principal
from serve.api.limits import ApiError
from serve.store.types import Principal

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


def set_session_cookie(request: Request, response: Response, principal: Principal) -> None:
    """Sign a session for `principal` into the response (used by the JSON login and the web page)."""
    from serve.web.session import sign_session

    state = request.app.state.sw
    ttl = state.settings.session_max_age_s
    value = sign_session(principal.name, principal.role.value, state.session_secret, ttl_s=ttl)
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=ttl,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


@router.post("/login", response_model=Principal, summary="Log in (sets the session cookie)")
async def login(request: Request, body: LoginRequest, response: Response) -> Principal:
    state = request.app.state.sw
    wait = state.login_limiter.acquire(f"login:{request.client.host if request.client else '-'}")
    if wait > 0:
        raise ApiError(429, "too many login attempts; retry later", {"Retry-After": str(max(1, round(wait)))})
    principal = await run_in_threadpool(state.store.access.check_password, body.username, body.password)
    if principal is None:
        raise ApiError(401, "wrong username or password")
    set_session_cookie(request, response, principal)
    return principal


@router.post("/logout", status_code=204, summary="Log out (clears the session cookie)")
async def logout(response: Response) -> Response:
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me", response_model=Principal, summary="Who is calling")
async def me(principal: Principal = Depends(get_principal)) -> Principal:
    return principal
