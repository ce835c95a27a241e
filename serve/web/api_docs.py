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


def _urls(request: Request) -> tuple[str, str]:
    """(the OpenAPI document's URL, the URL prefix of the service), behind a proxy's root path too."""
    root = request.scope.get("root_path", "").rstrip("/")
    return f"{root}{request.app.openapi_url}", root


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    openapi_url, root = _urls(request)
    return get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{request.app.title} - API (Swagger UI)",
        swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{root}{FAVICON_URL}",
        swagger_ui_parameters={**(request.app.swagger_ui_parameters or {}), "validatorUrl": None},
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    openapi_url, root = _urls(request)
    return get_redoc_html(
        openapi_url=openapi_url,
        title=f"{request.app.title} - API (ReDoc)",
        redoc_js_url=f"{root}{DOCS_ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{FAVICON_URL}",
        with_google_fonts=False,
    )
