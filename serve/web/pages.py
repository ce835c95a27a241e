"""Routes of the inspector page: login/logout, the page shells, and two page-only JSON endpoints.

Every page needs a logged-in inspector or admin: no session -> redirect to /login, another role
(e.g. a vehicle key) -> 403. Case data is never rendered here except in the ranking table; the
script reads it from the case API with the same session.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from serve.web import backend
from serve.web.layers import road_segment_layer, road_segment_options, zone_polygon_layer
from serve.web.session import COOKIE_NAME, REVIEW_ROLES, sign_session

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))

router = APIRouter(include_in_schema=False)
_GEOJSON = "application/geo+json"

#: Ranking periods offered in the selector: key -> (days or None for all time, zh, en).
PERIODS: dict[str, tuple[int | None, str, str]] = {
    "7d": (7, "近7天", "last 7 days"),
    "30d": (30, "近30天", "last 30 days"),
    "90d": (90, "近90天", "last 90 days"),
    "365d": (365, "近一年", "last year"),
    "all": (None, "全部", "all time"),
}


def _static_version() -> str:
    """Cache-buster for the static files: their newest modification time."""
    return str(int(max(p.stat().st_mtime for p in STATIC_DIR.iterdir())))


def _safe_next(target: str | None) -> str:
    """Only same-site paths may be a post-login target (no open redirect)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def _config(request: Request, principal: Any, **extra: Any) -> str:
    """The JSON the script reads from <script id="sw-config">: taxonomy, user, lifecycle tables."""
    data = {
        "user": {"name": principal.name, "role": str(principal.role)},
        "classes": backend.taxonomy_classes(request),
        "actions_by_status": backend.actions_by_status(),
        "role_actions": backend.role_actions(str(principal.role)),
        "note_required": backend.note_required_actions(),
        **extra,
    }
    # </script> can never appear inside: escape the angle brackets.
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")


def _page(request: Request, name: str, page: str, principal: Any, title: str, **context: Any) -> HTMLResponse:
    config_extra = context.pop("config_extra", {})
    return templates.TemplateResponse(
        request,
        name,
        {
            "page": page,
            "title": title,
            "user": principal,
            "config_json": _config(request, principal, **config_extra),
            "static_version": _static_version(),
            "queue_count": backend.queue_count(request),
            **context,
        },
    )


def _forbidden(request: Request, principal: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "forbidden.html", {"user": principal, "static_version": _static_version()}, status_code=403
    )


def _guard(request: Request) -> Any:
    """The logged-in reviewer, or the response to send instead (redirect to login / 403 page)."""
    principal = backend.current_principal(request)
    if principal is None:
        return _login_redirect(request)
    if str(principal.role) not in REVIEW_ROLES:
        return _forbidden(request, principal)
    return principal


def _json_guard(request: Request) -> Any:
    principal = backend.current_principal(request)
    if principal is None:
        return JSONResponse({"detail": "authentication required"}, status_code=401)
    if str(principal.role) not in REVIEW_ROLES:
        return JSONResponse({"detail": f"role {principal.role!s} may not review cases"}, status_code=403)
    return principal


def _reviewer_json(
    request: Request, content: Callable[[], Any], media_type: str = "application/json"
) -> Response:
    """`content()` as JSON for a reviewer; the 401 or 403 answer of `_json_guard` for anyone else (then
    `content` is not called)."""
    denied = _json_guard(request)
    if isinstance(denied, Response):
        return denied
    return JSONResponse(content(), media_type=media_type)


# ---------------------------------------------------------------------------- login
@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    principal = backend.current_principal(request)
    if principal is not None and str(principal.role) in REVIEW_ROLES:
        return RedirectResponse(_safe_next(next), status_code=303)
    return templates.TemplateResponse(
        request, "login.html", {"next": _safe_next(next), "error": None, "static_version": _static_version()}
    )


@router.post("/login")
def login_submit(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
) -> Response:
    wait = backend.login_wait(request)
    if wait > 0:
        return templates.TemplateResponse(
            request,
            "login.html",
            {
                "next": _safe_next(next), "username": username, "static_version": _static_version(),
                "error": f"尝试次数过多，请 {max(1, round(wait))} 秒后再试 · too many attempts, retry in "
                         f"{max(1, round(wait))} s",
            },
            status_code=429,
            headers={"Retry-After": str(max(1, round(wait)))},
        )
    principal = backend.check_password(request, username.strip(), password) if username.strip() else None
    error = None
    if principal is None:
        error = "用户名或密码错误 · wrong user name or password"
    elif str(principal.role) not in REVIEW_ROLES:
        error = "此账号无审核权限 · this account may not review cases"
    if error:
        return templates.TemplateResponse(
            request,
            "login.html",
            {
                "next": _safe_next(next),
                "error": error,
                "username": username,
                "static_version": _static_version(),
            },
            status_code=401,
        )
    ttl = backend.session_ttl(request)
    value = sign_session(principal.name, str(principal.role), backend.secret(request), ttl_s=ttl)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=ttl,
        httponly=True,
        samesite="lax",
        path="/",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


# ---------------------------------------------------------------------------- pages
@router.get("/", response_class=HTMLResponse)
def queue_page(request: Request) -> Response:
    principal = _guard(request)
    if isinstance(principal, Response):
        return principal
    return _page(
        request,
        "queue.html",
        "queue",
        principal,
        "审核队列 Review queue",
        config_extra={"queue": backend.queue_ids(request)},
    )


@router.get("/cases", response_class=HTMLResponse)
def cases_page(request: Request) -> Response:
    principal = _guard(request)
    if isinstance(principal, Response):
        return principal
    q = request.query_params
    return _page(
        request,
        "cases.html",
        "cases",
        principal,
        "案件 Cases",
        statuses=backend.STATUS_LABELS,
        classes=[c for c in backend.taxonomy_classes(request) if c["violation"]],
        segments=road_segment_options(backend.zones_dir(request)),
        selected={k: q.get(k, "") for k in ("status", "class", "road_segment", "since", "until", "overdue")},
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: int) -> Response:
    principal = _guard(request)
    if isinstance(principal, Response):
        return principal
    return _page(
        request,
        "case.html",
        "case",
        principal,
        f"案件 Case #{case_id}",
        case_id=case_id,
        config_extra={"case_id": case_id},
    )


@router.get("/map", response_class=HTMLResponse)
def map_page(request: Request) -> Response:
    principal = _guard(request)
    if isinstance(principal, Response):
        return principal
    is_admin = str(principal.role) == "admin"  # the server path is for admins only, who can fix it
    zones = str(backend.zones_dir(request)) if is_admin else "the zones folder"
    return _page(
        request, "map.html", "map", principal, "地图 Map",
        config_extra={"map_center": [0.0, 0.0], "zones_dir": zones},
    )


def _period_bounds(
    period: str, since: str | None, until: str | None
) -> tuple[datetime | None, datetime | None]:
    """[since, until) in UTC from explicit dates (YYYY-MM-DD, until inclusive) or a named period."""
    if since or until:
        start = datetime.combine(date.fromisoformat(since), time(), UTC) if since else None
        end = datetime.combine(date.fromisoformat(until), time(), UTC) + timedelta(days=1) if until else None
        return start, end
    days = PERIODS.get(period, PERIODS["30d"])[0]
    return (datetime.now(UTC) - timedelta(days=days) if days else None), None


def ranking_rows(stats: list[Any]) -> list[dict[str, Any]]:
    """Ranking lines with derived rates and the red/black flag hint (best / worst segment).

    Worst: most overdue, then lowest close rate, then most opened. Best: the reverse among
    segments that had cases; no flag when fewer than two segments had cases.
    """
    rows = []
    for s in stats:
        d = s.model_dump() if hasattr(s, "model_dump") else dict(s)
        opened = int(d.get("opened") or 0)
        d["close_rate"] = (d.get("closed") or 0) / opened if opened else None
        d["overdue_rate"] = (d.get("overdue") or 0) / opened if opened else None
        d["flag"] = None
        rows.append(d)
    rows.sort(key=lambda r: (-(r.get("overdue") or 0), -r["opened"], str(r.get("road_segment_id") or "")))
    active = [r for r in rows if r["opened"]]
    if len(active) >= 2:

        def badness(r: dict[str, Any]) -> tuple:
            median = r.get("median_hours_to_close")
            slow = median if median is not None else float("inf")
            return (r["overdue_rate"], -r["close_rate"], slow, r["opened"])

        worst = max(active, key=badness)
        best = min(active, key=badness)
        if badness(worst) != badness(best):
            worst["flag"] = "black"
            best["flag"] = "red"
    return rows


@router.get("/ranking", response_class=HTMLResponse)
def ranking_page(
    request: Request, period: str = "30d", since: str | None = None, until: str | None = None
) -> Response:
    principal = _guard(request)
    if isinstance(principal, Response):
        return principal
    error = None
    try:
        start, end = _period_bounds(period, since or None, until or None)
    except ValueError:
        error = "日期格式应为 YYYY-MM-DD · dates must be YYYY-MM-DD"
        start, end = _period_bounds("30d", None, None)
    stats = list(backend.segment_ranking(request, start, end))
    chiefs = {o["id"]: o for o in road_segment_options(backend.zones_dir(request))}
    seen = {getattr(st, "road_segment_id", None) for st in stats}
    for seg_id in chiefs.keys() - seen:  # a segment without cases in the period is listed too (at 0)
        stats.append({"road_segment_id": seg_id, "opened": 0, "closed": 0, "open_now": 0, "overdue": 0,
                      "median_hours_to_close": None})
    rows = ranking_rows(stats)
    for r in rows:  # the layer knows the road chief when the store does not
        seg = chiefs.get(r.get("road_segment_id") or "")
        if seg:
            r["road_chief"] = r.get("road_chief") or seg.get("road_chief")
            r["road_name"] = r.get("road_name") or seg.get("name")
            r["responsible_unit"] = r.get("responsible_unit") or seg.get("department")
    medians = [r["median_hours_to_close"] for r in rows if r.get("median_hours_to_close") is not None]
    totals = {
        "opened": sum(r["opened"] for r in rows),
        "closed": sum(r["closed"] for r in rows),
        "overdue": sum(r["overdue"] for r in rows),
        "open_now": sum(r.get("open_now") or 0 for r in rows),
        "median": statistics.median(medians) if medians else None,
    }
    return _page(
        request,
        "ranking.html",
        "ranking",
        principal,
        "路段排名 Road-segment ranking",
        rows=rows,
        totals=totals,
        periods=PERIODS,
        period=period if not (since or until) else "",
        since=since or (start.date().isoformat() if start else ""),
        until=until or ((end - timedelta(days=1)).date().isoformat() if end else ""),
        error=error,
    )


# ---------------------------------------------------------------------------- page-only JSON
@router.get("/web/queue.json")
def queue_json(request: Request) -> Response:
    """Ids of pending cases, most urgent first (the queue page refills from here)."""
    return _reviewer_json(request, lambda: {"ids": backend.queue_ids(request)})


@router.get("/web/layers/road-segments.geojson")
def road_segments_geojson(request: Request) -> Response:
    """The road-segment layer (lines) of the zones folder, properties normalised for the map."""
    return _reviewer_json(request, lambda: road_segment_layer(backend.zones_dir(request)), _GEOJSON)


@router.get("/web/layers/zones.geojson")
def zones_geojson(request: Request) -> Response:
    """The other zone layers (polygons such as no_parking), each feature tagged with its layer name."""
    return _reviewer_json(request, lambda: zone_polygon_layer(backend.zones_dir(request)), _GEOJSON)
