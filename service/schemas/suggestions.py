"""Bodies of the suggestion and explanation routes (built as plain dicts by ``service.presenter``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from features import vocab
from features.profiles import Phase, SchoolProfile
from matching.core.config import COMPONENTS
from service.presenter import card
from service.schemas.common import Strict
from service.schemas.schools import SchoolCreate

Diversity = Literal["none", "country_cap", "mmr"]


class WishOut(BaseModel):
    """One wish of one school and how the pair meets it (say it in any language from these parts)."""

    kind: Literal["country", "region", "phase", "work"] = Field(
        description="preferred countries, UN M49 regions, phases or kinds of work"
    )
    met: bool = Field(description="whether the other school meets it")
    values: list[str] = Field(description="what the pair has of it when met, else what was asked for")


class ReasonsOut(BaseModel):
    """Why a candidate suits the asking school, structured and as sentences."""

    shared_themes: list[str]
    you_want_they_offer: list[str]
    they_want_you_offer: list[str]
    shared_languages: list[str]
    overlap_hours: float
    same_region: bool
    shared_strengths: list[str] = Field(default_factory=list, description="skills both schools offer")
    both_lack: list[str] = Field(default_factory=list, description="skills both want and neither offers")
    ages: list[int] = Field(default_factory=list, description="[your min, your max, their min, their max]")
    years_in_common: int = Field(0, description="years of age both schools teach")
    suits_you: list[str] = Field(default_factory=list, description="why they suit you: your wishes they meet")
    would_want_you: list[str] = Field(
        default_factory=list, description="why they would want you: their wishes you meet"
    )
    wishes_unmet: list[str] = Field(default_factory=list, description="either school's wishes the pair does not meet")
    text_note: str | None = Field(
        None, description="the candidate's description is in a language the text model does not cover"
    )
    your_wishes: list[WishOut] = Field(default_factory=list, description="your wishes, structured, met or not")
    their_wishes: list[WishOut] = Field(default_factory=list, description="their wishes, structured, met or not")
    shown_less: str | None = Field(
        None, description="why the candidate is shown less: many unanswered partnership requests (the exposure cap)"
    )
    text: list[str]


class CandidateSummary(BaseModel):
    """The public card of a candidate school."""

    school_id: str
    name: str
    city: str | None = None
    country: str
    country_name: str
    flag: str
    phase: str
    age_min: int
    age_max: int
    languages: list[str]
    themes: list[str]

    @classmethod
    def from_profile(cls, p: SchoolProfile) -> CandidateSummary:
        """The card of a profile (``service.presenter.card``)."""
        return cls(**card(p))


class Suggestion(BaseModel):
    """One suggested partner: score, its parts (adding up to it), reasons and the candidate's card."""

    rank: int
    school_id: str
    score: float
    contributions: dict[str, float] = Field(description=f"one value per component: {', '.join(COMPONENTS)}")
    reasons: ReasonsOut
    school: CandidateSummary


class RuleCount(BaseModel):
    """How many candidates one hard constraint or filter lets through on its own."""

    rule: str
    message: str
    passing: int


class SuggestionList(BaseModel):
    """Suggestions for one school, best first."""

    query_id: str
    k: int
    n_allowed: int = Field(description="candidates that passed every hard constraint and filter")
    components: list[str]
    suggestions: list[Suggestion]
    empty_because: list[RuleCount] | None = Field(
        None, description="when nothing is allowed: each rule's passing count, so the emptying rule shows"
    )


class SuggestOptions(Strict):
    """Options of a suggestion request."""

    k: int = Field(10, ge=1, le=1000)
    countries: list[str] = Field(default_factory=list, max_length=300)
    phases: list[Phase] = Field(default_factory=list, max_length=len(vocab.PHASES))
    max_timezone_difference: float | None = Field(None, ge=0, le=12)
    diversity: Diversity | None = Field(None, description="none turns diversity off; default: the configured one")


class ProfileSuggestRequest(SuggestOptions):
    """Suggestions for a profile that is not registered; nothing is stored."""

    profile: SchoolCreate


class Blocker(BaseModel):
    """A hard constraint that blocks a pair."""

    rule: str
    message: str


class PairExplanationOut(BaseModel):
    """Why school b is (or is not) suggested to school a."""

    a: str
    b: str
    allowed: bool
    blocked_by: list[Blocker]
    score: float
    contributions: dict[str, float]
    reasons: ReasonsOut
    school: CandidateSummary
    text: list[str]
