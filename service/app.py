"""The FastAPI application: ``create_app(settings)``; the lifespan loads the model and the index once."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import iter_route_contexts
from starlette.concurrency import run_in_threadpool

from matching.core.index import process_blas_threads
from service import openapi, requests_jobs
from service.auth import RateLimits
from service.batch import BatchRunner
from service.config import Settings
from service.docs import install as install_docs
from service.errors import BodySizeLimit, install_error_handlers
from service.registry import Registry
from service.routes import (
    audit,
    batch,
    feedback,
    health,
    keys,
    partnerships,
    problems,
    requests,
    schools,
    suggestions,
)
from service.schemas import Problem
from service.versioning import API_PREFIX, LegacyPaths, api_segments
from service.web import install as install_web_page

log = logging.getLogger(__name__)

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no API key and no signed-in session"},
    403: {"model": Problem, "description": "the key or session may not do this"},
    404: {"model": Problem, "description": "unknown id"},
    409: {"model": Problem, "description": "duplicate id or conflicting state"},
    413: {"model": Problem, "description": "request body over the configured limit"},
    422: {"model": Problem, "description": "invalid request: each bad field and what is wrong"},
    429: {"model": Problem, "description": "too many requests: Retry-After says when to try again"},
    503: {"model": Problem, "description": "database or encoder unavailable"},
}

DESCRIPTION = """
Partner suggestions for UK schools and schools abroad, over a persistent registry.

Every operation is under `/v1`; the unversioned paths of before (`/schools/...`) still answer, with a
`Deprecation` header and a `Link` to the `/v1` path. Writes, batch jobs and feedback need an API key in the
`X-API-Key` header or a signed-in school's session. Roles: staff keys (any school, batch jobs, the audit
log), site keys (act for the one school named in the `X-Acting-For` header), admin keys, read keys, and
signed-in school users (their own school only; writes with the session cookie send `X-CSRF-Token`).
Reads are open unless the service is configured otherwise. Private fields (`contact_email`) appear only in
`GET /v1/schools/{school_id}/private`, for the school itself and staff. Writes are rate-limited (429 with
`Retry-After`) and recorded in the audit log (`GET /v1/audit`, staff).

Errors are RFC 9457 problem details (`application/problem+json`: `type`, `title`, `status`, `detail`) with
an `errors` list naming each bad field. Lists page alike: `offset` and `limit` in, `total`, `offset` and
`limit` out.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app. Settings are read from the environment here (not at import) unless given."""
    settings = settings if settings is not None else Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # one BLAS thread per request thread: requests run side by side in the threadpool
        with process_blas_threads(settings.blas_threads):
            # The registry's objects live as long as the process: no collections while they are built (each
            # full one walked every object made so far: seconds of a 20,000-school start-up), then they are
            # moved out of the collector's reach, or every full collection would walk them (a pause of hundreds
            # of ms in a request).
            gc.disable()
            try:
                registry = await run_in_threadpool(Registry.open, settings)
            finally:
                gc.collect()
                gc.freeze()
                gc.enable()
            app.state.registry = registry
            app.state.batch = BatchRunner(registry, workers=settings.batch_workers)
            background = requests_jobs.start_background(registry)  # mail sender, request expiry (issue 15)
            try:
                yield
            finally:
                for job in background:
                    await run_in_threadpool(job.stop)
                await run_in_threadpool(app.state.batch.shutdown)
                registry.close()

    app = FastAPI(
        title="partnermatch",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses={422: ERROR_RESPONSES[422]},
        docs_url=None,  # served by service.docs from the package's own Swagger UI assets (works offline)
        redoc_url=None,  # ReDoc loads its script from a CDN: blank offline, so only the offline /docs is served
        swagger_ui_oauth2_redirect_url=None,
        generate_unique_id_function=openapi.operation_id,
    )
    app.state.settings = settings
    app.state.rate_limits = RateLimits()  # per process, in memory (service.auth.rates)
    install_error_handlers(app)
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(health.router)
    api.include_router(problems.router, responses={404: ERROR_RESPONSES[404]})
    for module in (schools, suggestions, partnerships, requests, feedback, batch, audit, keys):
        api.include_router(module.router, responses=ERROR_RESPONSES)
    app.include_router(api)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    paths = (r.path_format or "" for r in iter_route_contexts(app.routes))
    app.add_middleware(LegacyPaths, segments=api_segments(paths))
    openapi.install(app, settings)
    install_docs(app)
    install_web_page(app)  # the school-facing page (/ui): its router and static files
    return app
