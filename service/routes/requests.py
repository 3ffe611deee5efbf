"""Partnership requests (issue 15): create, list incoming (ranked by fit) and outgoing, accept, decline,
withdraw, the partner's contact after consent, and staff's CSV export. The rules: ``service.introductions``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.responses import Response

from matching.export import csv_text
from service import introductions, requests_export
from service.auth import ApiPrincipal, Principal, PrincipalDep, who_of
from service.deps import RegistryDep
from service.introductions import IncomingItem, RequestView
from service.paging import Page
from service.schemas.requests import (
    ContactOut,
    IncomingRequest,
    RequestCreate,
    RequestDecline,
    RequestList,
    RequestOut,
    State,
)

router = APIRouter(prefix="/partnership-requests", tags=["partnership-requests"])

RequestId = Annotated[int, Path(ge=1, le=2**62, description="the partnership request's id")]
SchoolId = Annotated[str, Query(min_length=1, max_length=64, description="the school whose requests to list")]


async def acting_school(principal: ApiPrincipal) -> Principal:
    """Dependency: the caller acts for a school (checked before the body is read, so 401/403 come first)."""
    introductions.must_be_a_school(principal)
    return principal


Acting = Annotated[Principal, Depends(acting_school)]


@dataclass(frozen=True)
class CohortFilter:
    """The staff exports' query: requests created in ``[created_from, created_to]`` involving ``country``."""

    created_from: datetime | None = None
    created_to: datetime | None = None
    country: Annotated[str | None, Query(min_length=2, max_length=2)] = None


Cohort = Annotated[CohortFilter, Depends()]
CSV = {200: {"content": {"text/csv": {}}, "description": "CSV (formula cells neutralised)"}}


def public(v: RequestView) -> RequestOut:
    """The response body of a request."""
    return RequestOut(**{f: getattr(v, f) for f in RequestOut.model_fields})


def ranked(item: IncomingItem) -> IncomingRequest:
    """The response body of an incoming request with its fit."""
    return IncomingRequest(
        rank=item.rank,
        score=item.score,
        allowed=item.allowed,
        contributions=item.contributions,
        reasons=item.reasons or None,  # type: ignore[arg-type]
        school=item.school if "name" in item.school else None,  # type: ignore[arg-type]
        request=public(item.request),
    )


@router.post(
    "",
    response_model=RequestOut,
    status_code=status.HTTP_201_CREATED,
    summary="Send a partnership request (the school itself: its signed-in user or the site acting for it)",
)
def create_request(request: Request, registry: RegistryDep, principal: Acting, body: RequestCreate) -> RequestOut:
    who = who_of(request, principal)
    made = introductions.create_request(registry, principal, body.from_school, body.to_school, body.message, who=who)
    return public(made)


@router.get(
    "",
    response_model=RequestList,
    summary="A school's incoming requests, ranked by fit with reasons, or its outgoing ones (the school, staff)",
)
def list_requests(
    registry: RegistryDep,
    principal: PrincipalDep,
    page: Page,
    school_id: SchoolId,
    box: Literal["incoming", "outgoing"] = "incoming",
    state: Annotated[State | None, Query(description="only requests in this state; incoming: open by default")] = None,
    all_states: Annotated[bool, Query(description="incoming: every state, not only open ones")] = False,
) -> RequestList:
    if box == "incoming":
        wanted = None if all_states else (state or "open")
        items, total = introductions.incoming(registry, principal, school_id, wanted, page.offset, page.limit)
        return RequestList(box=box, items=[ranked(i) for i in items], total=total, offset=page.offset,
                           limit=page.limit)  # fmt: skip
    rows, total = introductions.outgoing(registry, principal, school_id, state, page.offset, page.limit)
    return RequestList(box=box, items=[public(r) for r in rows], total=total, offset=page.offset, limit=page.limit)


@router.get("/export.csv", responses=CSV, response_class=Response, summary="A cohort's requests as CSV (staff)")
def export_requests(registry: RegistryDep, principal: PrincipalDep, cohort: Cohort) -> Response:
    rows = requests_export.cohort_rows(registry, principal, cohort.created_from, cohort.created_to, cohort.country)
    return _csv(rows, requests_export.REQUEST_COLUMNS, "partnership-requests.csv")


@router.get(
    "/rates.csv", responses=CSV, response_class=Response, summary="Acceptance rates per country pair as CSV (staff)"
)
def export_rates(registry: RegistryDep, principal: PrincipalDep, cohort: Cohort) -> Response:
    rows = requests_export.cohort_rows(registry, principal, cohort.created_from, cohort.created_to, cohort.country)
    return _csv(requests_export.country_pair_rates(rows), requests_export.RATE_COLUMNS, "acceptance-rates.csv")


def _csv(rows: list[dict[str, Any]], columns: tuple[str, ...], name: str) -> Response:
    import pandas as pd

    text = csv_text(pd.DataFrame(rows, columns=list(columns)))
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/{request_id}", response_model=RequestOut, summary="A partnership request (its two schools, staff)")
def read_request(registry: RegistryDep, principal: PrincipalDep, request_id: RequestId) -> RequestOut:
    return public(introductions.get_request(registry, principal, request_id))


@router.post(
    "/{request_id}/accept",
    response_model=RequestOut,
    summary="Accept (the receiver): the partnership is recorded at once; 409 if either school has no free place",
)
def accept_request(request: Request, registry: RegistryDep, principal: Acting, request_id: RequestId) -> RequestOut:
    return public(introductions.accept(registry, principal, request_id, who=who_of(request, principal)))


@router.post("/{request_id}/decline", response_model=RequestOut, summary="Decline (the receiver), with a reason")
def decline_request(
    request: Request,
    registry: RegistryDep,
    principal: Acting,
    request_id: RequestId,
    body: RequestDecline | None = None,
) -> RequestOut:
    reason = body.reason if body else None
    return public(introductions.decline(registry, principal, request_id, reason, who=who_of(request, principal)))


@router.post("/{request_id}/withdraw", response_model=RequestOut, summary="Withdraw (the sender)")
def withdraw_request(request: Request, registry: RegistryDep, principal: Acting, request_id: RequestId) -> RequestOut:
    return public(introductions.withdraw(registry, principal, request_id, who=who_of(request, principal)))


@router.get(
    "/{request_id}/contact",
    response_model=ContactOut,
    summary="The other school's contact, once the request is accepted (its two schools only)",
)
def partner_contact(registry: RegistryDep, principal: PrincipalDep, request_id: RequestId) -> ContactOut:
    v = introductions.get_request(registry, principal, request_id)
    if principal.owns(v.to_school):
        me, other = v.to_school, v.from_school
    else:
        me, other = v.from_school, v.to_school
    c = introductions.contact_of(registry, principal, me, other)
    return ContactOut(school_id=c.school_id, name=c.name, contact_email=c.contact_email, country=c.country, city=c.city)
