"""Bodies of the audit log routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from service.schemas.common import PageOf


class AuditEntry(BaseModel):
    """One write: who (subject and role), acting for which school, what (action, target ids), when, from where."""

    id: int
    at: datetime
    subject: str
    role: str
    acting_for: str | None = None
    action: str
    targets: list[str]
    address: str | None = None


class AuditList(PageOf):
    """One page of the audit log, newest first."""

    items: list[AuditEntry]
