"""SQL for the ``sessions`` and ``sign_in_links`` tables. Ids and tokens arrive here already hashed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from service import db


def add_link(s: Session, token_hash: str, school_id: str, email: str, expires_at: datetime) -> db.SignInLink:
    """A new sign-in link."""
    row = db.SignInLink(
        token_hash=token_hash, school_id=school_id, email=email, created_at=db.utcnow(), expires_at=expires_at
    )
    s.add(row)
    return row


def link(s: Session, token_hash: str) -> db.SignInLink | None:
    """The link with this hash, or None."""
    return s.get(db.SignInLink, token_hash)


def use_link(s: Session, token_hash: str, now: datetime) -> bool:
    """Mark a link used; False if it was used already (atomic: of two concurrent redeemers, one wins)."""
    result = s.execute(
        update(db.SignInLink)
        .where(db.SignInLink.token_hash == token_hash, db.SignInLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def prune_links(s: Session, before: datetime) -> int:
    """Delete links that expired before ``before``; returns how many."""
    result = s.execute(delete(db.SignInLink).where(db.SignInLink.expires_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def add_session(
    s: Session, id_hash: str, role: str, school_id: str | None, subject: str, csrf_token: str, now: datetime
) -> db.UserSession:
    """A new session row."""
    row = db.UserSession(
        id_hash=id_hash,
        role=role,
        school_id=school_id,
        subject=subject[:320],
        csrf_token=csrf_token,
        created_at=now,
        last_seen_at=now,
    )
    s.add(row)
    return row


def session(s: Session, id_hash: str) -> db.UserSession | None:
    """The session with this hashed id, or None."""
    return s.get(db.UserSession, id_hash)


def touch_session(s: Session, id_hash: str, now: datetime) -> None:
    """Record that the session was used now."""
    s.execute(
        update(db.UserSession)
        .where(db.UserSession.id_hash == id_hash)
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False)
    )


def delete_session(s: Session, id_hash: str) -> bool:
    """End a session; False if there was none."""
    result = s.execute(delete(db.UserSession).where(db.UserSession.id_hash == id_hash))
    return result.rowcount == 1  # type: ignore[attr-defined]


def prune_sessions(s: Session, idle_before: datetime, created_before: datetime) -> int:
    """Delete sessions idle since before ``idle_before`` or created before ``created_before``."""
    result = s.execute(
        delete(db.UserSession).where(
            (db.UserSession.last_seen_at < idle_before) | (db.UserSession.created_at < created_before)
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def delete_sessions_of(s: Session, school_id: str) -> int:
    """End every session and unused sign-in link of a school (it is being deleted: a later school with the same id
    must not inherit them); returns how many sessions ended."""
    s.execute(delete(db.SignInLink).where(db.SignInLink.school_id == school_id))
    result = s.execute(delete(db.UserSession).where(db.UserSession.school_id == school_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
