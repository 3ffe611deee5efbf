"""The school-facing web page (``/ui``): templates, static files and the page routes."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles


def install(app: FastAPI) -> None:
    """Add the page routes and the page's static files (``/ui/static``) to the app."""
    from service.web.common import LocaleMiddleware, templates
    from service.web.requests import intro_panel
    from service.web.requests import router as requests_router
    from service.web.routes import PREFIX, STATIC_DIR, router
    from service.web.signin import router as sign_in_router

    app.include_router(sign_in_router)
    app.include_router(router)
    app.include_router(requests_router)
    templates().env.globals["intro_panel"] = intro_panel  # the cards' "Request partnership" (issue 15)
    app.mount(PREFIX + "/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    app.add_middleware(LocaleMiddleware, prefix=PREFIX)  # the page language of each /ui request (issue 17)
