"""An independent check of the hard rules on the profiles themselves, to audit what the ranker suggests.

Written apart from ``matching.core.constraints`` (no masks, no index), so a suggestion that breaks a
rule is caught even when the ranker's masks are wrong.
"""

from __future__ import annotations

import numpy as np

from features import vocab
from features.profiles import SchoolProfile
from matching.core.config import RankerConfig
from matching.core.constraints import RequestFilters
from matching.core.index import SchoolIndex


def pair_violations(
    a: SchoolProfile,
    b: SchoolProfile,
    config: RankerConfig | None = None,
    filters: RequestFilters | None = None,
    hidden: bool = False,
) -> list[str]:
    """The hard rules that suggesting ``b`` to ``a`` breaks, checked on the profiles themselves.

    Written apart from ``matching.core.constraints`` (no masks, no index) so it can audit the ranker.
    ``hidden``: the pair's own partnership link is ignored (leave-one-out).
    """
    config = config or RankerConfig()
    return _violations(a, b, frozenset(config.constraints.enabled()), filters or RequestFilters(), hidden)


def _violations(
    a: SchoolProfile, b: SchoolProfile, on: frozenset[str], filters: RequestFilters, hidden: bool
) -> list[str]:
    out = []
    if "cross_border" in on and a.is_uk == b.is_uk:
        out.append("cross_border")
    if "phase_compatible" in on:
        (alo, ahi), (blo, bhi) = vocab.PHASE_AGE_BANDS[a.phase], vocab.PHASE_AGE_BANDS[b.phase]
        if not (alo <= bhi and blo <= ahi):
            out.append("phase_compatible")
    if "ages_overlap" in on and not (a.age_min <= b.age_max and b.age_min <= a.age_max):
        out.append("ages_overlap")
    if "shared_language" in on and not set(a.languages) & set(b.languages):
        out.append("shared_language")
    used = len(b.current_partners) - (1 if hidden and a.school_id in b.current_partners else 0)
    free = b.capacity - used
    if "candidate_available" in on and (not b.active or free <= 0 or a.school_id == b.school_id):
        out.append("candidate_available")
    if (
        "not_already_partners" in on
        and not hidden
        and (b.school_id in a.current_partners or a.school_id in b.current_partners)
    ):
        out.append("not_already_partners")
    if "not_excluded" in on and (b.school_id in a.excluded or a.school_id in b.excluded):
        out.append("not_excluded")
    if filters.countries and b.country not in filters.countries:
        out.append("country_filter")
    if filters.phases and b.phase not in filters.phases:
        out.append("phase_filter")
    if filters.max_timezone_difference is not None:
        # the worst term of the school year decides (as the ranker's filter)
        terms = zip(vocab.term_offsets(a.timezone), vocab.term_offsets(b.timezone), strict=True)
        diffs = [abs(x - y) % 24 for x, y in terms]
        if max(min(d, 24 - d) for d in diffs) > filters.max_timezone_difference:
            out.append("timezone_filter")
    return out


def count_violations(
    index: SchoolIndex,
    config: RankerConfig,
    filters: RequestFilters,
    query_rows: np.ndarray,
    lists: np.ndarray,
    targets: np.ndarray | None,
    checked: dict[tuple[int, int, bool], list[str]],
) -> int:
    """Suggestions in ``lists`` that break a hard rule by ``pair_violations`` (cached per pair)."""
    total = 0
    on = frozenset(config.constraints.enabled())
    for i, (a, lst) in enumerate(zip(query_rows, lists, strict=True)):
        for b in lst[lst >= 0]:
            hidden = targets is not None and b == targets[i]
            k = (int(a), int(b), bool(hidden))
            if k not in checked:
                checked[k] = _violations(index.profiles[a], index.profiles[b], on, filters, hidden)  # type: ignore[arg-type]
            total += bool(checked[k])
    return total
