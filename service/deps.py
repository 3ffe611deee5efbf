"""Dependencies shared by the routes: the registry, the settings, and API key checks (roles: ``service.auth``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.auth import authorize, get_principal
from service.auth.keys import API_KEY_HEADER, ApiKey, SessionCookie, key_matches
from service.config import Settings
from service.errors import AuthError
from service.registry import Registry


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


def check_write_key(settings: Settings, key: str | None) -> None:
    """401 without a key, 403 with a key that has no staff powers (staff, ``api_keys`` or admin)."""
    if not key:
        raise AuthError(401, f"this operation needs an API key in the {API_KEY_HEADER} header")
    if not key_matches(key, settings.write_keys()):
        raise AuthError(403, "the API key is not allowed to do this")


def check_read_access(settings: Settings, key: str | None) -> None:
    """Open when ``open_reads`` is on; otherwise a key is needed (read, staff, admin or site)."""
    if settings.open_reads:
        return
    if not key:
        raise AuthError(401, f"reading needs an API key in the {API_KEY_HEADER} header")
    if not key_matches(key, settings.read_keys()):
        raise AuthError(403, "the API key is not allowed to read")


async def require_write_key(settings: SettingsDep, key: ApiKey) -> None:
    """Dependency: a write key is needed (see ``check_write_key``)."""
    check_write_key(settings, key)


async def require_read_access(request: Request, settings: SettingsDep, key: ApiKey, cookie: SessionCookie) -> None:
    """Dependency: open when ``open_reads`` is on (nothing else is looked at: the hot path); otherwise a key
    or a signed-in session is needed."""
    if settings.open_reads:
        return
    authorize(await get_principal(request, key, cookie), "read")


WriteAccess = Depends(require_write_key)
ReadAccess = Depends(require_read_access)
