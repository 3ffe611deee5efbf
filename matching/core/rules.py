"""The hard rules and request filters: each one defined once, here, as a ``Rule`` in the ``RULES`` registry.

Every consumer reads this registry: ``ConstraintSet`` (the ranker's mask, its per-query mask cache
and ``blocking`` for explanations), ``Ranker.diagnose`` (the API's ``empty_because`` and the page's
empty-list and "why not?" messages), the batch candidate graph (which rules it can evaluate once
per signature, which it applies sparsely) and the configuration's on/off switches (``Constraints``).

Adding a hard rule
------------------
Write its mask function below and add one ``Rule`` to the list registered at the end of this module
(or call ``register`` from anywhere)::

    def same_phase(q: Query, c: SchoolColumns, index: SchoolIndex, filters: RequestFilters) -> np.ndarray:
        '''bool[m, n]: which candidates each of the m queries may be paired with.'''
        return q.columns.phase[:, None] == c.phase[None, :]

    Rule("same_phase", "they teach different phases", same_phase,
         query_columns=("phase",), candidate_columns=("phase",))

That is all: the ranker, explanations, ``Ranker.diagnose`` (the API's ``empty_because``, the page's
messages), the batch and the configuration's switches pick it up. (A rule on an attribute the index
does not hold yet also adds that column to ``columns.SchoolColumns``.)

Declare the ``SchoolColumns`` fields it reads: a rule that reads only per-school columns is cached
per distinct value of the query's columns and, when those are signature columns, evaluated once per
signature by the batch. Set ``reads_rows`` when the mask looks at index rows (``index.row_of``, the
query's own row), ``listed`` for a pair list applied sparsely, ``excludes_self`` when the school
itself is ruled out, and ``cacheable=False`` when a query's mask depends on more than its declared
columns (or on state that changes without the index changing). A rule of kind ``"rule"`` gets a
switch in ``Constraints`` (on by default); one of kind ``"filter"`` is on when its ``param`` (a
``RequestFilters`` field) is set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from features import vocab
from matching.core.columns import PHASE_CODE, Query, SchoolColumns, wrapped_hours
from matching.core.filters import RequestFilters
from matching.errors import ConfigError

if TYPE_CHECKING:
    from matching.core.index import SchoolIndex

MaskFunction = Callable[[Query, SchoolColumns, "SchoolIndex", RequestFilters], np.ndarray]
"""``mask(queries, candidates, index, filters) -> bool[m, n]``."""
SegmentFunction = Callable[[Query, RequestFilters], np.ndarray]
"""``segments(query, filters) -> bool[2, n_phases, 2]``: the coarse segments (side, phase, available) query 0 may
pair with."""


@dataclass(frozen=True)
class Rule:
    """One hard rule or request filter.

    ``query_columns`` / ``candidate_columns``: the ``SchoolColumns`` fields the mask reads on each side.
    ``kind``: ``"rule"`` (switched in ``Constraints``) or ``"filter"`` (on when ``param`` is set).
    ``listed``: for a rule that lists pairs, ``(the query's list column, the index's reverse map)``:
    consumers clear those pairs sparsely instead of calling ``mask``. ``reads_rows``: the mask reads
    index rows (the candidates passed must be the whole index). ``excludes_self``: also rules out the
    asking school. ``cacheable``: a query's mask depends only on its ``query_columns`` and ``param``
    (apart from ``excludes_self``), so it is computed once per distinct value and index version.
    ``segments``: optionally, which coarse segments (side by phase by available) can hold candidates it
    allows, so the coarse first pass skips the others (an optimisation: the mask decides).
    """

    name: str
    message: str
    mask: MaskFunction
    query_columns: tuple[str, ...] = ()
    candidate_columns: tuple[str, ...] = ()
    kind: Literal["rule", "filter"] = "rule"
    param: str | None = None
    listed: tuple[str, str] | None = None
    reads_rows: bool = False
    excludes_self: bool = False
    cacheable: bool = True
    segments: SegmentFunction | None = None

    def __post_init__(self) -> None:
        if self.kind == "filter" and self.param is None:
            raise ConfigError(f"rule {self.name}: a filter needs the RequestFilters field that sets it (param)")

    def __call__(
        self, q: Query, c: SchoolColumns, index: SchoolIndex, filters: RequestFilters | None = None
    ) -> np.ndarray:
        """The rule's mask ``bool[m, n]`` under the request's ``filters`` (a filter rule needs them)."""
        if filters is None:
            if self.is_filter:
                raise ConfigError(f"rule {self.name}: a filter needs the request's filters")
            filters = RequestFilters()
        return self.mask(q, c, index, filters)

    @property
    def is_filter(self) -> bool:
        """Whether it is a request filter (rather than a configured rule)."""
        return self.kind == "filter"

    @property
    def columns(self) -> frozenset[str]:
        """Every column it reads, either side."""
        return frozenset(self.query_columns) | frozenset(self.candidate_columns)

    def reads_only(self, columns: frozenset[str] | set[str]) -> bool:
        """Whether the mask depends on these per-school columns alone (no pair lists, no index rows)."""
        return self.listed is None and not self.reads_rows and self.columns <= columns

    def cache_key(self, query: Query, filters: RequestFilters) -> tuple[object, ...] | None:
        """What its mask for one query depends on (None: not cached)."""
        if not self.cacheable or self.listed is not None:
            return None
        key: list[object] = [self.name]
        key += [np.asarray(getattr(query.columns, col)[0]).tobytes() for col in self.query_columns]
        if self.param is not None:
            key.append(getattr(filters, self.param))
        return tuple(key)


# ---------------------------------------------------------------- the mask functions
def _phase_compat_table() -> np.ndarray:
    k = len(vocab.PHASES)
    table = np.zeros((k, k), dtype=bool)
    for a, (alo, ahi) in vocab.PHASE_AGE_BANDS.items():
        for b, (blo, bhi) in vocab.PHASE_AGE_BANDS.items():
            table[PHASE_CODE[a], PHASE_CODE[b]] = alo <= bhi and blo <= ahi
    return table


PHASE_COMPATIBLE = _phase_compat_table()


def cross_border(q: Query, c: SchoolColumns, index: SchoolIndex, filters: RequestFilters) -> np.ndarray:
    """UK schools pair with non-UK schools only."""
    return q.columns.is_uk[:, None] != c.is_uk[None, :]


def phase_compatible(q: Query, c: SchoolColumns, index: SchoolIndex, filters: RequestFilters) -> np.ndarray:
    """The two phases teach overlapping age bands."""
    return np.take(PHASE_COMPATIBLE[q.columns.phase], c.phase, axis=1)  # 4x faster than a 2-d fancy index


def ages_overlap(q: Query, c: SchoolColumns, index: SchoolIndex, filters: RequestFilters) -> np.ndarray:
    """The pupil age ranges overlap."""
    return (q.columns.age_min[:, None] <= c.age_max[None, :]) & (c.age_min[None, :] <= q.columns.age_max[:, None])


def shared_language(q: Query, c: SchoolColumns, index: SchoolIndex, filters: RequestFilters) -> np.ndarray:
    """At least one language in common (bit sets)."""
    out = np.zeros((len(q.rows), len(c)), dtype=bool)
    for w in range(q.columns.lang_bits.shape[1]):
        qw = q.columns.lang_bits[:, w]
        if qw.any():
            out |= (qw[:, None] & c.lang_bits[None, :, w]) != 0
    return out


def candidate_available(q: Query, c: SchoolColumns, index: SchoolIndex, filters: RequestFilters) -> np.ndarray:
    """The candidate is present, active, has free capacity, and is not the asking school."""
    ok = np.broadcast_to(c.present & c.active & (c.free_capacity > 0), (len(q.rows), len(c))).copy()
    registered = q.rows >= 0
    ok[np.flatnonzero(registered), q.rows[registered]] = False
    return ok


def listed_rows(rule: Rule, columns: SchoolColumns, i: int, index: SchoolIndex) -> list[int]:
    """The index rows a pair-listing rule rules out for school ``i`` of ``columns``: those it lists, and
    those listing it."""
    if rule.listed is None:
        raise ConfigError(f"rule {rule.name}: lists no pairs")
    forward, backward = rule.listed
    rows = [index.row_of[s] for s in getattr(columns, forward)[i] if s in index.row_of]
    rows += getattr(index, backward).get(columns.ids[i], ())
    return rows


def _not_listed(name: str) -> MaskFunction:
    def mask(q: Query, c: SchoolColumns, index: SchoolIndex, filters: RequestFilters) -> np.ndarray:
        ok = np.ones((len(q.rows), len(c)), dtype=bool)
        rule = RULES[name]
        for i in range(len(q.rows)):
            rows = listed_rows(rule, q.columns, i, index)
            if rows:
                ok[i, rows] = False
        return ok

    mask.__doc__ = f"Pairs the ``{name}`` lists rule out (``c`` must be every index row)."
    return mask


def country_filter(q: Query, c: SchoolColumns, index: SchoolIndex, filters: RequestFilters) -> np.ndarray:
    """The candidate is in one of the requested countries."""
    countries = np.array(filters.countries, dtype="<U2")
    return np.broadcast_to(np.isin(c.country, countries), (len(q.rows), len(c)))


def phase_filter(q: Query, c: SchoolColumns, index: SchoolIndex, filters: RequestFilters) -> np.ndarray:
    """The candidate teaches one of the requested phases."""
    codes = np.array([PHASE_CODE[p] for p in filters.phases])
    return np.broadcast_to(np.isin(c.phase, codes), (len(q.rows), len(c)))


def timezone_filter(q: Query, c: SchoolColumns, index: SchoolIndex, filters: RequestFilters) -> np.ndarray:
    """The time-zone difference is at most the requested maximum in every term of the school year (the worst
    term decides: a UK school on summer time is an hour nearer Kenya and an hour further from Brazil)."""
    h = filters.max_timezone_difference
    return wrapped_hours(q.columns.tz_offset[:, None, :] - c.tz_offset[None, :, :]).max(axis=-1) <= h


def _all_segments() -> np.ndarray:
    return np.ones((2, len(PHASE_CODE), 2), dtype=bool)


def _other_side(q: Query, filters: RequestFilters) -> np.ndarray:
    out = _all_segments()
    out[int(q.columns.is_uk[0])] = False
    return out


def _compatible_phases(q: Query, filters: RequestFilters) -> np.ndarray:
    return _all_segments() & PHASE_COMPATIBLE[q.columns.phase[0]][None, :, None]


def _taking_partners(q: Query, filters: RequestFilters) -> np.ndarray:
    out = _all_segments()
    out[:, :, 0] = False  # present, active and with a free place: ``coarse.available``
    return out


def _requested_phases(q: Query, filters: RequestFilters) -> np.ndarray:
    out = np.zeros((2, len(PHASE_CODE), 2), dtype=bool)
    out[:, [PHASE_CODE[p] for p in filters.phases], :] = True
    return out


# ---------------------------------------------------------------- the registry
RULES: dict[str, Rule] = {}
"""Every hard rule and request filter by name, in evaluation order."""


def register(rule: Rule) -> Rule:
    """Add a rule to ``RULES`` (its name must be new); returns it."""
    if rule.name in RULES:
        raise ConfigError(f"rule {rule.name}: already registered")
    RULES[rule.name] = rule
    return rule


def unregister(name: str) -> Rule:
    """Remove a rule from ``RULES`` (e.g. one a test added); returns it."""
    try:
        return RULES.pop(name)
    except KeyError:
        raise ConfigError(f"rule {name}: not registered; registered: {', '.join(RULES)}") from None


for _rule in (
    Rule(
        "cross_border",
        "both schools are on the same side of the border (UK schools pair with schools abroad)",
        cross_border, ("is_uk",), ("is_uk",), segments=_other_side,
    ),
    Rule(
        "phase_compatible", "their phases teach different age bands", phase_compatible, ("phase",), ("phase",),
        segments=_compatible_phases,
    ),
    Rule(
        "ages_overlap", "their pupil age ranges do not overlap", ages_overlap,
        ("age_min", "age_max"), ("age_min", "age_max"),
    ),
    Rule("shared_language", "they share no language", shared_language, ("lang_bits",), ("lang_bits",)),
    Rule(
        "candidate_available",
        "the candidate is not taking partners (inactive, no free capacity, or the same school)",
        candidate_available, (), ("present", "active", "free_capacity"), reads_rows=True, excludes_self=True,
        segments=_taking_partners,
    ),
    Rule(
        "not_already_partners", "they are already partners", _not_listed("not_already_partners"),
        ("partners", "ids"), (), listed=("partners", "partner_of"), reads_rows=True,
    ),
    Rule(
        "not_excluded", "one of the schools has excluded the other", _not_listed("not_excluded"),
        ("excluded", "ids"), (), listed=("excluded", "excluded_by"), reads_rows=True,
    ),
    Rule(
        "country_filter", "the candidate's country is not among the requested countries", country_filter,
        (), ("country",), kind="filter", param="countries",
    ),
    Rule(
        "phase_filter", "the candidate's phase is not among the requested phases", phase_filter,
        (), ("phase",), kind="filter", param="phases", segments=_requested_phases,
    ),
    Rule(
        "timezone_filter", "the time-zone difference is above the requested maximum", timezone_filter,
        ("tz_offset",), ("tz_offset",), kind="filter", param="max_timezone_difference",
    ),
):  # fmt: skip
    register(_rule)


def hard_rules() -> tuple[str, ...]:
    """Names of the configured rules (kind ``"rule"``), in order."""
    return tuple(r.name for r in RULES.values() if r.kind == "rule")


def filter_rules() -> tuple[str, ...]:
    """Names of the request filters (kind ``"filter"``), in order."""
    return tuple(r.name for r in RULES.values() if r.kind == "filter")


def filter_rule(param: str) -> Rule:
    """The filter rule a ``RequestFilters`` field turns on."""
    for rule in RULES.values():
        if rule.param == param:
            return rule
    raise ConfigError(f"{param}: no filter rule reads this field")
