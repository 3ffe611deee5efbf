"""The audit log (staff only): every write, who made it, acting for which school, when and from where."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from service import db, store
from service.auth import ApiPrincipal, authorize
from service.deps import RegistryDep
from service.paging import Page
from service.schemas import AuditEntry, AuditList

router = APIRouter(prefix="/audit", tags=["audit"])

CSV_COLUMNS = ("id", "at", "subject", "role", "acting_for", "action", "targets", "address")
Text = Annotated[str | None, Query(max_length=320)]


def entry(row: db.AuditRecord) -> AuditEntry:
    """The response body of an audit row."""
    return AuditEntry(
        id=row.id,
        at=row.at,
        subject=row.subject,
        role=row.role,
        acting_for=row.acting_for,
        action=row.action,
        targets=store.audit.targets_of(row),
        address=row.address,
    )


def csv_cell(value: str) -> str:
    """A cell a spreadsheet will not run as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@router.get(
    "",
    response_model=AuditList,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    summary="The audit log, newest first (staff; format=csv for a CSV file)",
)
def read_audit(
    request: Request,
    registry: RegistryDep,
    principal: ApiPrincipal,
    page: Page,
    subject: Text = None,
    acting_for: Annotated[str | None, Query(max_length=64, description="the school acted for")] = None,
    action: Annotated[str | None, Query(max_length=64, description="e.g. school.patch, feedback.decline")] = None,
    target: Annotated[str | None, Query(max_length=64, description="a school id (or feedback:<id>) written")] = None,
    since: Annotated[datetime | None, Query(description="at or after this time (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="before this time (ISO 8601)")] = None,
    format: Annotated[Literal["json", "csv"], Query(description="json, or csv")] = "json",
) -> AuditList | Response:
    authorize(principal, "audit.read")
    with registry.sessions.read() as s:
        rows, total = store.audit.page(
            s,
            subject=subject,
            acting_for=acting_for,
            action=action,
            target=target,
            since=since,
            until=until,
            offset=page.offset,
            limit=page.limit,
        )
    items = [entry(r) for r in rows]
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for e in items:
            cells = (e.id, e.at.isoformat(), e.subject, e.role, e.acting_for or "", e.action, ";".join(e.targets))
            writer.writerow([*(csv_cell(str(c)) for c in cells), csv_cell(e.address or "")])
        headers = {"X-Total-Count": str(total), "Content-Disposition": 'attachment; filename="audit.csv"'}
        return Response(out.getvalue(), media_type="text/csv", headers=headers)
    return AuditList(items=items, total=total, offset=page.offset, limit=page.limit)
