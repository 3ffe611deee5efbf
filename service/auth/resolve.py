"""Resolving who asks: ``X-API-Key`` (with ``X-Acting-For`` for a site key), else the session cookie, else
anonymous. Without a key and a cookie nothing touches the database (the suggestion hot path)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from service.auth.keys import API_KEY_HEADER, ApiKey, SessionCookie, key_matches
from service.auth.principal import ANONYMOUS, Principal
from service.auth.rates import client_address, limit_write
from service.auth.sessions import SessionInfo, csrf_ok, load_session
from service.auth.tokens import digest
from service.config import Settings
from service.errors import AuthError, RequestError
from service.store.audit import Who

ACTING_FOR_HEADER = "X-Acting-For"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
KEY_ROLES = ("admin", "staff", "site", "reader")  # the first that matches wins


def key_principal(settings: Settings, key: str, acting_for: str | None) -> Principal:
    """The principal of an API key (403 if the key is not configured); a site key acts for ``acting_for``."""
    matched = [role for role in KEY_ROLES if key_matches(key, settings.keys_of(role))]  # every list compared
    if not matched:
        raise AuthError(403, f"the API key in {API_KEY_HEADER} is not one this service knows")
    role = matched[0]
    subject = f"{role} key sha256:{digest(key)[:12]}"
    if acting_for is not None:
        acting_for = acting_for.strip()
        if role != "site":
            raise RequestError(ACTING_FOR_HEADER, f"only a site key acts for a school; this is a {role} key")
        if not acting_for or len(acting_for) > 64:
            raise RequestError(ACTING_FOR_HEADER, "must be a school id of 1 to 64 characters", acting_for[:80])
    return Principal(role, acting_for if role == "site" else None, subject, "api_key")  # type: ignore[arg-type]


async def get_principal(request: Request, key: ApiKey = None, cookie: SessionCookie = None) -> Principal:
    """Who asks (see the module docstring); the live session, if any, is left in ``request.state.auth_session``.
    (``key`` and ``cookie`` are the request's ``X-API-Key`` header and ``pm_session`` cookie.)"""
    settings: Settings = request.app.state.settings
    request.state.auth_session = None
    if key:
        return key_principal(settings, key, request.headers.get(ACTING_FOR_HEADER))
    if not cookie:
        return ANONYMOUS
    registry = request.app.state.registry
    info = await run_in_threadpool(load_session, settings, registry.sessions, cookie)
    request.state.auth_session = info
    return info.principal if info is not None else ANONYMOUS


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def current_session(request: Request) -> SessionInfo | None:
    """The live session ``get_principal`` found (None: none, or it has not run)."""
    return getattr(request.state, "auth_session", None)


async def get_api_principal(request: Request, principal: PrincipalDep) -> Principal:
    """``get_principal`` for the API: a write made with the session cookie must carry the session's CSRF
    token in ``X-CSRF-Token``, and every write counts against the write rate limit."""
    if request.method not in SAFE_METHODS:
        if principal.via == "session" and not csrf_ok(current_session(request), request.headers.get(CSRF_HEADER)):
            raise AuthError(403, f"a write with the session cookie needs the session's CSRF token in {CSRF_HEADER}")
        limit_write(request, request.app.state.settings, principal)
    return principal


ApiPrincipal = Annotated[Principal, Depends(get_api_principal)]


def who_of(request: Request, principal: Principal) -> Who:
    """``principal`` as the audit log records it, asking from this request's client address."""
    return principal.who(client_address(request))
