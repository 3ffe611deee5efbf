"""Suggestions for a registered school or a posted profile, and explanations of a pair."""

from __future__ import annotations

from dataclasses import fields
from typing import Annotated

import pydantic_core
from fastapi import APIRouter, Path, Query, Response

from features.profiles import Phase, SchoolProfile
from matching.core.constraints import RequestFilters
from matching.core.explain import Reasons
from matching.core.ranker import Ranking
from service.deps import ReadAccess, RegistryDep, SettingsDep
from service.errors import RequestError
from service.routes.schools import SchoolId, profile_of
from service.schemas import (
    Blocker,
    CandidateSummary,
    Diversity,
    PairExplanationOut,
    ProfileSuggestRequest,
    ReasonsOut,
    RuleCount,
    Suggestion,
    SuggestionList,
    country_label,
)

router = APIRouter(tags=["suggestions"])

Countries = Annotated[
    list[str] | None,
    Query(max_length=300, description="only candidates in these countries (repeat, or comma-separate)"),
]
Phases = Annotated[list[Phase] | None, Query(max_length=7, description="only candidates of these phases")]
MaxTz = Annotated[float | None, Query(ge=0, le=12, description="largest time-zone difference in hours")]


def make_filters(countries: list[str] | None, phases: list[str] | None, max_tz: float | None) -> RequestFilters:
    """Request filters (422 naming the bad value)."""
    codes = tuple(c.strip().upper() for value in countries or () for c in value.split(",") if c.strip())
    return RequestFilters(countries=codes, phases=tuple(phases or ()), max_timezone_difference=max_tz)


def check_k(k: int, max_k: int) -> None:
    """k within the configured maximum."""
    if k > max_k:
        raise RequestError("k", f"must be at most {max_k}", k)


_REASON_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Reasons))


def reasons_out(reasons: Reasons) -> ReasonsOut:
    """The response form of a suggestion's reasons (no deep copy: the fields are tuples and numbers)."""
    return ReasonsOut(**{name: getattr(reasons, name) for name in _REASON_FIELDS}, text=reasons.sentences())


def suggestion_list(
    ranking: Ranking, cards: list[SchoolProfile], k: int, counts: list[tuple[str, str, int]] | None
) -> SuggestionList:
    """The response body for a ranking."""
    components = list(ranking.components)
    suggestions = [
        Suggestion(
            rank=i + 1,
            school_id=str(sid),
            score=float(score),
            contributions=dict(zip(components, contrib.tolist(), strict=True)),
            reasons=reasons_out(reasons),
            school=CandidateSummary.from_profile(card),
        )
        for i, (sid, score, contrib, reasons, card) in enumerate(
            zip(ranking.ids, ranking.scores, ranking.contributions, ranking.reasons, cards, strict=True)
        )
    ]
    return SuggestionList(
        query_id=ranking.query_id,
        k=k,
        n_allowed=ranking.n_allowed,
        components=components,
        suggestions=suggestions,
        empty_because=[RuleCount(rule=r, message=m, passing=n) for r, m, n in counts] if counts is not None else None,
    )


def card_dict(p: SchoolProfile) -> dict[str, object]:
    """``CandidateSummary.from_profile`` as a plain dict (the hot path builds no models)."""
    name, flag = country_label(p.country)
    return {
        "school_id": p.school_id, "name": p.name, "city": p.city, "country": p.country, "country_name": name,
        "flag": flag, "phase": p.phase, "age_min": p.age_min, "age_max": p.age_max, "languages": list(p.languages),
        "themes": list(p.themes),
    }  # fmt: skip


def suggestion_json(
    ranking: Ranking, cards: list[SchoolProfile], k: int, counts: list[tuple[str, str, int]] | None
) -> Response:
    """``suggestion_list`` serialised without building the models: the same JSON (``SuggestionList``), about
    half the Python per request. The schema tests check every response against the documented model."""
    components = list(ranking.components)
    suggestions = [
        {
            "rank": i + 1,
            "school_id": str(sid),
            "score": float(score),
            "contributions": dict(zip(components, contrib.tolist(), strict=True)),
            "reasons": reasons.as_dict(),
            "school": card_dict(card),
        }
        for i, (sid, score, contrib, reasons, card) in enumerate(
            zip(ranking.ids, ranking.scores, ranking.contributions, ranking.reasons, cards, strict=True)
        )
    ]
    body = {
        "query_id": ranking.query_id,
        "k": k,
        "n_allowed": ranking.n_allowed,
        "components": components,
        "suggestions": suggestions,
        "empty_because": [{"rule": r, "message": m, "passing": n} for r, m, n in counts]
        if counts is not None
        else None,
    }
    return Response(pydantic_core.to_json(body), media_type="application/json")


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
    ranking, cards, counts = registry.suggest(school_id, k, filters, diversity)
    # serialised once, in pydantic-core, from plain dicts (the model is the documented response_model)
    return suggestion_json(ranking, cards, k, counts)


@router.post(
    "/suggestions",
    response_model=SuggestionList,
    dependencies=[ReadAccess],
    summary="Suggestions for a profile posted in the request (nothing is stored)",
)
def suggest_for_profile(registry: RegistryDep, settings: SettingsDep, body: ProfileSuggestRequest) -> SuggestionList:
    check_k(body.k, settings.max_k)
    filters = make_filters(body.countries, body.phases, body.max_timezone_difference)
    profile = profile_of(body.profile, body.profile.school_id)
    ranking, cards, counts = registry.suggest(profile, body.k, filters, body.diversity)
    return suggestion_list(ranking, cards, body.k, counts)


@router.get(
    "/schools/{school_id}/explain/{other_id}",
    response_model=PairExplanationOut,
    dependencies=[ReadAccess],
    summary="Why another school scores as it does for this one, or which constraints block the pair",
)
def explain_pair(
    registry: RegistryDep,
    school_id: SchoolId,
    other_id: Annotated[str, Path(min_length=1, max_length=64)],
    countries: Countries = None,
    phases: Phases = None,
    max_timezone_difference: MaxTz = None,
) -> PairExplanationOut:
    filters = make_filters(countries, phases, max_timezone_difference)
    explanation, other = registry.explain(school_id, other_id, filters)
    return PairExplanationOut(
        a=explanation.a,
        b=explanation.b,
        allowed=explanation.allowed,
        blocked_by=[Blocker(rule=r, message=m) for r, m in explanation.blocked_by],
        score=explanation.score,
        contributions=explanation.contributions,
        reasons=reasons_out(explanation.reasons),
        school=CandidateSummary.from_profile(other),
        text=explanation.sentences(),
    )
