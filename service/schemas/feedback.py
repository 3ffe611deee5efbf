"""Bodies of the feedback routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from service.schemas.common import PageOf, Strict

Decision = Literal["accept", "decline"]


class FeedbackCreate(Strict):
    """A school's decision on a suggested candidate."""

    school_id: str = Field(min_length=1, max_length=64)
    candidate_id: str = Field(min_length=1, max_length=64)
    decision: Decision
    comment: str | None = Field(None, max_length=1000)


class FeedbackPublic(BaseModel):
    """Stored feedback (with the pair's score when it was given)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    school_id: str
    candidate_id: str
    decision: Decision
    comment: str | None = None
    score: float | None = None
    created_at: datetime


class FeedbackList(PageOf):
    """One page of feedback, newest first."""

    items: list[FeedbackPublic]
