"""`/docs` (Swagger UI) and `/redoc` (ReDoc) work on a network without internet: every script, style
sheet and icon they reference is served by the service itself, and answers with real content."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest


class _Refs(HTMLParser):
    """Every URL an HTML page makes the browser load: src/href attributes and ReDoc's spec-url."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []  # (tag, url)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "spec-url") and value:
                self.urls.append((tag, value))


def _refs(html: str) -> list[tuple[str, str]]:
    parser = _Refs()
    parser.feed(html)
    # Swagger UI is told its OpenAPI document in an inline script: `url: '/openapi.json'`
    parser.urls += [("script-config", u) for u in re.findall(r"""\burl:\s*['"]([^'"]+)['"]""", html)]
    return parser.urls


def _is_local(url: str) -> bool:
    return url.startswith("/") and not url.startswith("//")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    """The real app (serve.api.create_app) on a fresh data dir; no model needed for the docs pages."""
    from fastapi.testclient import TestClient

    from serve.api import create_app
    from serve.settings import load_settings

    data: Path = tmp_path_factory.mktemp("api-docs")
    settings = load_settings(data_dir=data, bootstrap=False, job_workers=0, model_path=data / "no-model.onnx")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("page", "scripts", "styles"),
    [("/docs", ["swagger-ui-bundle.js"], ["swagger-ui.css"]), ("/redoc", ["redoc.standalone.js"], [])],
)
def test_docs_page_loads_only_local_assets(client, page: str, scripts: list[str], styles: list[str]):
    answer = client.get(page)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    html = answer.text
    refs = _refs(html)
    assert refs, "no asset found in the page"
    remote = [url for _, url in refs if not _is_local(url)]
    assert not remote, f"URLs on other hosts: {remote}"
    assert "http://" not in html and "https://" not in html and "fonts.googleapis" not in html

    script_urls = [url for tag, url in refs if tag == "script"]
    style_urls = [url for tag, url in refs if tag == "link" and url.endswith(".css")]
    assert sorted(url.rsplit("/", 1)[-1] for url in script_urls) == sorted(scripts)
    assert sorted(url.rsplit("/", 1)[-1] for url in style_urls) == sorted(styles)

    for url in script_urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert "javascript" in asset.headers["content-type"], (url, asset.headers["content-type"])
        assert len(asset.content) > 100_000, url  # the real bundle, not a placeholder
    for url in style_urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].startswith("text/css"), (url, asset.headers["content-type"])
        assert len(asset.content) > 10_000 and b"swagger-ui" in asset.content, url
    for tag, url in refs:
        if tag not in ("script", "link"):
            assert client.get(url).status_code == 200, url  # the OpenAPI document, the icon


def test_the_swagger_bundle_is_swagger_ui_and_redoc_is_redoc(client):
    assert b"SwaggerUIBundle" in client.get("/static/api-docs/swagger-ui-bundle.js").content
    assert b"Redoc" in client.get("/static/api-docs/redoc.standalone.js").content


def test_the_inspector_page_static_files_are_still_served(client):
    answer = client.get("/static/app.js")
    assert answer.status_code == 200 and answer.content
