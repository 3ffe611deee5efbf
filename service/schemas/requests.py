"""Bodies of the partnership-request routes (issue 15)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from service.schemas.common import PageOf, Strict
from service.schemas.suggestions import CandidateSummary, ReasonsOut

DeclineReason = Literal["not_right_ages", "no_places", "language", "other"]
State = Literal["open", "accepted", "declined", "withdrawn", "expired"]


class RequestCreate(Strict):
    """A school asks another to partner (``from_school``: the school the caller acts for)."""

    from_school: str = Field(min_length=1, max_length=64)
    to_school: str = Field(min_length=1, max_length=64)
    message: str = Field("", max_length=1000, description="plain text, at most 1,000 characters; shown escaped")


class RequestDecline(Strict):
    """Declining, with an optional reason."""

    reason: DeclineReason | None = None


class RequestOut(BaseModel):
    """A partnership request."""

    id: int
    from_school: str
    to_school: str
    from_name: str
    to_name: str
    message: str
    state: State
    decline_reason: DeclineReason | None = None
    created_at: datetime
    answered_at: datetime | None = None
    expires_at: datetime
    partnership_id: int | None = Field(None, description="the partnership an accepted request made")


class IncomingRequest(BaseModel):
    """An incoming request ranked by the sender's fit for the receiver ("why they would suit you")."""

    rank: int
    score: float
    allowed: bool = Field(description="False when a hard rule now blocks the pair")
    contributions: dict[str, float]
    reasons: ReasonsOut | None = None
    school: CandidateSummary | None = Field(None, description="the sender's public card")
    request: RequestOut


class RequestList(PageOf):
    """One page of a school's requests: incoming ones ranked by fit, outgoing ones newest first."""

    box: Literal["incoming", "outgoing"]
    items: list[IncomingRequest] | list[RequestOut]


class ContactOut(BaseModel):
    """A partner's contact, shown only after both schools agreed."""

    school_id: str
    name: str
    contact_email: str | None = None
    country: str
    city: str | None = None
