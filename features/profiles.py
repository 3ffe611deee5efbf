"""School profiles: the validated input of the recommender, and loading from CSV, JSON, pandas.

A file is validated whole: every bad row and field is reported at once and nothing is loaded
unless everything is valid.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from features import vocab
from features.errors import FieldError, ProfileValidationError

Phase = Literal["nursery", "primary", "secondary", "all_through", "sixth_form", "special", "vocational"]
IsaStatus = Literal["none", "foundation", "intermediate", "full"]
UkNation = Literal["england", "scotland", "wales", "northern_ireland"]

PRIVATE_FIELDS: frozenset[str] = frozenset({"contact_email"})
LIST_FIELDS: tuple[str, ...] = (
    "languages",
    "themes",
    "current_partners",
    "excluded",
    "preferred_countries",
    "preferred_regions",
    "preferred_phases",
    "kinds_of_work",
)
WISH_FIELDS: tuple[str, ...] = ("preferred_countries", "preferred_regions", "preferred_phases", "kinds_of_work")
"""What a school wants from a partner (optional; empty: no preference)."""
LIST_SEPARATOR = ";"
MAX_DESCRIPTION = 2000
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")

_SHARED_FIELD_SETS: dict[frozenset[str], set[str]] = {}
_MAX_SHARED_FIELD_SETS = 4096  # distinct combinations of fields given; in practice a few dozen


def _share_fields_set(model: BaseModel) -> None:
    """Point a frozen model's ``__pydantic_fields_set__`` at one set shared by every model given the same fields.

    Pydantic keeps a set of the fields given per instance (~2.2 KB for a profile, ~0.7 KB per ``Skills``: more
    than half of a profile's memory). It only ever adds to it when a field is assigned, which a frozen model
    refuses first, and ``model_copy`` copies it before adding the updated fields, so frozen models may share it.
    Pickling keeps the sharing (pickle stores a shared object once).
    """
    fields = model.__pydantic_fields_set__
    shared = _SHARED_FIELD_SETS.get(frozenset(fields))
    if shared is None:
        if len(_SHARED_FIELD_SETS) >= _MAX_SHARED_FIELD_SETS:
            return
        shared = _SHARED_FIELD_SETS.setdefault(frozenset(fields), fields)
    object.__setattr__(model, "__pydantic_fields_set__", shared)


_EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Free text may hold tabs and line breaks; no field may hold another control character (C0, DEL, C1)
# or a lone UTF-16 surrogate (which no UTF-8 text can hold).
FREE_TEXT_FIELDS: frozenset[str] = frozenset({"description"})
DATE_FIELDS: tuple[str, ...] = ("last_active",)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_FREE_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def text_problem(text: str, free_text: bool = False) -> str | None:
    """Why ``text`` cannot be stored (a lone surrogate or a control character), or None when it can."""
    if m := _SURROGATE.search(text):
        return f"holds a lone UTF-16 surrogate (U+{ord(m.group()):04X}) at position {m.start()}; send valid Unicode"
    m = (_FREE_TEXT_CONTROL if free_text else _CONTROL).search(text)
    if m:
        allowed = "only tab and line breaks are allowed in free text" if free_text else "none are allowed here"
        return f"holds the control character U+{ord(m.group()):04X} at position {m.start()}; {allowed}"
    return None


def parse_date(v: Any) -> date | None:
    """A date field's value: a date, an ISO ``YYYY-MM-DD`` text, or blank (None); never a number or a time.

    (Left to pydantic, ``0`` would be read as a Unix time: 1970-01-01.)"""
    allowed = "a date written YYYY-MM-DD (ISO 8601)"
    if v is None or (isinstance(v, date) and not isinstance(v, datetime)):
        return v
    if isinstance(v, datetime):
        if v.time() != datetime.min.time() or v.tzinfo is not None:
            raise ValueError(f"must be {allowed}, not a date and time")
        return v.date()
    if isinstance(v, str):
        text = v.strip()
        if not text:
            return None
        if not _ISO_DATE.match(text):
            raise ValueError(f"must be {allowed}")
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"must be {allowed}; {text} is not a day of the calendar") from None
    kind = "true/false" if isinstance(v, bool) else "a number" if isinstance(v, (int, float)) else type(v).__name__
    raise ValueError(f"must be {allowed}, not {kind}")


OptionalIsoDate = Annotated[date | None, BeforeValidator(parse_date)]
"""The type of every date field (the API's schemas use it too)."""


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _strings(item)


class Skills(BaseModel):
    """A level in [0, 1] for each of the programme's six core skills."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    critical_thinking: float = Field(0.0, ge=0.0, le=1.0)
    creativity: float = Field(0.0, ge=0.0, le=1.0)
    digital_literacy: float = Field(0.0, ge=0.0, le=1.0)
    citizenship: float = Field(0.0, ge=0.0, le=1.0)
    student_leadership: float = Field(0.0, ge=0.0, le=1.0)
    collaboration: float = Field(0.0, ge=0.0, le=1.0)

    def model_post_init(self, context: Any, /) -> None:
        _share_fields_set(self)

    def as_tuple(self) -> tuple[float, ...]:
        """Levels in the order of ``vocab.SKILLS``."""
        return _SKILL_LEVELS(self)


_SKILL_LEVELS = operator.attrgetter(*vocab.SKILLS)


class SchoolProfile(BaseModel):
    """One school. ``contact_email`` is private: ``public_dict`` and every output leave it out."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    school_id: str
    name: str = Field(min_length=1, max_length=200)
    country: str
    uk_nation: UkNation | None = None
    city: str | None = Field(None, max_length=100)
    region: str | None = Field(None, max_length=100)
    timezone: str | None = None
    phase: Phase
    age_min: int = Field(ge=vocab.AGE_MIN, le=vocab.AGE_MAX)
    age_max: int = Field(ge=vocab.AGE_MIN, le=vocab.AGE_MAX)
    languages: tuple[str, ...] = Field(min_length=1)
    themes: tuple[str, ...] = ()
    description: str = Field("", max_length=MAX_DESCRIPTION)
    skills_want: Skills = Skills()
    skills_offer: Skills = Skills()
    capacity: int = Field(1, ge=0, le=100)
    current_partners: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    isa_status: IsaStatus = "none"
    staff_cpd_credits: int = Field(0, ge=0, le=10_000)
    active: bool = True
    last_active: OptionalIsoDate = None
    contact_email: str | None = Field(None, repr=False, max_length=254)
    # what the school wants from a partner (optional; empty: any)
    preferred_countries: tuple[str, ...] = Field((), max_length=60)
    preferred_regions: tuple[str, ...] = Field((), max_length=22)
    preferred_phases: tuple[Phase, ...] = Field((), max_length=7)
    kinds_of_work: tuple[str, ...] = Field((), max_length=4)
    # ISO 639-1 language of the description (features.langid detects it when not given)
    description_language: str | None = None

    def model_post_init(self, context: Any, /) -> None:
        _share_fields_set(self)

    @field_validator("school_id")
    @classmethod
    def _check_id(cls, v: str) -> str:
        if not _ID_PATTERN.match(v):
            raise ValueError("must be 1-64 characters: letters, digits and _ . : - (starting with a letter or digit)")
        return v

    @field_validator("country", mode="before")
    @classmethod
    def _check_country(cls, v: Any) -> str:
        code = str(v).strip().upper()
        if code == "UK":
            code = vocab.UK
        if not vocab.is_country(code):
            near = vocab.nearest_countries(str(v))
            hint = f"; nearest: {', '.join(near)}" if near else ""
            raise ValueError(f"not an ISO 3166-1 alpha-2 country code (the UK is GB){hint}")
        return code

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, v: str | None) -> str | None:
        if v and v not in vocab.valid_timezones():
            raise ValueError("not an IANA time zone such as Europe/London or Asia/Baghdad")
        return v or None

    @field_validator("languages", mode="before")
    @classmethod
    def _check_languages(cls, v: Any) -> tuple[str, ...]:
        codes = tuple(dict.fromkeys(str(c).strip().lower() for c in _as_list(v) if str(c).strip()))
        bad = [c for c in codes if not vocab.is_language(c)]
        if bad:
            raise ValueError(f"{', '.join(bad)}: not ISO 639-1 two-letter language code(s) such as en, ar, fr")
        return codes

    @field_validator("description_language", mode="before")
    @classmethod
    def _check_description_language(cls, v: Any) -> str | None:
        code = str(v).strip().lower() if v is not None else ""
        if code and not vocab.is_language(code):
            raise ValueError("not an ISO 639-1 two-letter language code such as en, ar, fr, pt")
        return code or None

    @field_validator("themes", mode="before")
    @classmethod
    def _check_themes(cls, v: Any) -> tuple[str, ...]:
        tags = tuple(dict.fromkeys(str(t).strip().lower() for t in _as_list(v) if str(t).strip()))
        bad = [t for t in tags if not vocab.is_theme(t)]
        if bad:
            raise ValueError(f"unknown theme(s) {', '.join(bad)}; valid tags: {', '.join(vocab.themes())}")
        return tags

    @field_validator("preferred_countries", mode="before")
    @classmethod
    def _check_preferred_countries(cls, v: Any) -> tuple[str, ...]:
        upper = (str(c).strip().upper() for c in _as_list(v) if str(c).strip())
        codes = tuple(dict.fromkeys(vocab.UK if c == "UK" else c for c in upper))
        bad = [c for c in codes if not vocab.is_country(c)]
        if bad:
            raise ValueError(f"{', '.join(bad)}: not ISO 3166-1 alpha-2 country code(s) such as KE, IN (the UK is GB)")
        return codes

    @field_validator("preferred_regions", mode="before")
    @classmethod
    def _check_preferred_regions(cls, v: Any) -> tuple[str, ...]:
        items = [str(r).strip() for r in _as_list(v) if str(r).strip()]
        bad = [r for r in items if vocab.area_code(r) is None]
        if bad:
            raise ValueError(
                f"unknown region(s) {', '.join(bad)}; allowed (UN M49 code or name): {vocab.area_choices()}"
            )
        return tuple(dict.fromkeys(vocab.area_code(r) for r in items))  # type: ignore[misc]

    @field_validator("preferred_phases", mode="before")
    @classmethod
    def _check_preferred_phases(cls, v: Any) -> tuple[str, ...]:
        items = tuple(dict.fromkeys(str(p).strip().lower() for p in _as_list(v) if str(p).strip()))
        bad = [p for p in items if p not in vocab.PHASES]
        if bad:
            raise ValueError(f"unknown phase(s) {', '.join(bad)}; allowed: {', '.join(vocab.PHASES)}")
        return items

    @field_validator("kinds_of_work", mode="before")
    @classmethod
    def _check_kinds_of_work(cls, v: Any) -> tuple[str, ...]:
        items = tuple(dict.fromkeys(str(k).strip().lower().replace(" ", "_") for k in _as_list(v) if str(k).strip()))
        bad = [k for k in items if k not in vocab.KINDS_OF_WORK]
        if bad:
            raise ValueError(f"unknown kind(s) of work {', '.join(bad)}; allowed: {', '.join(vocab.KINDS_OF_WORK)}")
        return items

    @field_validator("current_partners", "excluded", mode="before")
    @classmethod
    def _id_list(cls, v: Any) -> tuple[str, ...]:
        return tuple(dict.fromkeys(str(x).strip() for x in _as_list(v) if str(x).strip()))

    @field_validator("contact_email")
    @classmethod
    def _check_email(cls, v: str | None) -> str | None:
        if v and not _EMAIL_PATTERN.match(v):
            raise ValueError("not an e-mail address such as head@school.org")
        return v or None

    # defined last so that it runs before every other "before" validator (pydantic runs them last-defined first)
    @field_validator("*", mode="before")
    @classmethod
    def _check_text(cls, v: Any, info: ValidationInfo) -> Any:
        free = info.field_name in FREE_TEXT_FIELDS
        for text in _strings(v):
            if problem := text_problem(text, free_text=free):
                raise PydanticCustomError("invalid_text", problem.replace("{", "("))
        return v

    @model_validator(mode="after")
    def _check_consistency(self) -> SchoolProfile:
        # every cross-field problem at once, each on its own field with its own value
        problems: list[tuple[str, object, str]] = []
        if self.age_min > self.age_max:
            problems.append(("age_min", self.age_min, f"age_min ({self.age_min}) is above age_max ({self.age_max})"))
        if self.uk_nation is not None and self.country != vocab.UK:
            problems.append(
                ("uk_nation", self.uk_nation, f"uk_nation is only for UK schools (country GB), not {self.country}")
            )
        for name in ("current_partners", "excluded"):
            if self.school_id in getattr(self, name):
                problems.append((name, self.school_id, "a school cannot list itself as a partner or an exclusion"))
        if problems:
            raise ValidationError.from_exception_data(
                "SchoolProfile",
                [
                    InitErrorDetails(type=PydanticCustomError("consistency", msg.replace("{", "(")), loc=(f,), input=v)
                    for f, v, msg in problems
                ],
            )
        if self.timezone is None:
            object.__setattr__(self, "timezone", vocab.country_timezone(self.country))
        return self

    # -- derived, read-only views
    @property
    def is_uk(self) -> bool:
        """Whether the school is in the United Kingdom."""
        return self.country == vocab.UK

    @property
    def cpd_badge(self) -> str:
        """Partner Schools CPD badge derived from ``staff_cpd_credits``."""
        return vocab.cpd_badge(self.staff_cpd_credits)

    @property
    def free_capacity(self) -> int:
        """Partners the school can still take now."""
        return max(0, self.capacity - len(self.current_partners))

    def public_dict(self) -> dict[str, Any]:
        """The profile without private fields, JSON-ready."""
        return self.model_dump(mode="json", exclude=set(PRIVATE_FIELDS))

    def to_record(self, include_private: bool = True) -> dict[str, Any]:
        """A flat record (one column per skill, lists joined by ';'): the CSV row format."""
        data = self.model_dump(mode="json", exclude=set() if include_private else set(PRIVATE_FIELDS))
        want, offer = data.pop("skills_want"), data.pop("skills_offer")
        for s in vocab.SKILLS:
            data[f"want_{s}"] = want[s]
            data[f"offer_{s}"] = offer[s]
        for f in LIST_FIELDS:
            data[f] = LIST_SEPARATOR.join(data[f])
        return data


CSV_COLUMNS: tuple[str, ...] = (
    *(f for f in SchoolProfile.model_fields if f not in ("skills_want", "skills_offer")),
    *(f"want_{s}" for s in vocab.SKILLS),
    *(f"offer_{s}" for s in vocab.SKILLS),
)
REQUIRED_COLUMNS: tuple[str, ...] = ("school_id", "name", "country", "phase", "age_min", "age_max", "languages")


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    if isinstance(v, str):
        return [p for p in re.split(r"[;|,]", v)]
    if isinstance(v, Iterable):
        return list(v)
    return [v]


def _is_blank(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and v != v:  # NaN
        return True
    return isinstance(v, str) and v.strip() == ""


def _nest_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Turn a flat CSV/DataFrame record into the model's shape (blank cells mean 'use the default')."""
    out: dict[str, Any] = {}
    want: dict[str, Any] = {}
    offer: dict[str, Any] = {}
    for key, value in record.items():
        key = str(key).strip()
        if _is_blank(value):
            continue
        if key.startswith("want_") and key[5:] in vocab.SKILLS:
            want[key[5:]] = value
        elif key.startswith("offer_") and key[6:] in vocab.SKILLS:
            offer[key[6:]] = value
        else:
            out[key] = value
    if want:
        out["skills_want"] = {**dict(out.get("skills_want") or {}), **want}
    if offer:
        out["skills_offer"] = {**dict(out.get("skills_offer") or {}), **offer}
    return out


def _field_errors(exc: ValidationError, row: int | None, record: Mapping[str, Any]) -> list[FieldError]:
    school_id = record.get("school_id")
    school_id = str(school_id) if not _is_blank(school_id) else None
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        if len(loc) >= 2 and loc[0] in ("skills_want", "skills_offer"):
            field = f"{'want' if loc[0] == 'skills_want' else 'offer'}_{loc[1]}"
        elif loc and loc[0] in SchoolProfile.model_fields:
            field = loc[0]
        else:
            field = loc[0] if loc else "profile"
        if err["type"] == "missing":
            value, message = None, "is required"
        elif err["type"] == "extra_forbidden":
            value, message = err.get("input"), f"unknown field; allowed: {', '.join(CSV_COLUMNS)}"
        else:
            value = err.get("input")
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "literal_error":
                message = message.replace("Input should be", "must be one of")
        if field == "profile" or (not loc):
            field = _guess_field(message)
        out.append(FieldError(row=row, school_id=school_id, field=field, value=value, message=message))
    return out


def _guess_field(message: str) -> str:
    for name in ("age_min", "uk_nation", "current_partners"):
        if name in message:
            return name
    return "profile"


def validate_profile(data: Mapping[str, Any] | SchoolProfile) -> SchoolProfile:
    """Validate one profile (nested or flat record); raise ``ProfileValidationError`` listing every bad field."""
    if isinstance(data, SchoolProfile):
        return data
    record = _nest_record(data)
    try:
        return SchoolProfile.model_validate(record)
    except ValidationError as exc:
        raise ProfileValidationError(_field_errors(exc, None, data)) from None


def profiles_from_records(
    records: Sequence[Mapping[str, Any]], source: str | None = None, first_row: int = 1
) -> list[SchoolProfile]:
    """Validate many records; all or nothing. Duplicate ids are errors too."""
    profiles: list[SchoolProfile] = []
    errors: list[FieldError] = []
    seen: dict[str, int] = {}
    for i, record in enumerate(records):
        row = i + first_row
        if not isinstance(record, Mapping):
            errors.append(FieldError(row, None, "profile", record, "must be an object of field: value"))
            continue
        try:
            profile = SchoolProfile.model_validate(_nest_record(record))
        except ValidationError as exc:
            errors.extend(_field_errors(exc, row, record))
            continue
        if profile.school_id in seen:
            errors.append(
                FieldError(
                    row,
                    profile.school_id,
                    "school_id",
                    profile.school_id,
                    f"duplicate of row {seen[profile.school_id]}; ids must be unique",
                )
            )
            continue
        seen[profile.school_id] = row
        profiles.append(profile)
    if errors:
        raise ProfileValidationError(errors, source)
    return profiles
