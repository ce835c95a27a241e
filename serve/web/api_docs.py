"""The API's interactive documentation, `/docs` (Swagger UI) and `/redoc` (ReDoc), with no CDN.

Both pages load their script and style sheet from this service, under `DOCS_ASSETS_URL`: the
swagger-ui-dist bundle and CSS and ReDoc's standalone bundle that the `fastapi-offline` package ships
(`ASSETS_PACKAGE`), so the pages work on a network without internet access. ReDoc is asked for no
web fonts and Swagger UI for no online validator: the pages reference no other host.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

DOCS_ASSETS_URL = "/static/api-docs"
ASSETS_PACKAGE = ("fastapi_offline", "static")  # (package, folder): swagger-ui-bundle.js, swagger-ui.css, ...
FAVICON_URL = "/static/favicon.svg"  # the inspector page's icon (serve/web/static)

router = APIRouter(include_in_schema=False)


def _url(request: Request, path: str) -> str:
    """`path` of this service, behind a proxy's root path too."""
    return request.scope.get("root_path", "").rstrip("/") + path


def _page_args(request: Request, name: str, prefix: str, script: str) -> dict[str, str]:
    """What both pages take: the OpenAPI document's URL, the title, and the script bundle `script` under
    DOCS_ASSETS_URL and the icon (fastapi's `<prefix>_js_url` and `<prefix>_favicon_url`)."""
    return {
        "openapi_url": _url(request, request.app.openapi_url),
        "title": f"{request.app.title} - API ({name})",
        f"{prefix}_js_url": _url(request, f"{DOCS_ASSETS_URL}/{script}"),
        f"{prefix}_favicon_url": _url(request, FAVICON_URL),
    }


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        **_page_args(request, "Swagger UI", "swagger", "swagger-ui-bundle.js"),
        swagger_css_url=_url(request, f"{DOCS_ASSETS_URL}/swagger-ui.css"),
        swagger_ui_parameters={**(request.app.swagger_ui_parameters or {}), "validatorUrl": None},
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        **_page_args(request, "ReDoc", "redoc", "redoc.standalone.js"), with_google_fonts=False
    )
