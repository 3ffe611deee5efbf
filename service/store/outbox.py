"""SQL for the ``outbox`` table (issue 15): mail written in the transaction of the change it tells about.

A sender ``claim``s due rows (a lease: ``claimed_until``; a row whose lease ran out, because its sender
died, is due again), sends each with the row's own ``message_id`` and marks it ``sent`` or ``retry``.
Claiming is one short write transaction, so two senders never hold one row at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import make_msgid

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service import db

Row = db.OutboxMessage


def add(
    s: Session,
    kind: str,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    *,
    dedupe_key: str | None = None,
    domain: str = "partnermatch.invalid",
) -> Row | None:
    """Queue one mail in the caller's transaction. With ``dedupe_key``, a key already queued queues nothing
    (returns None)."""
    if dedupe_key is not None and s.scalar(select(Row.id).where(Row.dedupe_key == dedupe_key)) is not None:
        return None
    now = db.utcnow()
    row = Row(
        message_id=make_msgid(domain=domain),
        kind=kind,
        dedupe_key=dedupe_key,
        to_addr=to,
        subject=subject[:300],
        body_text=text,
        body_html=html,
        created_at=now,
        next_attempt_at=now,
        attempts=0,
    )
    s.add(row)
    return row


def _due(now: datetime):  # type: ignore[no-untyped-def]
    return (
        Row.sent_at.is_(None),
        Row.failed_at.is_(None),
        Row.next_attempt_at <= now,
        or_(Row.claimed_until.is_(None), Row.claimed_until <= now),
    )


def claim(s: Session, sender: str, now: datetime, lease: timedelta, limit: int = 20) -> list[Row]:
    """Claim up to ``limit`` due rows for ``sender`` until ``now + lease`` (in the caller's write transaction;
    on PostgreSQL the rows are locked with ``SKIP LOCKED`` so concurrent senders take different rows)."""
    stmt = select(Row).where(*_due(now)).order_by(Row.id).limit(limit)
    if s.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(s.scalars(stmt))
    for row in rows:
        row.claimed_by = sender
        row.claimed_until = now + lease
        row.attempts += 1
    return rows


def mark_sent(s: Session, row_id: int, sender: str) -> bool:
    """Mark a row sent (only while ``sender`` holds it); whether it did."""
    row = s.get(Row, row_id, with_for_update=True)
    if row is None or row.sent_at is not None or row.claimed_by != sender:
        return False
    row.sent_at = db.utcnow()
    row.claimed_until = None
    return True


def mark_retry(s: Session, row_id: int, sender: str, error: str, at: datetime, give_up: bool) -> None:
    """Record a failed attempt: retry at ``at``, or give the row up (``failed_at``) after the last attempt."""
    row = s.get(Row, row_id, with_for_update=True)
    if row is None or row.sent_at is not None or row.claimed_by != sender:
        return
    row.last_error = error[:500]
    row.claimed_until = None
    row.next_attempt_at = at
    if give_up:
        row.failed_at = db.utcnow()


def pending(s: Session) -> int:
    """Rows neither sent nor given up."""
    from sqlalchemy import func

    return int(s.scalar(select(func.count()).where(Row.sent_at.is_(None), Row.failed_at.is_(None))) or 0)
