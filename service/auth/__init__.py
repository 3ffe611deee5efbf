"""Who may do what (issue 14): roles and API keys, sign-in (mailed links, the site's tokens), sessions with
CSRF tokens, authorisation of every school-scoped operation, the audit log's ``Who``, and rate limits.

See docs/guides/security.md. The names below are the package's interface.
"""

from __future__ import annotations

from service.auth.apikeys import (
    KeyCache,
    KeyRecord,
    KeyRole,
    NewKey,
    create_key,
    get_key,
    list_keys,
    revoke_key,
    rotate_key,
)
from service.auth.keys import API_KEY_HEADER, SESSION_COOKIE
from service.auth.principal import ACTIONS, ANONYMOUS, Principal, Role, Via, allowed, authorize
from service.auth.rates import (
    RateLimits,
    client_address,
    limit_jwt_exchange,
    limit_sign_in,
    limit_write,
    limits_of,
)
from service.auth.resolve import (
    ACTING_FOR_HEADER,
    CSRF_HEADER,
    ApiPrincipal,
    PrincipalDep,
    current_session,
    get_api_principal,
    get_principal,
    key_cache_of,
    key_principal,
    who_of,
)
from service.auth.sessions import (
    SessionInfo,
    csrf_ok,
    end_session,
    load_session,
    session_cookie_kwargs,
    start_session,
)
from service.auth.tokens import SignInLink, issue_sign_in_link, redeem_sign_in_link, verify_site_token
from service.store.audit import Who

__all__ = [
    "ACTING_FOR_HEADER",
    "ACTIONS",
    "ANONYMOUS",
    "API_KEY_HEADER",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "ApiPrincipal",
    "KeyCache",
    "KeyRecord",
    "KeyRole",
    "NewKey",
    "Principal",
    "PrincipalDep",
    "RateLimits",
    "Role",
    "SessionInfo",
    "SignInLink",
    "Via",
    "Who",
    "allowed",
    "authorize",
    "client_address",
    "create_key",
    "csrf_ok",
    "current_session",
    "end_session",
    "get_api_principal",
    "get_key",
    "get_principal",
    "issue_sign_in_link",
    "key_cache_of",
    "key_principal",
    "limit_jwt_exchange",
    "limit_sign_in",
    "limit_write",
    "limits_of",
    "list_keys",
    "load_session",
    "redeem_sign_in_link",
    "revoke_key",
    "rotate_key",
    "session_cookie_kwargs",
    "start_session",
    "verify_site_token",
    "who_of",
]
