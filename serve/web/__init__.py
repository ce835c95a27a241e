"""The inspector web page: server-rendered Jinja2 shells + one small script, all served by the service.

The service's app factory includes `router` and `api_docs.router` (the API documentation pages) and
calls `mount(app)` (static files). Pages read and act on cases only through the case API
(`/v1/cases...`) with the session cookie that `POST /login` sets (serve/web/session.py); the few
page-only JSON endpoints live under `/web/`.
"""

from __future__ import annotations

from fastapi import FastAPI

from serve.web import api_docs
from serve.web.pages import STATIC_DIR, router

__all__ = ["router", "mount", "STATIC_DIR", "api_docs"]


def mount(app: FastAPI) -> None:
    """Serve `serve/web/static/` at `/static` and the API documentation's scripts at
    `api_docs.DOCS_ASSETS_URL` (no CDN: every asset of every page comes from here)."""
    from fastapi.staticfiles import StaticFiles

    if any(getattr(r, "path", None) == "/static" for r in app.routes):
        return
    # The longer prefix first: routes are matched in order, and `/static` would take its paths too.
    app.mount(
        api_docs.DOCS_ASSETS_URL, StaticFiles(packages=[api_docs.ASSETS_PACKAGE]), name="api-docs-static"
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="web-static")
