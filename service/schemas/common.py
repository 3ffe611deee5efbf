"""Shared pieces of the request and response bodies: strict request models, pages and the problem body."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

LONE_SURROGATE = "contains a lone UTF-16 surrogate (\\ud800-\\udfff without its pair): not text; send valid Unicode"


def has_lone_surrogate(value: Any) -> bool:
    """Whether a string (or a list of them, at any depth) holds a lone UTF-16 surrogate.

    JSON lets ``"\\ud800"`` through, but such a string cannot be stored or sent back as UTF-8. Objects are left
    to their own model (a ``Strict`` one checks its fields), so that the error names the innermost field.
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, list | tuple):
        return any(has_lone_surrogate(v) for v in value)
    return False


class Strict(BaseModel):
    """A request body: unknown fields are refused, and so is text with a lone UTF-16 surrogate (422 naming the
    field; pydantic lets one through in a plain ``str``)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_lone_surrogate(cls, value: Any) -> Any:
        if has_lone_surrogate(value):
            raise PydanticCustomError("string_unicode", LONE_SURROGATE)
        return value


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
