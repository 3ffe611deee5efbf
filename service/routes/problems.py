"""The problem types: what each error ``type`` URI means (RFC 9457 recommends that it answers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from service.errors import NotFoundError
from service.problems import PROBLEM_TYPES
from service.schemas import ProblemTypeOut

router = APIRouter(prefix="/problems", tags=["problems"])


@router.get("/{slug}", response_model=ProblemTypeOut, summary="What an error's problem type means")
def problem_type(
    slug: Annotated[str, Path(max_length=64, description="the last part of a problem's type")],
) -> ProblemTypeOut:
    kind = PROBLEM_TYPES.get(slug)
    if kind is None:
        raise NotFoundError(
            f"slug: no problem type {slug!r}; known: {', '.join(PROBLEM_TYPES)}",
            [("slug", "unknown problem type", slug, None, None)],
        )
    return ProblemTypeOut(type=kind.uri, title=kind.title, status=kind.status, description=kind.description)
