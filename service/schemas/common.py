"""Shared pieces of the request and response bodies: strict request models, pages and the problem body."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class PageOf(BaseModel):
    """The paging fields of every list: the items matching in all, and the page's offset and limit."""

    total: int = Field(description="items matching, over all pages")
    offset: int = Field(description="items skipped before this page")
    limit: int = Field(description="the page's size at most")


class FieldProblem(BaseModel):
    """One bad value: where, what it was (never a secret), what is wrong."""

    field: str
    message: str
    value: str | None = None
    row: int | None = None
    school_id: str | None = None


class Problem(BaseModel):
    """Every error response: RFC 9457 problem details (``application/problem+json``) with each bad field."""

    type: str = Field(description="a URI reference naming the kind of problem; GET it for a description")
    title: str = Field(description="the kind of problem, the same for every problem of this type")
    status: int = Field(description="the HTTP status code")
    detail: str = Field(description="what went wrong with this request, and what to change")
    errors: list[FieldProblem] = Field(default_factory=list, description="each bad field and what is wrong with it")


ErrorBody = Problem  # the name used before the body followed RFC 9457


class ProblemTypeOut(BaseModel):
    """What a problem ``type`` means."""

    type: str
    title: str
    status: int
    description: str
