"""SQL for the ``partnerships`` table."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from service import db
from service.errors import NotFoundError
from service.store.schools import chunks


def active_partners(s: Session, school_ids: Sequence[str]) -> dict[str, set[str]]:
    """Each school's partners by the active recorded partnerships."""
    out: dict[str, set[str]] = {sid: set() for sid in school_ids}
    for chunk in chunks(list(school_ids)):
        found = s.scalars(
            select(db.Partnership).where(
                db.Partnership.ended_at.is_(None),
                or_(db.Partnership.school_a.in_(chunk), db.Partnership.school_b.in_(chunk)),
            )
        )
        for p in found:
            if p.school_a in out:
                out[p.school_a].add(p.school_b)
            if p.school_b in out:
                out[p.school_b].add(p.school_a)
    return out


def end_all_of(s: Session, school_id: str) -> None:
    """End every active partnership of a school (now)."""
    now = db.utcnow()
    for p in s.scalars(
        select(db.Partnership).where(
            db.Partnership.ended_at.is_(None),
            or_(db.Partnership.school_a == school_id, db.Partnership.school_b == school_id),
        )
    ):
        p.ended_at = now


def add(s: Session, a: str, b: str, note: str | None) -> db.Partnership:
    """A new active partnership row."""
    row = db.Partnership(school_a=a, school_b=b, note=note, started_at=db.utcnow())
    s.add(row)
    return row


def active_between(s: Session, a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` have an active recorded partnership (either way round)."""
    pair = or_(
        and_(db.Partnership.school_a == a, db.Partnership.school_b == b),
        and_(db.Partnership.school_a == b, db.Partnership.school_b == a),
    )
    return s.scalar(select(db.Partnership.id).where(db.Partnership.ended_at.is_(None), pair).limit(1)) is not None


def get(s: Session, partnership_id: int, lock: bool = False) -> db.Partnership:
    """One partnership (404 if unknown); ``lock``: ``SELECT ... FOR UPDATE`` (PostgreSQL)."""
    row = s.get(db.Partnership, partnership_id, with_for_update=lock or None)
    if row is None:
        raise NotFoundError(f"unknown partnership id {partnership_id}")
    return row


def page(
    s: Session, school_id: str | None = None, active: bool | None = None, offset: int = 0, limit: int = 100
) -> tuple[list[db.Partnership], int]:
    """Recorded partnerships, newest first, and the total matching."""
    stmt = select(db.Partnership)
    if school_id:
        stmt = stmt.where(or_(db.Partnership.school_a == school_id, db.Partnership.school_b == school_id))
    if active is not None:
        stmt = stmt.where(db.Partnership.ended_at.is_(None) if active else db.Partnership.ended_at.is_not(None))
    total = int(s.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    found = s.scalars(stmt.order_by(db.Partnership.id.desc()).offset(offset).limit(limit)).all()
    return list(found), total
