"""Profile factories for tests: random but valid schools and registries."""

from __future__ import annotations

import random

from features import vocab
from features.profiles import SchoolProfile, validate_profile

COUNTRY_LANGS = {
    "GB": ["en"],
    "IQ": ["ar", "en"],
    "JO": ["ar"],
    "KE": ["en", "sw"],
    "IN": ["hi", "en"],
    "BR": ["pt"],
    "FR": ["fr", "en"],
}


def make_profile(rng: random.Random, i: int, **overrides: object) -> SchoolProfile:
    """One random but valid profile."""
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
    for s in vocab.SKILLS:
        data[f"want_{s}"] = round(rng.random(), 2)
        data[f"offer_{s}"] = round(rng.random(), 2)
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
