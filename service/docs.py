"""The API docs page (``/docs``) with Swagger UI's assets served by this app, so it works offline.

FastAPI's self-hosted docs recipe: the app is created with ``docs_url=None``; this module mounts the
assets bundled in the ``swagger-ui-bundle`` package at ``/docs/static`` and serves a ``/docs`` page
that loads them from there (no CDN).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

DOCS_URL = "/docs"
STATIC_URL = DOCS_URL + "/static"
OAUTH2_REDIRECT_URL = DOCS_URL + "/oauth2-redirect"


def install(app: FastAPI) -> None:
    """Add ``/docs`` (Swagger UI), its static assets and its OAuth2 redirect page to an app made with
    ``docs_url=None``."""
    app.mount(STATIC_URL, StaticFiles(directory=swagger_ui_path), name="docs-static")

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"),
            title=f"{app.title} - API docs",
            swagger_js_url=root + STATIC_URL + "/swagger-ui-bundle.js",
            swagger_css_url=root + STATIC_URL + "/swagger-ui.css",
            swagger_favicon_url=root + STATIC_URL + "/favicon-32x32.png",
            oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
        )

    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.add_api_route(DOCS_URL, swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route(OAUTH2_REDIRECT_URL, oauth2_redirect, methods=["GET"], include_in_schema=False)
