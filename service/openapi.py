"""The OpenAPI schema as the running service behaves: errors as problem details, open reads without a
security requirement, and the maxima of ``limit`` and ``k`` as configured (not as hard-coded)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from service.config import Settings
from service.deps import require_read_access, require_write_key
from service.paging import page_params
from service.problems import PROBLEM_MEDIA_TYPE

SUGGEST_BODIES = ("SuggestOptions", "ProfileSuggestRequest")


def operation_id(route: Any) -> str:
    """A route's operation id: its function's name (``suggest_for_school``), unique across the API."""
    return route.name


def calls(dependant: Dependant) -> set[Callable[..., Any]]:
    """Every dependency a route (or dependency) runs, at any depth."""
    found: set[Callable[..., Any]] = set()
    for sub in dependant.dependencies:
        if sub.call is not None:
            found.add(sub.call)
        found |= calls(sub)
    return found


def _errors_as_problems(operation: dict[str, Any]) -> None:
    for code, response in operation.get("responses", {}).items():
        content = response.get("content", {})
        body = content.get("application/json")
        if code.isdigit() and int(code) >= 400 and body and body.get("schema", {}).get("$ref", "").endswith("/Problem"):
            content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")


def _set_maximum(operation: dict[str, Any], name: str, maximum: int) -> None:
    for param in operation.get("parameters", []):
        if param["name"] == name and param["in"] == "query":
            param["schema"]["maximum"] = maximum
            param["schema"]["default"] = min(param["schema"].get("default", maximum), maximum)


def adjust(schema: dict[str, Any], routes: list[Any], settings: Settings) -> None:
    """Make ``schema`` (FastAPI's) say what the configured service does."""
    for route in iter_route_contexts(routes):  # included routers flattened, their dependencies in each route
        if not (isinstance(route.original_route, APIRoute) and route.include_in_schema and route.dependant):
            continue
        used = calls(route.dependant)
        for method in route.methods:
            operation = schema["paths"][route.path_format][method.lower()]
            _errors_as_problems(operation)
            if settings.open_reads and require_read_access in used and require_write_key not in used:
                operation.pop("security", None)  # open: no key needed (one sent is ignored)
            if page_params in used:
                _set_maximum(operation, "limit", settings.max_page_size)
            if route.name == "suggest_for_school":
                _set_maximum(operation, "k", settings.max_k)
    components = schema.get("components", {}).get("schemas", {})
    for name in SUGGEST_BODIES:
        if name in components:
            components[name]["properties"]["k"]["maximum"] = settings.max_k


def install(app: FastAPI, settings: Settings) -> None:
    """Serve the adjusted schema at ``/openapi.json`` (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            adjust(FastAPI.openapi(app), app.routes, settings)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
