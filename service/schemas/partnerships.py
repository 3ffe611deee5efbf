"""Bodies of the partnership routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from service.schemas.common import PageOf, Strict


class PartnershipCreate(Strict):
    """An agreed partnership between two registered schools."""

    school_a: str = Field(min_length=1, max_length=64)
    school_b: str = Field(min_length=1, max_length=64)
    note: str | None = Field(None, max_length=500)


class PartnershipPublic(BaseModel):
    """A recorded partnership."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    school_a: str
    school_b: str
    note: str | None = None
    started_at: datetime
    ended_at: datetime | None = None
    active: bool


class PartnershipList(PageOf):
    """One page of partnerships, newest first."""

    items: list[PartnershipPublic]
