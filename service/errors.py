"""Every error the service can answer, mapped in one place to RFC 9457 problem details.

Body (``application/problem+json``, see ``service.problems``): ``{"type", "title", "status", "detail",
"errors": [{"field", "message", "value", "row", "school_id"}]}``.
422 validation (naming the field and the problem), 404 unknown id, 409 duplicate or conflicting
state, 405 (``Allow`` names every method of the path), 412 a stale ``If-Match``, 413 body over the
configured limit, 415 a body type not read, 401/403 not signed in / not allowed, 429 a rate limit,
500 anything unexpected, 503 a storage
failure (database, embedding cache, full disk: the detail says what failed and that nothing changed;
these handlers answer normally, so the keep-alive connection stays usable). Header values are never echoed,
so a key sent by mistake cannot come back in an error.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from features.errors import EncoderError, FeaturesError, FieldError, ProfileFormatError, ProfileValidationError
from matching.errors import ConfigError, DuplicateSchoolError, InfeasibleError, MatchingError, UnknownSchoolError
from service.problems import allowed_methods, problem_response, safe_text

log = logging.getLogger(__name__)

Problem = tuple[str, str, object, int | None, str | None]  # field, message, value, row, school_id


class ServiceError(Exception):
    """Root of the service's own errors; ``status`` is the HTTP status."""

    status = 400
    headers: dict[str, str] = {}  # noqa: RUF012 (read-only default; subclasses set their own per instance)

    def __init__(self, detail: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problems = list(problems)


class RequestError(ServiceError):
    """A request value is invalid (422)."""

    status = 422

    def __init__(self, field: str, message: str, value: object = None) -> None:
        super().__init__(f"{field}: {message}", [(field, message, value, None, None)])


class NotFoundError(ServiceError):
    """Something asked for does not exist (404)."""

    status = 404


class ConflictError(ServiceError):
    """The request conflicts with the stored state (409)."""

    status = 409


class PreconditionFailedError(ServiceError):
    """``If-Match`` names a version that is no longer the stored one (412); the header carries the current ETag."""

    status = 412

    def __init__(self, detail: str, school_id: str, current_etag: str) -> None:
        super().__init__(detail, [("If-Match", "does not match the current version", None, None, school_id)])
        self.headers = {"ETag": current_etag}


class StorageError(ServiceError):
    """A store the service writes to failed (503): the database, the embedding cache, a full disk.
    The detail names what failed and says that nothing was changed."""

    status = 503

    def __init__(self, what: str, exc: BaseException) -> None:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        super().__init__(
            f"{what} failed ({reason}); nothing was changed; try again later", [(what, reason, None, None, None)]
        )
        self.headers = {"Retry-After": "5"}


def storage_failure(what: str, exc: BaseException) -> StorageError:
    """A ``StorageError`` for ``exc`` (logged once, here)."""
    log.error("%s failed: %s", what, exc)
    return StorageError(what, exc)


class UnsupportedMediaTypeError(ServiceError):
    """The body's Content-Type is not one the operation reads (415)."""

    status = 415

    def __init__(self, allowed: Sequence[str], given: str | None) -> None:
        message = f"use {', '.join(allowed)}"
        problem = ("content-type", message, given, None, None)
        super().__init__(f"content-type: {given or 'none'} is not accepted; {message}", [problem])


class AuthError(ServiceError):
    """Not signed in (401: no key, no session) or not allowed (403: the key, session or token may not do this)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


class TooManyRequestsError(ServiceError):
    """A rate limit is reached (429); ``Retry-After`` says in how many seconds to try again."""

    status = 429

    def __init__(self, what: str, limit: str, retry_after: int) -> None:
        super().__init__(f"too many {what} (limit {limit}); try again in {retry_after} s")
        self.headers = {"Retry-After": str(retry_after)}


class PayloadTooLarge(StarletteHTTPException):
    """The request body is over the limit (an HTTP exception, so body parsing passes it on as it is)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body is over the limit of {max_bytes} bytes; send less or split it")


def _value(value: object) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else repr(value)
    return safe_text(text[:200])


def _problem(field: str, message: str, value: object = None, row: int | None = None, school_id: str | None = None):
    return {"field": field, "message": message, "value": _value(value), "row": row, "school_id": school_id}


def error_response(status: int, detail: str, problems: Sequence[dict[str, Any]] = (), **headers: str) -> JSONResponse:
    """The problem details response every error handler answers with (``service.problems``)."""
    return problem_response(status, detail, problems, headers)


def _field_errors(errors: Sequence[FieldError]) -> list[dict[str, Any]]:
    return [_problem(e.field, e.message, e.value, e.row, e.school_id) for e in errors]


_FIELD_PREFIX = re.compile(r"^([a-z_]+): ")


def _request_validation(exc: RequestValidationError) -> JSONResponse:
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        where = loc[0] if loc else "request"
        field = ".".join(loc[1:]) or where
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "json_invalid":  # the location is a character offset, not a field
            field = "body"
            at = f" at character {loc[1]}" if len(loc) > 1 else ""
            message = f"not valid JSON{at}: {(err.get('ctx') or {}).get('error', message)}"
            err = {**err, "input": None}
        elif err.get("type") == "missing":
            message = "is required"
        elif err.get("type") == "extra_forbidden":
            message = "unknown field"
        value = None if where in ("header", "cookie") or err.get("type") == "missing" else err.get("input")
        if isinstance(value, dict | list):
            value = None
        problems.append(_problem(field if where != "body" else (field or "body"), f"{message} (in {where})", value))
    head = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5]) or "invalid request"
    return error_response(422, f"invalid request: {head}", problems)


def install_error_handlers(app: FastAPI) -> None:
    """Map core and service errors to 4xx JSON; anything unexpected to a plain 500 without details."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _request_validation(exc)

    @app.exception_handler(ProfileValidationError)
    async def _profile(request: Request, exc: ProfileValidationError) -> JSONResponse:
        rows = {e.row for e in exc.errors}
        detail = f"{len(exc.errors)} invalid value(s)" + (
            f" in {len(rows)} row(s); nothing was stored" if rows != {None} else ""
        )
        first = "; ".join(f"{e.field}: {e.message}" for e in exc.errors[:3])
        return error_response(422, f"{detail}: {first}", _field_errors(exc.errors))

    @app.exception_handler(ProfileFormatError)
    async def _format(request: Request, exc: ProfileFormatError) -> JSONResponse:
        return error_response(422, str(exc), [_problem("body", str(exc))])

    @app.exception_handler(UnknownSchoolError)
    async def _unknown(request: Request, exc: UnknownSchoolError) -> JSONResponse:
        return error_response(404, str(exc), [_problem("school_id", "unknown school_id", exc.school_id)])

    @app.exception_handler(DuplicateSchoolError)
    async def _duplicate(request: Request, exc: DuplicateSchoolError) -> JSONResponse:
        return error_response(409, str(exc), [_problem("school_id", "already registered", exc.school_id)])

    @app.exception_handler(ConfigError)
    async def _config(request: Request, exc: ConfigError) -> JSONResponse:
        message = str(exc)
        m = _FIELD_PREFIX.match(message)
        field = m.group(1) if m else "request"
        return error_response(422, message, [_problem(field, message[m.end() :] if m else message)])

    @app.exception_handler(InfeasibleError)
    async def _infeasible(request: Request, exc: InfeasibleError) -> JSONResponse:
        return error_response(422, str(exc), [_problem("cohort", str(exc))])

    @app.exception_handler(MatchingError)
    async def _matching(request: Request, exc: MatchingError) -> JSONResponse:
        return error_response(422, str(exc))

    @app.exception_handler(EncoderError)
    async def _encoder(request: Request, exc: EncoderError) -> JSONResponse:
        log.error("encoder failure: %s", exc)
        return error_response(503, "the text encoder is not available; try again later")

    @app.exception_handler(FeaturesError)
    async def _features(request: Request, exc: FeaturesError) -> JSONResponse:
        return error_response(422, str(exc))

    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> JSONResponse:
        headers = {"WWW-Authenticate": "ApiKey"} if exc.status == 401 else dict(exc.headers)
        return error_response(exc.status, exc.detail, [_problem(*p) for p in exc.problems], **headers)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        return error_response(409, "the change conflicts with stored data (a duplicate id?); nothing was changed")

    @app.exception_handler(DBAPIError)
    async def _db_down(request: Request, exc: DBAPIError) -> JSONResponse:
        err = storage_failure("the database", exc.orig if exc.orig is not None else exc)
        return error_response(503, err.detail, [_problem(*p) for p in err.problems], **err.headers)

    @app.exception_handler(sqlite3.Error)
    async def _sqlite(request: Request, exc: sqlite3.Error) -> JSONResponse:  # a local SQLite file (the cache)
        err = storage_failure("a local SQLite store", exc)
        return error_response(503, err.detail, [_problem(*p) for p in err.problems], **err.headers)

    @app.exception_handler(OSError)
    async def _os(request: Request, exc: OSError) -> JSONResponse:  # disk full, read-only file system, ...
        err = storage_failure("the file system", exc)
        return error_response(503, err.detail, [_problem(*p) for p in err.problems], **err.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 400:  # FastAPI's "error parsing the body" (e.g. bytes that are not UTF-8)
            return error_response(422, f"body: cannot be read ({detail}); send UTF-8 JSON", [_problem("body", detail)])
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names only the first route's methods: name every one at this path
            allowed = allowed_methods(request.scope, request.app.router.routes)
            headers["Allow"] = ", ".join(allowed)
            detail = f"{request.method} is not allowed here; use {', '.join(allowed)}"
        return error_response(exc.status_code, detail, **headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error; it has been logged")


class BodySizeLimit:
    """ASGI middleware: bodies over ``max_bytes`` get 413 (by Content-Length, or while a chunked body streams)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> JSONResponse:
        return error_response(413, PayloadTooLarge(self.max_bytes).detail)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_large = int(value) > self.max_bytes
                except ValueError:
                    too_large = False
                if too_large:
                    await self._too_large()(scope, receive, send)
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except PayloadTooLarge:
            if not started:
                await self._too_large()(scope, receive, send)
