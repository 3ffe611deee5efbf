"""Bodies of the school routes. ``SchoolPublic`` never carries ``contact_email``; only ``SchoolPrivate`` does.

Request models check shapes and ranges; the meaning (country codes, languages, themes, time zones,
consistency) is checked by ``features.profiles.validate_profile``, the same code that loads files.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from features import vocab
from features.profiles import IsaStatus, OptionalIsoDate, Phase, SchoolProfile, Skills, UkNation
from service.presenter import country_label
from service.schemas.common import PageOf, Strict

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
    "preferred_countries": ["GB"],
    "preferred_regions": [],
    "preferred_phases": ["primary"],
    "kinds_of_work": ["video_exchanges", "pen_pals"],
}
_WISHES = "what the school wants from a partner; empty: no preference"
_COUNTRIES_DOC = f"{_WISHES}: ISO 3166-1 alpha-2 codes of the countries it would like partners in (the UK is GB)"
_REGIONS_DOC = f"{_WISHES}: UN M49 regions or sub-regions, by code (150) or name (Europe, Sub-Saharan Africa)"
_PHASES_DOC = f"{_WISHES}: the partner's phases ({', '.join(vocab.PHASES)})"
_LANGUAGE_DOC = "ISO 639-1 code of the description's language; detected from the description when not given"
_KINDS_DOC = f"{_WISHES}: kinds of work ({', '.join(vocab.KINDS_OF_WORK)})"


class SchoolWrite(Strict):
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
    last_active: OptionalIsoDate = None
    contact_email: str | None = Field(None, max_length=254, description="private: shown only to a write key")
    preferred_countries: list[str] = Field(default_factory=list, max_length=60, description=_COUNTRIES_DOC)
    preferred_regions: list[str] = Field(default_factory=list, max_length=22, description=_REGIONS_DOC)
    preferred_phases: list[Phase] = Field(default_factory=list, max_length=7, description=_PHASES_DOC)
    kinds_of_work: list[str] = Field(default_factory=list, max_length=4, description=_KINDS_DOC)
    description_language: str | None = Field(None, max_length=8, description=_LANGUAGE_DOC)


class SchoolCreate(SchoolWrite):
    """A new school."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [SCHOOL_EXAMPLE]})

    school_id: str = Field(min_length=1, max_length=64, description="letters, digits and _ . : -")


class SchoolUpdate(Strict):
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
    last_active: OptionalIsoDate = None
    contact_email: str | None = Field(None, max_length=254)
    preferred_countries: list[str] | None = Field(None, max_length=60, description=_COUNTRIES_DOC)
    preferred_regions: list[str] | None = Field(None, max_length=22, description=_REGIONS_DOC)
    preferred_phases: list[Phase] | None = Field(None, max_length=7, description=_PHASES_DOC)
    kinds_of_work: list[str] | None = Field(None, max_length=4, description=_KINDS_DOC)
    description_language: str | None = Field(None, max_length=8, description=_LANGUAGE_DOC)


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
    preferred_countries: list[str] = []
    preferred_regions: list[str] = []
    preferred_phases: list[str] = []
    kinds_of_work: list[str] = []
    description_language: str | None = Field(None, description=_LANGUAGE_DOC)

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


class SchoolList(PageOf):
    """One page of schools."""

    items: list[SchoolPublic]


class ImportResult(BaseModel):
    """What a bulk import did."""

    created: list[str]
    updated: list[str]
