"""Random but valid schools for tests: small registries, varied registries that exercise every rule, and
batch cohorts of UK schools and schools abroad."""

from __future__ import annotations

import random
from collections.abc import Sequence

from features import vocab
from features.profiles import SchoolProfile, validate_profile
from features.text import HashingEncoder
from matching.core.index import SchoolIndex

# ----------------------------------------------------------------------------- small registries
COUNTRY_LANGS = {
    "GB": ["en"],
    "IQ": ["ar", "en"],
    "JO": ["ar"],
    "KE": ["en", "sw"],
    "IN": ["hi", "en"],
    "BR": ["pt"],
    "FR": ["fr", "en"],
}


def _skills(rng: random.Random, data: dict[str, object], levels: Sequence[float] | None = None) -> None:
    """Random want/offer levels for every skill (two decimals, or drawn from ``levels``)."""
    for s in vocab.SKILLS:
        for side in ("want", "offer"):
            data[f"{side}_{s}"] = rng.choice(levels) if levels else round(rng.random(), 2)


def make_profile(rng: random.Random, i: int, **overrides: object) -> SchoolProfile:
    """One random but valid profile (id ``s<i>``), with ``overrides`` applied before validation."""
    country = rng.choice(list(COUNTRY_LANGS))
    phase = rng.choice(["primary", "secondary", "all_through", "sixth_form"])
    lo, hi = vocab.PHASE_AGE_BANDS[phase]
    data: dict[str, object] = dict(
        school_id=f"s{i}",
        name=f"School {i}",
        country=country,
        phase=phase,
        age_min=lo,
        age_max=hi,
        languages=rng.sample(COUNTRY_LANGS[country], rng.randint(1, len(COUNTRY_LANGS[country]))),
        themes=rng.sample(vocab.themes(), rng.randint(0, 4)),
        description=rng.choice(["recycling and climate action", "maths olympiad", "music and drama", ""]),
        capacity=rng.randint(0, 3),
        isa_status=rng.choice(vocab.ISA_LEVELS),
        staff_cpd_credits=rng.randint(0, 160),
        active=rng.random() > 0.1,
        contact_email=f"head{i}@school.example",
    )
    _skills(rng, data)
    data.update(overrides)
    return validate_profile(data)


def make_registry(n: int, seed: int = 0) -> list[SchoolProfile]:
    """n random valid profiles, some with partners and exclusions among themselves."""
    rng = random.Random(seed)
    profiles = [make_profile(rng, i) for i in range(n)]
    out = []
    for p in profiles:
        others = [q.school_id for q in rng.sample(profiles, min(3, n)) if q.school_id != p.school_id]
        out.append(p.model_copy(update={"current_partners": tuple(others[:1]), "excluded": tuple(others[1:2])}))
    return out


# ----------------------------------------------------------------------------- varied registries (every rule bites)
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
    _skills(rng, data)
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


# ----------------------------------------------------------------------------- batch cohorts
ABROAD: tuple[str, ...] = tuple(c for c in COUNTRIES if c != "GB")
COHORT_PHASES: tuple[str, ...] = ("primary", "secondary", "all_through")


def cohort_school(
    rng: random.Random, sid: str, uk: bool, ids: Sequence[str] = (), **overrides: object
) -> SchoolProfile:
    """A random valid school (UK or abroad); mostly compatible phases and languages, so pairs exist."""
    country = "GB" if uk else rng.choice(ABROAD)
    langs = COUNTRIES[country][0]
    phase = rng.choice(COHORT_PHASES)
    lo, hi = vocab.PHASE_AGE_BANDS[phase]
    data: dict[str, object] = dict(
        school_id=sid,
        name=f"School {sid}",
        country=country,
        phase=phase,
        age_min=lo,
        age_max=hi,
        languages=(["en"] if "en" in langs and rng.random() < 0.85 else []) + rng.sample(langs, 1),
        themes=rng.sample(vocab.themes(), rng.randint(0, 3)),
        description=rng.choice(DESCRIPTIONS),
        capacity=rng.randint(0, 3),
        isa_status=rng.choice(vocab.ISA_LEVELS),
        staff_cpd_credits=rng.choice([0, 30, 95, 200]),
        active=rng.random() > 0.1,
        contact_email=f"{sid}@school.example",
    )
    others = [i for i in ids if i != sid]
    if others and rng.random() < 0.2:
        data["current_partners"] = rng.sample(others, 1)
    if others and rng.random() < 0.15:
        data["excluded"] = rng.sample(others, 1)
    _skills(rng, data, levels=(0.0, 0.25, 0.5, 0.75, 1.0))
    data.update(overrides)
    return validate_profile(data)


def cohort(n_uk: int, n_abroad: int, seed: int = 0) -> list[SchoolProfile]:
    """A cohort of UK schools (``uk<i>``) and schools abroad (``ab<i>``), with links among themselves."""
    rng = random.Random(seed)
    ids = [f"uk{i}" for i in range(n_uk)] + [f"ab{i}" for i in range(n_abroad)]
    return [cohort_school(rng, sid, sid.startswith("uk"), ids) for sid in ids]


def hashing_index(profiles: Sequence[SchoolProfile], dim: int = 32) -> SchoolIndex:
    """An index of ``profiles`` with the fast hashing encoder (no model, no progress bar)."""
    return SchoolIndex.build(list(profiles), HashingEncoder(dim), progress=False)
