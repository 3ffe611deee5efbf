"""API keys: the header and the constant-time comparison."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Security
from fastapi.security import APIKeyCookie, APIKeyHeader

API_KEY_HEADER = "X-API-Key"
SESSION_COOKIE = "pm_session"

api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="a staff, admin or site key (a site key with X-Acting-For), or a read key where reads need one",
)
session_scheme = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="a signed-in school user's session (from the page's sign-in); writes also send X-CSRF-Token",
)
ApiKey = Annotated[str | None, Security(api_key_scheme)]
SessionCookie = Annotated[str | None, Security(session_scheme)]


def key_matches(key: str, allowed: tuple[bytes, ...]) -> bool:
    """Constant-time comparison against every allowed key (no early exit)."""
    given = key.encode("utf-8", "replace")
    ok = False
    for candidate in allowed:
        ok |= hmac.compare_digest(given, candidate)
    return ok
