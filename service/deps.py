"""Dependencies shared by the routes: the registry, the settings, and API key checks."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from service.config import Settings
from service.errors import AuthError
from service.registry import Registry

API_KEY_HEADER = "X-API-Key"
_api_key = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="a write key (or a read key where reads need one)"
)


# The dependencies are async on purpose: they do no I/O, and a sync dependency costs a hop to the
# threadpool and back on every request (measurable on the suggestion hot path).
async def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    return request.app.state.settings


async def get_registry(request: Request) -> Registry:
    """The registry loaded at start-up."""
    return request.app.state.registry


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
ApiKey = Annotated[str | None, Security(_api_key)]


def key_matches(key: str, allowed: tuple[bytes, ...]) -> bool:
    """Constant-time comparison against every allowed key (no early exit)."""
    given = key.encode("utf-8", "replace")
    ok = False
    for candidate in allowed:
        ok |= hmac.compare_digest(given, candidate)
    return ok


def check_write_key(settings: Settings, key: str | None) -> None:
    """401 without a key, 403 with a key that may not write."""
    if not key:
        raise AuthError(401, f"this operation needs an API key in the {API_KEY_HEADER} header")
    if not key_matches(key, settings.write_keys()):
        raise AuthError(403, "the API key is not allowed to do this")


def check_read_access(settings: Settings, key: str | None) -> None:
    """Open when ``open_reads`` is on; otherwise a read or write key is needed."""
    if settings.open_reads:
        return
    if not key:
        raise AuthError(401, f"reading needs an API key in the {API_KEY_HEADER} header")
    if not key_matches(key, settings.read_keys()):
        raise AuthError(403, "the API key is not allowed to read")


async def require_write_key(settings: SettingsDep, key: ApiKey) -> None:
    """Dependency: a write key is needed (see ``check_write_key``)."""
    check_write_key(settings, key)


async def require_read_access(settings: SettingsDep, key: ApiKey) -> None:
    """Dependency: reads may need a key (see ``check_read_access``)."""
    check_read_access(settings, key)


WriteAccess = Depends(require_write_key)
ReadAccess = Depends(require_read_access)
