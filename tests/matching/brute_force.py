"""The hard constraints restated pair by pair in plain Python, on profiles (never on the library's masks),
and a generator of varied registries that exercises every rule."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from functools import cache
from zoneinfo import ZoneInfo

from features import vocab
from features.profiles import SchoolProfile, validate_profile

ALL_RULES: tuple[str, ...] = (
    "cross_border",
    "phase_compatible",
    "ages_overlap",
    "shared_language",
    "candidate_available",
    "not_already_partners",
    "not_excluded",
)

# Countries with their languages and, for some, an explicit zone: whole, half and three-quarter hour offsets.
COUNTRIES: dict[str, tuple[list[str], list[str | None]]] = {
    "GB": (["en", "cy", "ga"], [None]),
    "IE": (["en", "ga"], [None]),
    "FR": (["fr", "en"], [None]),
    "IQ": (["ar", "ku", "en"], [None]),
    "JO": (["ar", "en"], [None]),
    "KE": (["en", "sw"], [None]),
    "IN": (["hi", "en", "ta"], [None, "Asia/Kolkata"]),
    "NP": (["ne", "en"], [None]),
    "BR": (["pt", "es"], [None, "America/Manaus"]),
    "CN": (["zh", "en"], [None]),
    "US": (["en", "es"], ["America/New_York", "America/Los_Angeles"]),
    "AU": (["en"], ["Australia/Sydney", "Australia/Adelaide", "Australia/Perth"]),
}
LANGUAGES: tuple[str, ...] = tuple(sorted({lang for langs, _ in COUNTRIES.values() for lang in langs}))
DESCRIPTIONS: tuple[str, ...] = (
    "",
    "recycling and climate action with a school garden",
    "maths olympiad and a robotics club",
    "music, drama and a school choir",
    "football and healthy lives",
    "reading for pleasure and a library club",
)


@cache
def utc_offset(zone: str) -> float:
    """Offset in hours of an IANA zone at noon on 1 March this year (the reference day of the ranker)."""
    moment = datetime.combine(date(date.today().year, 3, 1), time(12), tzinfo=ZoneInfo(zone))
    offset = moment.utcoffset()
    return 0.0 if offset is None else offset.total_seconds() / 3600.0


def timezone_difference(a: SchoolProfile, b: SchoolProfile) -> float:
    """Hours between two schools' clocks, the short way round a 24-hour circle."""
    d = abs(utc_offset(a.timezone) - utc_offset(b.timezone)) % 24.0
    return min(d, 24.0 - d)


def violations(
    a: SchoolProfile,
    b: SchoolProfile,
    rules: Iterable[str] = ALL_RULES,
    countries: Sequence[str] = (),
    phases: Sequence[str] = (),
    max_timezone_difference: float | None = None,
) -> set[str]:
    """Names of the rules (and request filters) that forbid suggesting ``b`` to ``a``."""
    rules = set(rules)
    out: set[str] = set()
    a_uk, b_uk = a.country == "GB", b.country == "GB"
    if "cross_border" in rules and a_uk == b_uk:
        out.add("cross_border")
    if "phase_compatible" in rules:
        alo, ahi = vocab.PHASE_AGE_BANDS[a.phase]
        blo, bhi = vocab.PHASE_AGE_BANDS[b.phase]
        if ahi < blo or bhi < alo:
            out.add("phase_compatible")
    if "ages_overlap" in rules and (a.age_max < b.age_min or b.age_max < a.age_min):
        out.add("ages_overlap")
    if "shared_language" in rules and not set(a.languages) & set(b.languages):
        out.add("shared_language")
    if "candidate_available" in rules:
        free = b.capacity - len(b.current_partners)
        if not b.active or free <= 0 or b.school_id == a.school_id:
            out.add("candidate_available")
    if "not_already_partners" in rules and (b.school_id in a.current_partners or a.school_id in b.current_partners):
        out.add("not_already_partners")
    if "not_excluded" in rules and (b.school_id in a.excluded or a.school_id in b.excluded):
        out.add("not_excluded")
    if countries and b.country not in {c.upper() for c in countries}:
        out.add("country_filter")
    if phases and b.phase not in phases:
        out.add("phase_filter")
    if max_timezone_difference is not None and timezone_difference(a, b) > max_timezone_difference:
        out.add("timezone_filter")
    return out


def allowed_ids(a: SchoolProfile, registry: Sequence[SchoolProfile], **kwargs: object) -> set[str]:
    """Ids of the registry's schools that may be suggested to ``a``."""
    return {b.school_id for b in registry if not violations(a, b, **kwargs)}  # type: ignore[arg-type]


def varied_profile(rng: random.Random, school_id: str, ids: Sequence[str] = ()) -> SchoolProfile:
    """A random valid profile: any phase, any ages, several countries, zones, partners and exclusions."""
    country = rng.choice(list(COUNTRIES))
    langs, zones = COUNTRIES[country]
    lo = rng.randint(vocab.AGE_MIN, vocab.AGE_MAX)
    hi = rng.randint(lo, vocab.AGE_MAX)
    data: dict[str, object] = dict(
        school_id=school_id,
        name=f"School {school_id}",
        country=country,
        timezone=rng.choice(zones),
        phase=rng.choice(vocab.PHASES),
        age_min=lo,
        age_max=hi,
        languages=rng.sample(langs, rng.randint(1, len(langs))),
        themes=rng.sample(vocab.themes(), rng.randint(0, 3)),
        description=rng.choice(DESCRIPTIONS),
        capacity=rng.randint(0, 3),
        isa_status=rng.choice(vocab.ISA_LEVELS),
        staff_cpd_credits=rng.choice([0, 30, 60, 95, 130, 200]),
        active=rng.random() > 0.15,
        contact_email=f"{school_id}@school.example",
    )
    if country == "GB" and rng.random() < 0.5:
        data["uk_nation"] = rng.choice(vocab.UK_NATIONS)
    others = [i for i in ids if i != school_id]
    if others:
        data["current_partners"] = rng.sample(others, min(len(others), rng.choice([0, 0, 1, 2])))
        data["excluded"] = rng.sample(others, min(len(others), rng.choice([0, 0, 0, 1])))
    for s in vocab.SKILLS:
        data[f"want_{s}"] = round(rng.random(), 2)
        data[f"offer_{s}"] = round(rng.random(), 2)
    return validate_profile(data)


def varied_registry(n: int, seed: int = 0) -> list[SchoolProfile]:
    """n varied profiles whose partners and exclusions point at each other (and at a few unknown ids)."""
    rng = random.Random(seed)
    ids = [f"v{seed}-{i}" for i in range(n)]
    pool = [*ids, "ghost-1", "ghost-2"]
    return [varied_profile(rng, sid, pool) for sid in ids]


def language_cover() -> list[SchoolProfile]:
    """One school per language of ``COUNTRIES``: fitting on these covers every language the generators use."""
    return [
        validate_profile(
            dict(
                school_id=f"lang-{lang}",
                name=f"Cover {lang}",
                country="FR",
                phase="primary",
                age_min=4,
                age_max=11,
                languages=lang,
            )
        )
        for lang in LANGUAGES
    ]
