"""The English register bundled in ``matching/demo/data``: open UK schools, their nation, and what their names say.

The register (Get Information About Schools) has no phase column, so the phase and typical ages are
read from the name where it says so (``name_rule``).
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from typing import NamedTuple

import pandas as pd

from features import vocab

# ---------------------------------------------------------------- UK: the English register

# Postcode areas outside England in the register: Wales, Scotland, Northern Ireland; the Crown
# dependencies (Jersey, Guernsey, Isle of Man) are not in the UK and are left out.
_WALES_AREAS = frozenset({"CF", "SA", "LL", "NP", "LD"})
_SCOTLAND_AREAS = frozenset(
    {"AB", "DD", "DG", "EH", "FK", "G", "HS", "IV", "KA", "KW", "KY", "ML", "PA", "PH", "TD", "ZE"}
)
_NOT_UK_AREAS = frozenset({"JE", "GY", "IM"})


class NameRule(NamedTuple):
    """What a school's name says: phase and typical pupil ages (``age_max`` 0: 16 or 18, drawn)."""

    phase: str
    age_min: int
    age_max: int


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_SPECIAL = _rx(
    r"\bspecial\b|\bsen\b|\bautis|complex needs|additional needs|learning difficult|\bdeaf\b|\bblind\b"
    r"|hearing impair|visual impair|hospital school"
)
_ALL_THROUGH = _rx(r"all[- ]through|\bthrough school\b")
_INFANT = _rx(r"\binfants?\b")
_JUNIOR = _rx(r"\bjuniors?\b")
_PRIMARY = _rx(r"\bprimary\b|\bfirst school\b|\bprep(aratory)? school\b|\bpre-prep\b")
_NURSERY = _rx(r"\bnursery\b|\bearly years\b|\bpre-?school\b")
_MIDDLE = _rx(r"\bmiddle school\b")
_VOCATIONAL = _rx(r"\bstudio school\b|university technical college|\butc\b")
_SIXTH = _rx(r"\bsixth form\b")
_COLLEGE = _rx(r"\bcollege\b")
_COMMUNITY_COLLEGE = _rx(r"\bcommunity college\b")
_SCHOOL_WORD = _rx(r"\b(school|academy|high)\b")
_SECONDARY = _rx(
    r"\bsecondary\b|\bhigh\b|\bacademy\b|\bgrammar\b|\bupper school\b|\bcomprehensive\b|\bcommunity college\b"
)
# The register also lists universities, other higher-education colleges and adult-education colleges
# (an FE college with a "University Centre" teaches 16-19 too and stays).
_HIGHER_OR_ADULT = _rx(
    r"\buniversit(y|ies)\b(?! centre)|\bimperial college\b|\bconservatoire\b|\broyal (northern )?college of\b"
    r"|\bcollege of (art|arts|music|printing)\b|\binstitute of (art|cancer research|performing arts)\b"
    r"|\bcourtauld institute\b|\badults?\b"
)
_SCHOOL_NAME = _rx(r"\b(school|academy|collegiate)\b|\buniversity technical college\b|\butc\b")


def is_higher_or_adult_education(name: str) -> bool:
    """Whether a register name is a university, a higher-education or an adult-education college, not a school.

    Names that also say school, academy or UTC are schools ("University College School",
    "University Academy Keighley", "Thomas Telford University Technical College").
    """
    return bool(_HIGHER_OR_ADULT.search(name)) and not _SCHOOL_NAME.search(name)


def name_rule(name: str) -> NameRule | None:
    """Phase and ages a school's name states (``None`` when the name does not say).

    primary, infant, junior, first school, prep -> primary; nursery -> nursery; secondary, high
    school, academy, grammar, upper school -> secondary; sixth form / college -> sixth_form;
    special or SEN-like words -> special; all-through / through school -> all_through;
    studio school, UTC -> vocational. Earlier rules win ("Primary Academy" is primary). Names of
    universities and higher- or adult-education colleges state no school phase
    (``is_higher_or_adult_education``): "Imperial College of Science, Technology and Medicine" is not a sixth form.
    """
    if is_higher_or_adult_education(name):
        return None
    if _SPECIAL.search(name):
        return NameRule("special", 3, 19)
    if _ALL_THROUGH.search(name):
        return NameRule("all_through", 4, 18)
    infant, junior = bool(_INFANT.search(name)), bool(_JUNIOR.search(name))
    if _PRIMARY.search(name) or infant or junior:
        nursery = bool(_NURSERY.search(name))
        if "first school" in name.lower():
            return NameRule("primary", 4, 9)
        if infant and not junior and not _PRIMARY.search(name):
            return NameRule("primary", 3 if nursery else 4, 7)
        if junior and not infant and not _PRIMARY.search(name):
            return NameRule("primary", 7, 11)
        return NameRule("primary", 3 if nursery else 4, 11)
    if _NURSERY.search(name):
        return NameRule("nursery", 3, 5)
    if _MIDDLE.search(name):
        return NameRule("secondary", 9, 13)
    if _VOCATIONAL.search(name):
        return NameRule("vocational", 14, 19)
    sixth_or_college = _SIXTH.search(name) or _COLLEGE.search(name)
    if sixth_or_college and not _SCHOOL_WORD.search(name) and not _COMMUNITY_COLLEGE.search(name):
        return NameRule("sixth_form", 16, 19)
    if _SIXTH.search(name) and _SCHOOL_WORD.search(name):  # "X School and Sixth Form (College)"
        return NameRule("secondary", 11, 18)
    if _SECONDARY.search(name):
        if re.search(r"upper school", name, re.IGNORECASE):
            return NameRule("secondary", 13, 18)
        if _SIXTH.search(name) or re.search(r"\bgrammar\b", name, re.IGNORECASE):
            return NameRule("secondary", 11, 18)
        return NameRule("secondary", 11, 0)
    return None


def phase_from_name(name: str) -> str | None:
    """The phase a school's name states, or ``None`` (see ``name_rule``)."""
    rule = name_rule(name)
    return rule.phase if rule else None


def uk_nation_of_postcode(postcode: str) -> str | None:
    """UK nation of a postcode by its area letters (``None`` for the Crown dependencies)."""
    match = re.match(r"^([A-Z]{1,2})\d", postcode.strip().upper())
    area = match.group(1) if match else ""
    if area in _NOT_UK_AREAS:
        return None
    if area in _WALES_AREAS:
        return "wales"
    if area == "BT":
        return "northern_ireland"
    if area in _SCOTLAND_AREAS and not postcode.upper().startswith("TD15"):  # TD15: Berwick, England
        return "scotland"
    return "england"


@cache
def gias_schools() -> pd.DataFrame:
    """Open schools of the bundled register (no close date), in the UK, with nation and name rule;
    universities and higher- or adult-education colleges are left out (``is_higher_or_adult_education``).

    Columns: urn, name, town, postcode, nation, welsh_medium, phase ('' when the name does not
    say), age_min, age_max.
    """
    with files("matching.demo.data").joinpath("gias_england_schools.csv").open("r", encoding="utf-8") as fh:
        frame = pd.read_csv(fh, dtype=str, keep_default_na=False)
    frame = frame[frame["close_date"].str.strip() == ""]
    frame = frame[~frame["name"].map(is_higher_or_adult_education)]
    nation = frame["postcode"].map(uk_nation_of_postcode)
    welsh_medium = frame["name"].str.contains(r"\bYsgol\b", regex=True)
    nation = nation.where(~(welsh_medium & nation.notna()), "wales")
    frame = frame.assign(nation=nation, welsh_medium=welsh_medium)
    frame = frame[frame["nation"].notna()].reset_index(drop=True)
    rules = [name_rule(n) for n in frame["name"]]
    frame["phase"] = [r.phase if r else "" for r in rules]
    frame["age_min"] = [r.age_min if r else 0 for r in rules]
    frame["age_max"] = [r.age_max if r else 0 for r in rules]
    frame["town"] = frame["town"].str.strip().map(vocab.place_name)  # some rows are in capitals ("LONDON")
    return frame[["urn", "name", "town", "postcode", "nation", "welsh_medium", "phase", "age_min", "age_max"]]
