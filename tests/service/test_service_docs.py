"""The API docs page works offline: Swagger UI's assets come from this server, not a CDN."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from service.app import create_app
from tests.support.api import make_settings


def test_docs_page_loads_only_local_assets(tmp_path) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        page = client.get("/docs")
        assert page.status_code == 200 and "swagger" in page.text.lower()
        urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page.text)
        urls += re.findall(r"""url:\s*['"]([^'"]+)['"]""", page.text)
        assert urls and not re.search(r"https?://", page.text.replace("http://www.w3.org", ""))
        assert {"/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css", "/openapi.json"} <= set(urls)
        for url in urls:
            assert url.startswith("/"), url
            assert client.get(url).status_code == 200, url
        assert client.get("/docs/oauth2-redirect").status_code == 200


def test_no_docs_page_that_needs_a_cdn(tmp_path) -> None:
    """ReDoc's page loads its script from a CDN (blank offline): it is not served."""
    with TestClient(create_app(make_settings(tmp_path))) as client:
        assert client.get("/redoc").status_code == 404
