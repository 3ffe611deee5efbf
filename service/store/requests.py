"""SQL for the ``partnership_requests`` table (issue 15). State changes are decided by the caller's write
transaction (``Sessions.begin``); ``get(..., lock=True)`` is ``SELECT ... FOR UPDATE`` on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from service import db
from service.errors import NotFoundError

Row = db.PartnershipRequest


def add(s: Session, from_school: str, to_school: str, message: str, expires_at: datetime, score: float | None) -> Row:
    """A new open request (flushed: it has its id)."""
    row = Row(
        from_school=from_school,
        to_school=to_school,
        message=message,
        state="open",
        score=score,
        created_at=db.utcnow(),
        expires_at=expires_at,
    )
    s.add(row)
    s.flush()
    return row


def get(s: Session, request_id: int, lock: bool = False) -> Row:
    """One request (404 if unknown); ``lock``: ``SELECT ... FOR UPDATE`` (PostgreSQL)."""
    row = s.get(Row, request_id, with_for_update=lock or None, populate_existing=lock)
    if row is None:
        raise NotFoundError(f"unknown partnership request id {request_id}")
    return row


def open_between(s: Session, a: str, b: str) -> Row | None:
    """The open request between ``a`` and ``b`` (either way round), if any."""
    pair = or_(and_(Row.from_school == a, Row.to_school == b), and_(Row.from_school == b, Row.to_school == a))
    return s.scalar(select(Row).where(Row.state == "open", pair).limit(1))


def accepted_between(s: Session, a: str, b: str) -> bool:
    """Whether an accepted request links ``a`` and ``b`` (either way round)."""
    pair = or_(and_(Row.from_school == a, Row.to_school == b), and_(Row.from_school == b, Row.to_school == a))
    return s.scalar(select(Row.id).where(Row.state == "accepted", pair).limit(1)) is not None


def accepted_partners(s: Session, school_id: str) -> list[str]:
    """The schools an accepted request links ``school_id`` with, oldest first."""
    rows = s.execute(
        select(Row.from_school, Row.to_school)
        .where(Row.state == "accepted", or_(Row.from_school == school_id, Row.to_school == school_id))
        .order_by(Row.id)
    )
    return list(dict.fromkeys(b if a == school_id else a for a, b in rows))


def count_open_from(s: Session, school_id: str) -> int:
    """Open outgoing requests of a school."""
    return int(s.scalar(select(func.count()).where(Row.from_school == school_id, Row.state == "open")) or 0)


def unanswered_incoming(
    s: Session, school_ids: Sequence[str] | None = None, now: datetime | None = None
) -> dict[str, int]:
    """Each school's count of open incoming requests (only schools with at least one); with ``now``, only
    those not yet past their expiry (the clock expires those a little later)."""
    stmt = select(Row.to_school, func.count()).where(Row.state == "open").group_by(Row.to_school)
    if school_ids is not None:
        stmt = stmt.where(Row.to_school.in_(list(school_ids)))
    if now is not None:
        stmt = stmt.where(Row.expires_at > now)
    return {sid: int(n) for sid, n in s.execute(stmt)}


def incoming(s: Session, school_id: str, state: str | None = "open") -> list[Row]:
    """A school's incoming requests (every one, for ranking by the caller), newest first."""
    stmt = select(Row).where(Row.to_school == school_id)
    if state:
        stmt = stmt.where(Row.state == state)
    return list(s.scalars(stmt.order_by(Row.id.desc())))


def outgoing(
    s: Session, school_id: str, state: str | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[Row], int]:
    """A page of a school's outgoing requests, newest first, and the total."""
    stmt = select(Row).where(Row.from_school == school_id)
    if state:
        stmt = stmt.where(Row.state == state)
    total = int(s.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    return list(s.scalars(stmt.order_by(Row.id.desc()).offset(offset).limit(limit))), total


def due_to_expire(s: Session, now: datetime, limit: int = 500) -> list[int]:
    """Ids of open requests past their expiry."""
    stmt = select(Row.id).where(Row.state == "open", Row.expires_at <= now).order_by(Row.id).limit(limit)
    return list(s.scalars(stmt))


def due_a_reminder(s: Session, created_before: datetime, now: datetime, limit: int = 500) -> list[int]:
    """Ids of open, not yet reminded, not yet expired requests made before ``created_before``."""
    stmt = (
        select(Row.id)
        .where(Row.state == "open", Row.reminded_at.is_(None), Row.created_at <= created_before, Row.expires_at > now)
        .order_by(Row.id)
        .limit(limit)
    )
    return list(s.scalars(stmt))


def between_dates(s: Session, created_from: datetime | None, created_to: datetime | None) -> list[Row]:
    """Every request created in ``[created_from, created_to)`` (either end open), oldest first."""
    stmt = select(Row)
    if created_from is not None:
        stmt = stmt.where(Row.created_at >= created_from)
    if created_to is not None:
        stmt = stmt.where(Row.created_at < created_to)
    return list(s.scalars(stmt.order_by(Row.id)))
