"""Resolving who asks: ``X-API-Key`` (with ``X-Acting-For`` for a site key), else the session cookie, else
anonymous. Keys from the settings are checked first; a ``pmk_`` key the admin made is looked up in the
database (``service.auth.apikeys``, with a short per-process cache). Without a key and a cookie, and with a
key from the settings, nothing touches the database (the suggestion hot path)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from service.auth.apikeys import KeyCache, db_key_principal, is_managed_key
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


def settings_key_role(settings: Settings, key: str) -> str | None:
    """The role of a key from the settings, or None (every list is compared, in constant time)."""
    matched = [role for role in KEY_ROLES if key_matches(key, settings.keys_of(role))]
    return matched[0] if matched else None


def acting(principal: Principal, acting_for: str | None) -> Principal:
    """A key's principal with the ``X-Acting-For`` header applied: only a site key acts for a school (422
    naming the header otherwise, or for a malformed school id)."""
    if acting_for is None:
        return principal
    acting_for = acting_for.strip()
    if principal.role != "site":
        raise RequestError(ACTING_FOR_HEADER, f"only a site key acts for a school; this is a {principal.role} key")
    if not acting_for or len(acting_for) > 64:
        raise RequestError(ACTING_FOR_HEADER, "must be a school id of 1 to 64 characters", acting_for[:80])
    return replace(principal, school_id=acting_for)


def key_principal(settings: Settings, key: str, acting_for: str | None) -> Principal:
    """The principal of a key from the settings (403 if it is not one); a site key acts for ``acting_for``."""
    role = settings_key_role(settings, key)
    if role is None:
        raise AuthError(403, f"the API key in {API_KEY_HEADER} is not one this service knows")
    principal = Principal(role, None, f"{role} key sha256:{digest(key)[:12]}", "api_key")  # type: ignore[arg-type]
    return acting(principal, acting_for)


def key_cache_of(app: Any) -> KeyCache:
    """The app's cache of keys made by the admin (made on first use; see ``service.auth.apikeys``)."""
    cache = getattr(app.state, "key_cache", None)
    if cache is None:
        cache = app.state.key_cache = KeyCache()
    return cache


async def resolve_key(request: Request, key: str) -> Principal:
    """The principal of ``X-API-Key``: a key from the settings (no database hit), else a key the admin made
    (looked up by its hash; revoked or expired: 401), else 403."""
    settings: Settings = request.app.state.settings
    acting_for = request.headers.get(ACTING_FOR_HEADER)
    if is_managed_key(key) and settings_key_role(settings, key) is None:
        sessions = request.app.state.registry.sessions
        principal = await run_in_threadpool(db_key_principal, sessions, key_cache_of(request.app), key)
        return acting(principal, acting_for)
    return key_principal(settings, key, acting_for)


async def get_principal(request: Request, key: ApiKey = None, cookie: SessionCookie = None) -> Principal:
    """Who asks (see the module docstring); the live session, if any, is left in ``request.state.auth_session``.
    (``key`` and ``cookie`` are the request's ``X-API-Key`` header and ``pm_session`` cookie.)"""
    settings: Settings = request.app.state.settings
    request.state.auth_session = None
    if key:
        return await resolve_key(request, key)
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
