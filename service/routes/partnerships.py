"""Partnerships: record an agreed one (capacities change), list, read, end."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from service.db import Partnership
from service.deps import ReadAccess, RegistryDep, WriteAccess
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
    dependencies=[WriteAccess],
    summary="Record an agreed partnership (both schools' partner lists and free capacity change)",
)
def record_partnership(registry: RegistryDep, body: PartnershipCreate) -> PartnershipPublic:
    return public(registry.record_partnership(body.school_a, body.school_b, body.note))


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
    dependencies=[WriteAccess],
    summary="End a partnership (both schools get the place back; the record stays as history)",
)
def end_partnership(registry: RegistryDep, partnership_id: PartnershipId) -> PartnershipPublic:
    return public(registry.end_partnership(partnership_id))
