"""SQL for the change log (``changes``): one row per school written, for other processes to apply."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.orm import Session

from service import db


def last_seq(conn: Connection | Session) -> int:
    """The newest change's sequence number (0 when the log is empty)."""
    return int(conn.execute(select(func.max(db.Change.seq))).scalar() or 0)


def since(s: Session, seq: int) -> list[tuple[int, str]]:
    """``(seq, school_id)`` of every change after ``seq``, in feed order."""
    found = s.execute(select(db.Change.seq, db.Change.school_id).where(db.Change.seq > seq).order_by(db.Change.seq))
    return [(int(n), str(sid)) for n, sid in found]


def prune(s: Session, before: datetime) -> None:
    """Forget the changes logged before ``before``."""
    s.execute(delete(db.Change).where(db.Change.at < before))
