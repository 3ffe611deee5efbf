"""SQL for the ``feedback`` table."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import db


def add(s: Session, school_id: str, candidate_id: str, decision: str, comment: str | None, score: float) -> db.Feedback:
    """A new feedback row (the pair's score now)."""
    row = db.Feedback(
        school_id=school_id,
        candidate_id=candidate_id,
        decision=decision,
        comment=comment,
        score=float(score),
        created_at=db.utcnow(),
    )
    s.add(row)
    return row


def page(
    s: Session, school_id: str | None = None, candidate_id: str | None = None, offset: int = 0, limit: int = 100
) -> tuple[list[db.Feedback], int]:
    """Stored feedback, newest first, and the total matching."""
    stmt = select(db.Feedback)
    if school_id:
        stmt = stmt.where(db.Feedback.school_id == school_id)
    if candidate_id:
        stmt = stmt.where(db.Feedback.candidate_id == candidate_id)
    total = int(s.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    found = s.scalars(stmt.order_by(db.Feedback.id.desc()).offset(offset).limit(limit)).all()
    return list(found), total
