"""Feedback: a school accepts or declines a suggested candidate (stored with the time and the pair's score)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from service.deps import RegistryDep, WriteAccess
from service.paging import Page
from service.schemas import FeedbackCreate, FeedbackList, FeedbackPublic

router = APIRouter(prefix="/feedback", tags=["feedback"], dependencies=[WriteAccess])


@router.post("", response_model=FeedbackPublic, status_code=status.HTTP_201_CREATED, summary="Accept or decline")
def give_feedback(registry: RegistryDep, body: FeedbackCreate) -> FeedbackPublic:
    row = registry.add_feedback(body.school_id, body.candidate_id, body.decision, body.comment)
    return FeedbackPublic.model_validate(row)


@router.get("", response_model=FeedbackList, summary="Stored feedback, newest first")
def list_feedback(
    registry: RegistryDep,
    page: Page,
    school_id: Annotated[str | None, Query(max_length=64)] = None,
    candidate_id: Annotated[str | None, Query(max_length=64)] = None,
) -> FeedbackList:
    rows, total = registry.feedback(school_id, candidate_id, page.offset, page.limit)
    items = [FeedbackPublic.model_validate(r) for r in rows]
    return FeedbackList(items=items, total=total, offset=page.offset, limit=page.limit)
