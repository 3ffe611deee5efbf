"""SQL for the ``api_keys`` table (keys made by the admin). Keys arrive here already hashed: no key is stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from service import db


def add(
    s: Session,
    *,
    key_id: str,
    name: str,
    role: str,
    school_id: str | None,
    key_hash: str,
    prefix: str,
    created_by: str,
    expires_at: datetime | None,
    now: datetime,
) -> db.ApiKey:
    """A new key row."""
    row = db.ApiKey(
        id=key_id,
        name=name,
        role=role,
        school_id=school_id,
        key_hash=key_hash,
        prefix=prefix,
        created_at=now,
        created_by=created_by[:320],
        expires_at=expires_at,
    )
    s.add(row)
    return row


def get(s: Session, key_id: str) -> db.ApiKey | None:
    """The key with this id, or None."""
    return s.get(db.ApiKey, key_id)


def by_hash(s: Session, key_hash: str) -> db.ApiKey | None:
    """The key whose SHA-256 is ``key_hash`` (one lookup on the unique index), or None."""
    return s.scalars(select(db.ApiKey).where(db.ApiKey.key_hash == key_hash)).one_or_none()


def page(
    s: Session,
    *,
    include_revoked: bool = False,
    role: str | None = None,
    school_id: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[db.ApiKey], int]:
    """One page of keys, newest first, and how many match in all."""
    stmt = select(db.ApiKey)
    if not include_revoked:
        stmt = stmt.where(db.ApiKey.revoked_at.is_(None))
    if role is not None:
        stmt = stmt.where(db.ApiKey.role == role)
    if school_id is not None:
        stmt = stmt.where(db.ApiKey.school_id == school_id)
    total = int(s.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = s.scalars(stmt.order_by(db.ApiKey.created_at.desc(), db.ApiKey.id).offset(offset).limit(limit)).all()
    return list(rows), total


def revoke(s: Session, key_id: str, by: str, now: datetime) -> bool:
    """Revoke a live key; False if it was revoked already (atomic: of two concurrent revokers, one wins)."""
    result = s.execute(
        update(db.ApiKey)
        .where(db.ApiKey.id == key_id, db.ApiKey.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by=by[:320])
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def expire(s: Session, key_id: str, at: datetime) -> None:
    """Make a key expire at ``at`` (or sooner, if it already expires sooner)."""
    s.execute(
        update(db.ApiKey)
        .where(db.ApiKey.id == key_id, (db.ApiKey.expires_at.is_(None)) | (db.ApiKey.expires_at > at))
        .values(expires_at=at)
        .execution_options(synchronize_session=False)
    )


def touch(s: Session, key_id: str, now: datetime) -> None:
    """Record that the key was just used."""
    s.execute(
        update(db.ApiKey)
        .where(db.ApiKey.id == key_id)
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )


def revoke_for_school(s: Session, school_id: str, by: str, now: datetime) -> list[str]:
    """Revoke every live key of a school (it is being deleted: a later school with the same id must not inherit
    them); returns their ids."""
    ids = list(s.scalars(select(db.ApiKey.id).where(db.ApiKey.school_id == school_id, db.ApiKey.revoked_at.is_(None))))
    if ids:
        s.execute(
            update(db.ApiKey)
            .where(db.ApiKey.id.in_(ids))
            .values(revoked_at=now, revoked_by=by[:320])
            .execution_options(synchronize_session=False)
        )
    return ids
