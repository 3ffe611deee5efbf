"""SQL for the ``audit_log`` table: one row per write, added in the write's own transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from service import db


@dataclass(frozen=True)
class Who:
    """Who writes: the subject (user e-mail or id, or a key's label; never a key), the role, the school it acts
    for (None: none), and the client's address."""

    subject: str
    role: str
    acting_for: str | None = None
    address: str | None = None


def add(s: Session, who: Who, action: str, targets: Iterable[str | int] = ()) -> db.AuditRecord:
    """Record one write (call it inside the write's transaction)."""
    ids = [str(t) for t in targets]
    row = db.AuditRecord(
        at=db.utcnow(),
        subject=who.subject[:320],
        role=who.role,
        acting_for=who.acting_for,
        action=action,
        targets=";" + ";".join(ids) + ";" if ids else "",
        address=who.address[:64] if who.address else None,
    )
    s.add(row)
    return row


def targets_of(row: db.AuditRecord) -> list[str]:
    """The target ids of a row."""
    return [t for t in row.targets.split(";") if t]


def _filtered(
    subject: str | None,
    acting_for: str | None,
    action: str | None,
    target: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Select[tuple[db.AuditRecord]]:
    stmt = select(db.AuditRecord)
    if subject:
        stmt = stmt.where(db.AuditRecord.subject == subject)
    if acting_for:
        stmt = stmt.where(db.AuditRecord.acting_for == acting_for)
    if action:
        stmt = stmt.where(db.AuditRecord.action == action)
    if target:
        stmt = stmt.where(db.AuditRecord.targets.contains(f";{target};", autoescape=True))
    if since is not None:
        stmt = stmt.where(db.AuditRecord.at >= since)
    if until is not None:
        stmt = stmt.where(db.AuditRecord.at < until)
    return stmt


def page(
    s: Session,
    *,
    subject: str | None = None,
    acting_for: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[db.AuditRecord], int]:
    """Audit rows matching the filters, newest first, and the total matching."""
    stmt = _filtered(subject, acting_for, action, target, since, until)
    total = int(s.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = s.scalars(stmt.order_by(db.AuditRecord.id.desc()).offset(offset).limit(limit)).all()
    return list(rows), total
