"""Partnerships: record an agreed one (capacities change), list, read, end."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status

from service.auth import ApiPrincipal, authorize, who_of
from service.db import Partnership
from service.deps import ReadAccess, RegistryDep
from service.paging import Page
from service.schemas import PartnershipCreate, PartnershipList, PartnershipPublic

router = APIRouter(prefix="/partnerships", tags=["partnerships"])

PartnershipId = Annotated[int, Path(ge=1, le=2**62, description="the partnership's id")]


def public(p: Partnership) -> PartnershipPublic:
    """The response body of a partnership."""
    return PartnershipPublic(
        id=p.id,
        school_a=p.school_a,
        school_b=p.school_b,
        note=p.note,
        started_at=p.started_at,
        ended_at=p.ended_at,
        active=p.ended_at is None,
    )


@router.post(
    "",
    response_model=PartnershipPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Record an agreed partnership (both schools' partner lists and free capacity change; staff)",
)
def record_partnership(
    request: Request, registry: RegistryDep, principal: ApiPrincipal, body: PartnershipCreate
) -> PartnershipPublic:
    authorize(principal, "partnership.write")
    who = who_of(request, principal)
    return public(registry.record_partnership(body.school_a, body.school_b, body.note, who=who))


@router.get("", response_model=PartnershipList, dependencies=[ReadAccess], summary="Recorded partnerships")
def list_partnerships(
    registry: RegistryDep,
    page: Page,
    school_id: Annotated[str | None, Query(max_length=64)] = None,
    active: bool | None = None,
) -> PartnershipList:
    rows, total = registry.partnerships(school_id, active, page.offset, page.limit)
    return PartnershipList(items=[public(p) for p in rows], total=total, offset=page.offset, limit=page.limit)


@router.get("/{partnership_id}", response_model=PartnershipPublic, dependencies=[ReadAccess], summary="A partnership")
def read_partnership(registry: RegistryDep, partnership_id: PartnershipId) -> PartnershipPublic:
    return public(registry.partnership(partnership_id))


@router.post(
    "/{partnership_id}/end",
    response_model=PartnershipPublic,
    summary="End a partnership (both schools get the place back; the record stays as history; staff)",
)
def end_partnership(
    request: Request, registry: RegistryDep, principal: ApiPrincipal, partnership_id: PartnershipId
) -> PartnershipPublic:
    authorize(principal, "partnership.write")
    return public(registry.end_partnership(partnership_id, who=who_of(request, principal)))
