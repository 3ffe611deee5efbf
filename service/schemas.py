"""Request and response bodies. ``*Public`` models never carry ``contact_email``; only ``SchoolPrivate`` does.

Request models check shapes and ranges; the meaning (country codes, languages, themes, time zones,
consistency) is checked by ``features.profiles.validate_profile``, the same code that loads files.
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from features import vocab
from features.profiles import IsaStatus, Phase, SchoolProfile, Skills, UkNation
from matching.core.config import COMPONENTS

Diversity = Literal["none", "country_cap", "mmr"]
Decision = Literal["accept", "decline"]

SCHOOL_EXAMPLE: dict[str, Any] = {
    "school_id": "ke-nairobi-042",
    "name": "Kilimani Primary School",
    "country": "KE",
    "city": "Nairobi",
    "phase": "primary",
    "age_min": 6,
    "age_max": 12,
    "languages": ["en", "sw"],
    "themes": ["sdg13_climate_action", "sdg15_life_on_land"],
    "description": "Our eco-club plants trees and runs a recycling scheme with the local market.",
    "skills_want": {"digital_literacy": 0.8, "critical_thinking": 0.6},
    "skills_offer": {"citizenship": 0.9, "collaboration": 0.7},
    "capacity": 2,
    "contact_email": "head@kilimani.example",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- schools
class SchoolWrite(_Strict):
    """A school's profile as written (no id: the id is in the path or in ``SchoolCreate``)."""

    name: str = Field(min_length=1, max_length=200)
    country: str = Field(min_length=1, max_length=60, description="ISO 3166-1 alpha-2 code (the UK is GB)")
    uk_nation: UkNation | None = None
    city: str | None = Field(None, max_length=100)
    region: str | None = Field(None, max_length=100)
    timezone: str | None = Field(None, max_length=64, description="IANA zone; default: the country's main zone")
    phase: Phase
    age_min: int = Field(ge=vocab.AGE_MIN, le=vocab.AGE_MAX)
    age_max: int = Field(ge=vocab.AGE_MIN, le=vocab.AGE_MAX)
    languages: list[str] = Field(min_length=1, max_length=20, description="ISO 639-1 codes such as en, ar, fr")
    themes: list[str] = Field(default_factory=list, max_length=60, description="theme tags (GET /vocabulary)")
    description: str = Field("", max_length=2000)
    skills_want: Skills = Field(default_factory=Skills)
    skills_offer: Skills = Field(default_factory=Skills)
    capacity: int = Field(1, ge=0, le=100, description="partners the school can have at once")
    current_partners: list[str] = Field(default_factory=list, max_length=100)
    excluded: list[str] = Field(default_factory=list, max_length=1000)
    isa_status: IsaStatus = "none"
    staff_cpd_credits: int = Field(0, ge=0, le=10_000)
    active: bool = True
    last_active: date | None = None
    contact_email: str | None = Field(None, max_length=254, description="private: shown only to a write key")


class SchoolCreate(SchoolWrite):
    """A new school."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [SCHOOL_EXAMPLE]})

    school_id: str = Field(min_length=1, max_length=64, description="letters, digits and _ . : -")


class SchoolUpdate(_Strict):
    """A partial change: only the fields sent are changed (null clears an optional field)."""

    name: str | None = Field(None, min_length=1, max_length=200)
    country: str | None = Field(None, min_length=1, max_length=60)
    uk_nation: UkNation | None = None
    city: str | None = Field(None, max_length=100)
    region: str | None = Field(None, max_length=100)
    timezone: str | None = Field(None, max_length=64)
    phase: Phase | None = None
    age_min: int | None = Field(None, ge=vocab.AGE_MIN, le=vocab.AGE_MAX)
    age_max: int | None = Field(None, ge=vocab.AGE_MIN, le=vocab.AGE_MAX)
    languages: list[str] | None = Field(None, min_length=1, max_length=20)
    themes: list[str] | None = Field(None, max_length=60)
    description: str | None = Field(None, max_length=2000)
    skills_want: Skills | None = None
    skills_offer: Skills | None = None
    capacity: int | None = Field(None, ge=0, le=100)
    current_partners: list[str] | None = Field(None, max_length=100)
    excluded: list[str] | None = Field(None, max_length=1000)
    isa_status: IsaStatus | None = None
    staff_cpd_credits: int | None = Field(None, ge=0, le=10_000)
    active: bool | None = None
    last_active: date | None = None
    contact_email: str | None = Field(None, max_length=254)


class SchoolPublic(BaseModel):
    """A school as anyone may see it (no private field)."""

    school_id: str
    name: str
    country: str
    country_name: str
    flag: str
    uk_nation: str | None = None
    city: str | None = None
    region: str | None = None
    timezone: str | None = None
    phase: str
    age_min: int
    age_max: int
    languages: list[str]
    themes: list[str]
    description: str
    skills_want: Skills
    skills_offer: Skills
    capacity: int
    current_partners: list[str]
    free_capacity: int
    accepting_partners: bool
    excluded: list[str]
    isa_status: str
    staff_cpd_credits: int
    cpd_badge: str
    active: bool
    last_active: date | None = None

    @classmethod
    def from_profile(cls, p: SchoolProfile) -> SchoolPublic:
        """The public view of a profile."""
        return cls(**_public_fields(p))


class SchoolPrivate(SchoolPublic):
    """The owner's view: the public fields and the private contact."""

    contact_email: str | None = None

    @classmethod
    def from_profile(cls, p: SchoolProfile) -> SchoolPrivate:
        """The owner's view of a profile."""
        return cls(**_public_fields(p), contact_email=p.contact_email)


def _public_fields(p: SchoolProfile) -> dict[str, Any]:
    data = p.public_dict()
    name, flag = country_label(p.country)
    data.update(
        country_name=name,
        flag=flag,
        free_capacity=p.free_capacity,
        accepting_partners=bool(p.active and p.free_capacity > 0),
        cpd_badge=p.cpd_badge,
    )
    return data


class SchoolList(BaseModel):
    """One page of schools."""

    items: list[SchoolPublic]
    total: int
    offset: int
    limit: int


class ImportResult(BaseModel):
    """What a bulk import did."""

    created: list[str]
    updated: list[str]


# ---------------------------------------------------------------- suggestions
class ReasonsOut(BaseModel):
    """Why a candidate suits the asking school, structured and as sentences."""

    shared_themes: list[str]
    you_want_they_offer: list[str]
    they_want_you_offer: list[str]
    shared_languages: list[str]
    overlap_hours: float
    same_region: bool
    text: list[str]


@functools.lru_cache(maxsize=512)
def country_label(code: str) -> tuple[str, str]:
    """(name, flag) of a country code, looked up once per code."""
    return vocab.country_name(code), vocab.country_flag(code)


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
        """The card of a profile."""
        name, flag = country_label(p.country)
        return cls(
            school_id=p.school_id,
            name=p.name,
            city=p.city,
            country=p.country,
            country_name=name,
            flag=flag,
            phase=p.phase,
            age_min=p.age_min,
            age_max=p.age_max,
            languages=list(p.languages),
            themes=list(p.themes),
        )


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


class SuggestOptions(_Strict):
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


# ---------------------------------------------------------------- partnerships and feedback
class PartnershipCreate(_Strict):
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


class PartnershipList(BaseModel):
    """Partnerships, newest first."""

    items: list[PartnershipPublic]
    total: int


class FeedbackCreate(_Strict):
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


class FeedbackList(BaseModel):
    """Feedback, newest first."""

    items: list[FeedbackPublic]
    total: int


# ---------------------------------------------------------------- errors and health
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


class Health(BaseModel):
    """Liveness."""

    status: Literal["ok"]


class Readiness(BaseModel):
    """Readiness: the registry is loaded and the database answers."""

    status: Literal["ready", "unavailable"]
    schools: int
    encoder: str
    schema_version: int
    index_version: int
    process: int = Field(description="id of the server process that answered (one per worker)")
    detail: str | None = None


class Vocabulary(BaseModel):
    """The allowed values of the profile fields with a fixed vocabulary."""

    themes: dict[str, str]
    phases: list[str]
    skills: dict[str, str]
    isa_levels: list[str]
    components: list[str]


# ---------------------------------------------------------------- batch jobs
class BatchOptions(_Strict):
    """How a cohort is matched (``matching.batch.assignment.AssignmentOptions``)."""

    mode: Literal["optimal", "stable", "greedy"] = "optimal"
    top_k: int = Field(50, ge=1, le=1000, description="candidates kept per UK school")
    capacity: int | None = Field(None, ge=0, le=100, description="override every school's capacity this round")
    min_score: float | None = Field(None, ge=-10, le=10, description="drop pairs scoring below it")
    one_per_country: bool = False
    min_partners: int = Field(0, ge=0, le=100)
    forced_pairs: list[list[str]] = Field(default_factory=list, max_length=10_000, description="[uk_id, partner_id]")
    forbidden_pairs: list[list[str]] = Field(default_factory=list, max_length=100_000)
    countries: list[str] = Field(default_factory=list, max_length=300)
    phases: list[Phase] = Field(default_factory=list, max_length=len(vocab.PHASES))
    max_timezone_difference: float | None = Field(None, ge=0, le=12)
    explain: bool = True


class BatchCreate(_Strict):
    """A batch assignment: the cohort (school ids; leave out for the whole registry) and options."""

    cohort: list[str] | None = Field(None, max_length=500_000)
    options: BatchOptions = Field(default_factory=BatchOptions)


class BatchJobPublic(BaseModel):
    """A batch job and its progress."""

    id: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: float = Field(ge=0, le=1)
    message: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    summary: list[str] | None = None


class BatchJobList(BaseModel):
    """Batch jobs, newest first."""

    items: list[BatchJobPublic]
    total: int


class BatchResult(BaseModel):
    """A finished batch: partnerships and unmatched schools as flat records, diagnostics, summary."""

    partnerships: list[dict[str, Any]]
    unmatched: list[dict[str, Any]]
    diagnostics: dict[str, Any]
    summary: list[str]
