"""Suggestions for a registered school or a posted profile, and explanations of a pair."""

from __future__ import annotations

from typing import Annotated

import pydantic_core
from fastapi import APIRouter, Path, Query, Response

from features.profiles import Phase
from matching.core.filters import RequestFilters, parse_filters
from service import presenter
from service.deps import ReadAccess, RegistryDep, SettingsDep
from service.errors import RequestError
from service.presenter import Suggestions
from service.routes.schools import SchoolId, profile_of
from service.schemas import Diversity, PairExplanationOut, ProfileSuggestRequest, SuggestionList

router = APIRouter(tags=["suggestions"])

Countries = Annotated[
    list[str] | None,
    Query(max_length=300, description="only candidates in these countries (repeat, or comma-separate)"),
]
Phases = Annotated[list[Phase] | None, Query(max_length=7, description="only candidates of these phases")]
MaxTz = Annotated[float | None, Query(ge=0, le=12, description="largest time-zone difference in hours")]


def make_filters(countries: list[str] | None, phases: list[str] | None, max_tz: float | None) -> RequestFilters:
    """Request filters (``parse_filters``: a 422 names the field, the value and what is allowed; UK means GB)."""
    return parse_filters(countries, phases, max_tz)


def check_k(k: int, max_k: int) -> None:
    """k within the configured maximum."""
    if k > max_k:
        raise RequestError("k", f"must be at most {max_k}", k)


def suggestion_json(suggestions: Suggestions, k: int) -> Response:
    """The presenter's response body serialised once, in pydantic-core, from plain dicts (no models built:
    about half the Python per request). The schema tests check every response against ``SuggestionList``."""
    return Response(pydantic_core.to_json(presenter.suggestion_list(suggestions, k)), media_type="application/json")


@router.get(
    "/schools/{school_id}/suggestions",
    response_model=SuggestionList,
    dependencies=[ReadAccess],
    summary="Ranked partner suggestions for a registered school",
)
async def suggest_for_school(
    registry: RegistryDep,
    settings: SettingsDep,
    school_id: SchoolId,
    k: Annotated[int, Query(ge=1, le=1000, description="how many suggestions")] = 10,
    countries: Countries = None,
    phases: Phases = None,
    max_timezone_difference: MaxTz = None,
    diversity: Annotated[Diversity | None, Query(description="none: off; default: the configured method")] = None,
) -> Response:
    check_k(k, settings.max_k)
    filters = make_filters(countries, phases, max_timezone_difference)
    # The hot path runs on the event loop: a few milliseconds of CPU-bound work (BLAS pinned to one
    # thread, GIL-bound Python otherwise) gains nothing from a threadpool hop but its overhead.
    return suggestion_json(registry.suggest(school_id, k, filters, diversity), k)


@router.post(
    "/suggestions",
    response_model=SuggestionList,
    dependencies=[ReadAccess],
    summary="Suggestions for a profile posted in the request (nothing is stored)",
)
def suggest_for_profile(registry: RegistryDep, settings: SettingsDep, body: ProfileSuggestRequest) -> Response:
    check_k(body.k, settings.max_k)
    filters = make_filters(body.countries, body.phases, body.max_timezone_difference)
    profile = profile_of(body.profile, body.profile.school_id)
    return suggestion_json(registry.suggest(profile, body.k, filters, body.diversity), body.k)


@router.get(
    "/schools/{school_id}/explain/{other_id}",
    response_model=PairExplanationOut,
    dependencies=[ReadAccess],
    summary="Why another school scores as it does for this one, or which constraints block the pair",
)
async def explain_pair(
    registry: RegistryDep,
    school_id: SchoolId,
    other_id: Annotated[str, Path(min_length=1, max_length=64)],
    countries: Countries = None,
    phases: Phases = None,
    max_timezone_difference: MaxTz = None,
) -> dict[str, object]:
    filters = make_filters(countries, phases, max_timezone_difference)
    # on the event loop, like suggestions: about a millisecond of CPU, no I/O (a threadpool hop costs more)
    return presenter.explanation_record(registry.explain(school_id, other_id, filters))
