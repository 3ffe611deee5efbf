"""Staff's view of the introductions (issue 15): a cohort's requests with their states and response times,
and acceptance rates per country pair, as CSV (``matching.export.csv_text``: formula cells neutralised).

A cohort is the requests created in ``[created_from, created_to)`` (either end open), optionally only
those with a school in ``country``.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime
from typing import Any

from service import store
from service.auth import Principal
from service.errors import AuthError
from service.registry import Registry

REQUEST_COLUMNS = (
    "id", "from_school", "from_country", "to_school", "to_country", "state", "decline_reason", "created_at",
    "answered_at", "response_hours", "expires_at", "partnership_id",
)  # fmt: skip
RATE_COLUMNS = (
    "from_country", "to_country", "requests", "accepted", "declined", "expired", "withdrawn", "open",
    "acceptance_rate", "median_response_hours",
)  # fmt: skip


def _staff(principal: Principal) -> None:
    if principal.role not in ("staff", "admin"):
        status = 401 if principal.role == "anonymous" else 403
        raise AuthError(status, "exporting partnership requests is for programme staff only")


def cohort_rows(
    registry: Registry,
    principal: Principal,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    country: str | None = None,
) -> list[dict[str, Any]]:
    """One record per request of the cohort (``REQUEST_COLUMNS``), oldest first."""
    _staff(principal)
    with registry.sessions.read() as s:
        rows = store.requests.between_dates(s, created_from, created_to)
        ids = sorted({r.from_school for r in rows} | {r.to_school for r in rows})
        countries = {sid: row.country for sid, row in store.schools.rows(s, ids).items()}
    out = []
    for r in rows:
        fc, tc = countries.get(r.from_school, ""), countries.get(r.to_school, "")
        if country and country not in (fc, tc):
            continue
        hours = (r.answered_at - r.created_at).total_seconds() / 3600 if r.answered_at else None
        out.append({
            "id": r.id, "from_school": r.from_school, "from_country": fc, "to_school": r.to_school,
            "to_country": tc, "state": r.state, "decline_reason": r.decline_reason or "",
            "created_at": r.created_at.isoformat(), "answered_at": r.answered_at.isoformat() if r.answered_at else "",
            "response_hours": round(hours, 2) if hours is not None else "", "expires_at": r.expires_at.isoformat(),
            "partnership_id": r.partnership_id or "",
        })  # fmt: skip
    return out


def country_pair_rates(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (sender country, receiver country): counts by state, the acceptance rate among answered and
    expired requests (accepted / (accepted + declined + expired); empty when none), and the median response
    time of the answered ones."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        groups[(rec["from_country"], rec["to_country"])].append(rec)
    out = []
    for (fc, tc), recs in sorted(groups.items()):
        n = {st: sum(1 for r in recs if r["state"] == st) for st in ("accepted", "declined", "expired", "withdrawn")}
        n["open"] = sum(1 for r in recs if r["state"] == "open")
        decided = n["accepted"] + n["declined"] + n["expired"]
        hours = [r["response_hours"] for r in recs if r["response_hours"] != "" and r["state"] != "withdrawn"]
        out.append({
            "from_country": fc, "to_country": tc, "requests": len(recs), **n,
            "acceptance_rate": round(n["accepted"] / decided, 4) if decided else "",
            "median_response_hours": round(statistics.median(hours), 2) if hours else "",
        })  # fmt: skip
    return out
