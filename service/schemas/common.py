"""Shared pieces of the request and response bodies: strict request models and the error body."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class FieldProblem(BaseModel):
    """One bad value: where, what it was (never a secret), what is wrong."""

    field: str
    message: str
    value: str | None = None
    row: int | None = None
    school_id: str | None = None


class ErrorBody(BaseModel):
    """Every error response."""

    detail: str
    errors: list[FieldProblem] = Field(default_factory=list)
