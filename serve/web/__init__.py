"""The inspector web page: server-rendered Jinja2 shells + one small script, all served by the service.

The service's app factory includes `router` and calls `mount(app)` (static files). Pages read and act
on cases only through the case API (`/v1/cases...`) with the session cookie that `POST /login` sets
(serve/web/session.py); the few page-only JSON endpoints live under `/web/`.
"""

from __future__ import annotations

from fastapi import FastAPI

from serve.web.pages import STATIC_DIR, router

__all__ = ["router", "mount", "mount_static", "STATIC_DIR"]


def mount(app: FastAPI) -> None:
    """Serve `serve/web/static/` at `/static` (no CDN: every asset of the page comes from here)."""
    from fastapi.staticfiles import StaticFiles

    if not any(getattr(r, "path", None) == "/static" for r in app.routes):
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="web-static")


mount_static = mount  # the name serve/api/app.py looks up
