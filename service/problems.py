"""RFC 9457 problem details: the media type, the problem types and the body of every error response.

Body: ``{"type", "title", "status", "detail", "errors": [{"field", "message", "value", "row", "school_id"}]}``
as ``application/problem+json``. ``type`` is a URI reference (``/v1/problems/<slug>``) that answers with a
description of the problem type. ``service.errors`` maps every error to one of these bodies.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from service.versioning import API_PREFIX

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEMS_PATH = API_PREFIX + "/problems"


@dataclass(frozen=True)
class ProblemType:
    """One kind of problem: its ``type`` slug, the HTTP status, a fixed title and what it means."""

    slug: str
    status: int
    title: str
    description: str

    @property
    def uri(self) -> str:
        """The ``type`` member: a URI reference that answers with this description."""
        return f"{PROBLEMS_PATH}/{self.slug}"


_TYPES = (
    ProblemType("bad-request", 400, "Bad request", "The request cannot be handled as sent."),
    ProblemType(
        "api-key-missing",
        401,
        "Authentication required",
        "This operation needs an API key in the X-API-Key header or a signed-in session.",
    ),
    ProblemType(
        "api-key-not-allowed",
        403,
        "Not allowed",
        "The API key, session or token sent may not do this (another school's data, or a role without the power).",
    ),
    ProblemType("not-found", 404, "Not found", "The id or path asked for does not exist; `errors` names it."),
    ProblemType(
        "method-not-allowed", 405, "Method not allowed", "The path exists but not with this method; see `Allow`."
    ),
    ProblemType("conflict", 409, "Conflict", "The request conflicts with the stored state (a duplicate id, ...)."),
    ProblemType(
        "precondition-failed", 412, "Precondition failed", "If-Match names a version that is no longer stored."
    ),
    ProblemType("body-too-large", 413, "Request body too large", "The body is over the configured limit."),
    ProblemType("unsupported-media-type", 415, "Unsupported media type", "The body's Content-Type is not accepted."),
    ProblemType(
        "invalid-request", 422, "Invalid request", "A value is invalid: `errors` names each field and what is wrong."
    ),
    ProblemType("too-many-requests", 429, "Too many requests", "Slow down; `Retry-After` says when to try again."),
    ProblemType("internal-error", 500, "Internal error", "An unexpected failure; it has been logged."),
    ProblemType("unavailable", 503, "Service unavailable", "A store or the text encoder failed; nothing changed."),
)
PROBLEM_TYPES: dict[str, ProblemType] = {t.slug: t for t in _TYPES}
BY_STATUS: dict[int, ProblemType] = {t.status: t for t in _TYPES}


def problem_type(status: int) -> ProblemType:
    """The problem type of an HTTP status (a generic one for a status without its own)."""
    found = BY_STATUS.get(status)
    if found is not None:
        return found
    return ProblemType("client-error" if status < 500 else "server-error", status, f"HTTP {status}", "")


def safe_text(text: str) -> str:
    """``text`` encodable as UTF-8: a lone UTF-16 surrogate (which cannot be) is written as ``\\udXXX``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {safe_text(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


class ProblemResponse(JSONResponse):
    """An ``application/problem+json`` response; every string in it is made encodable first, so echoing a
    value that cannot be encoded (a lone surrogate) can never turn an error into a crash."""

    media_type = PROBLEM_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        """The body as UTF-8 JSON."""
        return super().render(_clean(content))


def problem_response(
    status: int, detail: str, errors: Sequence[dict[str, Any]] = (), headers: dict[str, str] | None = None
) -> ProblemResponse:
    """The problem details response of an HTTP status."""
    kind = problem_type(status)
    body = {"type": kind.uri, "title": kind.title, "status": status, "detail": detail, "errors": list(errors)}
    return ProblemResponse(body, status_code=status, headers=headers or None)


def allowed_methods(scope: Scope, routes: Iterable[BaseRoute]) -> list[str]:
    """Every method some route accepts at the request's path (for a 405's ``Allow``), sorted."""
    methods: set[str] = set()
    for route in iter_route_contexts(list(routes)):  # FastAPI's routes, included routers flattened
        if route.methods:
            match, _ = route.matches(scope)
            if match != Match.NONE:
                methods |= route.methods
    return sorted(methods)
