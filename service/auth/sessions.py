"""Sessions of signed-in school users: a random id in the ``pm_session`` cookie (stored only hashed), a
CSRF token per session, idle and absolute expiry."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from service import db, store
from service.auth.principal import Principal
from service.auth.tokens import TOKEN_BYTES, digest
from service.config import Settings
from service.store import Sessions
from service.store.audit import Who

TOUCH_EVERY = timedelta(seconds=60)  # last-seen is written at most this often (reads stay read-only)


@dataclass(frozen=True)
class SessionInfo:
    """A live session: who it signs in, its CSRF token, when it started and was last used."""

    principal: Principal
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime


def start_session(
    settings: Settings, sessions: Sessions, principal: Principal, who: Who | None = None
) -> tuple[str, str]:
    """A new session for ``principal`` (always a new random id: no fixation): ``(session_id, csrf_token)``.

    ``who`` (the principal seen from its address): the sign-in is recorded in the audit log."""
    if principal.role != "school" or not principal.school_id:
        raise ValueError(f"sessions are for school users; got role {principal.role!r}")
    session_id = secrets.token_urlsafe(TOKEN_BYTES)
    csrf = secrets.token_urlsafe(TOKEN_BYTES)
    now = db.utcnow()
    with sessions.begin(feed=False) as s:
        store.auth.add_session(s, digest(session_id), principal.role, principal.school_id, principal.subject, csrf, now)
        store.auth.prune_sessions(
            s, now - timedelta(minutes=settings.session_idle_minutes), now - timedelta(hours=settings.session_max_hours)
        )
        if who is not None:
            store.audit.add(s, who, "session.start", [principal.school_id])
    return session_id, csrf


def _expired(settings: Settings, row: db.UserSession, now: datetime) -> bool:
    return now - row.last_seen_at >= timedelta(
        minutes=settings.session_idle_minutes
    ) or now - row.created_at >= timedelta(hours=settings.session_max_hours)


def load_session(settings: Settings, sessions: Sessions, session_id: str) -> SessionInfo | None:
    """The live session with this id, or None (unknown, idle longer than ``session_idle_minutes``, or older
    than ``session_max_hours``: an expired one is deleted). Using it refreshes its last-seen time."""
    if not session_id or len(session_id) > 200:
        return None
    key = digest(session_id)
    now = db.utcnow()
    with sessions.read() as s:
        row = store.auth.session(s, key)
    if row is None:
        return None
    if _expired(settings, row, now):
        with sessions.begin(feed=False) as s:
            store.auth.delete_session(s, key)
        return None
    if now - row.last_seen_at >= min(TOUCH_EVERY, timedelta(minutes=settings.session_idle_minutes) / 10):
        with sessions.begin(feed=False) as s:
            store.auth.touch_session(s, key, now)
    principal = Principal(row.role, row.school_id, row.subject, "session")  # type: ignore[arg-type]
    return SessionInfo(principal, row.csrf_token, row.created_at, now)


def end_session(sessions: Sessions, session_id: str, who: Who | None = None) -> None:
    """Sign out: the session is deleted (nothing happens if there is none); ``who``: recorded in the audit log."""
    with sessions.begin(feed=False) as s:
        row = store.auth.session(s, digest(session_id))
        if row is not None and store.auth.delete_session(s, row.id_hash) and who is not None:
            store.audit.add(s, who, "session.end", [row.school_id or ""])


def csrf_ok(session_info: SessionInfo | None, submitted: str | None) -> bool:
    """Whether ``submitted`` is the session's CSRF token (constant-time; False without a session or a token)."""
    if session_info is None or not submitted:
        return False
    return hmac.compare_digest(submitted.encode("utf-8", "replace"), session_info.csrf_token.encode())


def session_cookie_kwargs(settings: Settings, secure: bool) -> dict[str, Any]:
    """Arguments of ``response.set_cookie(SESSION_COOKIE, session_id, **...)``: HttpOnly, SameSite=Lax,
    Secure under https, lasting at most the absolute session lifetime."""
    return {
        "httponly": True,
        "samesite": "lax",
        "secure": secure,
        "path": "/",
        "max_age": settings.session_max_hours * 3600,
    }
