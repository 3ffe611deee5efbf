"""The brute-force oracle: the hard constraints and request filters restated pair by pair in plain Python, on
profiles (never on the library's masks), to check the ranker, the index and batch against."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from functools import cache
from zoneinfo import ZoneInfo

from features import vocab
from features.profiles import SchoolProfile

ALL_RULES: tuple[str, ...] = (
    "cross_border",
    "phase_compatible",
    "ages_overlap",
    "shared_language",
    "candidate_available",
    "not_already_partners",
    "not_excluded",
)


TERM_DAYS: tuple[tuple[int, int], ...] = ((1, 15), (6, 15))  # January (winter time) and June (summer time)


@cache
def utc_offsets(zone: str) -> tuple[float, ...]:
    """Offsets in hours of an IANA zone at noon on each term's day this year (the ranker's reference days)."""
    out = []
    for month, day in TERM_DAYS:
        offset = datetime.combine(date(date.today().year, month, day), time(12), tzinfo=ZoneInfo(zone)).utcoffset()
        out.append(0.0 if offset is None else offset.total_seconds() / 3600.0)
    return tuple(out)


def term_differences(a: SchoolProfile, b: SchoolProfile) -> list[float]:
    """Hours between two schools' clocks in each term, the short way round a 24-hour circle."""
    out = []
    for x, y in zip(utc_offsets(a.timezone), utc_offsets(b.timezone), strict=True):
        d = abs(x - y) % 24.0
        out.append(min(d, 24.0 - d))
    return out


def timezone_difference(a: SchoolProfile, b: SchoolProfile) -> float:
    """Hours between two schools' clocks in the worst term (what the time-zone filter checks)."""
    return max(term_differences(a, b))


def overlap_hours(a: SchoolProfile, b: SchoolProfile, school_day: float = 7.0) -> float:
    """Hours both school days run at once, averaged over the terms (what the score counts)."""
    hours = [max(school_day - d, 0.0) for d in term_differences(a, b)]
    return sum(hours) / len(hours)


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
