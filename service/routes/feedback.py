"""Feedback: a school accepts or declines a suggested candidate (stored with the time and the pair's score).

A school's choices are its own: only the school itself (signed in, or the site acting for it) and staff
write or read them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from service.auth import ApiPrincipal, authorize, who_of
from service.deps import RegistryDep
from service.paging import Page
from service.schemas import FeedbackCreate, FeedbackList, FeedbackPublic

router = APIRouter(prefix="/feedback", tags=["feedback"])


@router.post(
    "",
    response_model=FeedbackPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Accept or decline (the school itself, the site for it, or staff)",
)
def give_feedback(
    request: Request, registry: RegistryDep, principal: ApiPrincipal, body: FeedbackCreate
) -> FeedbackPublic:
    authorize(principal, "feedback.write", body.school_id)
    row = registry.add_feedback(
        body.school_id, body.candidate_id, body.decision, body.comment, who=who_of(request, principal)
    )
    return FeedbackPublic.model_validate(row)


@router.get(
    "",
    response_model=FeedbackList,
    summary="Stored feedback, newest first (one school's: that school or staff; every school's: staff)",
)
def list_feedback(
    registry: RegistryDep,
    principal: ApiPrincipal,
    page: Page,
    school_id: Annotated[str | None, Query(max_length=64)] = None,
    candidate_id: Annotated[str | None, Query(max_length=64)] = None,
) -> FeedbackList:
    authorize(principal, "feedback.read", school_id)
    rows, total = registry.feedback(school_id, candidate_id, page.offset, page.limit)
    items = [FeedbackPublic.model_validate(r) for r in rows]
    return FeedbackList(items=items, total=total, offset=page.offset, limit=page.limit)
