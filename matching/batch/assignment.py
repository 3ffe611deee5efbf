"""Batch matching of a cohort: encode -> solve -> decode.

* **Encode**: the sparse candidate graph (``matching.batch.candidates``): each UK school's top-K eligible
  schools abroad, from the core's hard-constraint masks and scores.
* **Solve**, by mode:

  - ``optimal``: an exact min-cost flow (OR-Tools ``SimpleMinCostFlow``) with a lexicographic
    objective: first as many UK schools as possible get a partner (coverage), then the total score
    is maximal. Coverage is a big-M bonus on the first unit of each UK school's capacity arc (the
    first ``min_partners`` units when a minimum is asked), with M larger than any score difference
    between two flows, so no amount of score trades for one more covered school.
  - ``stable``: many-to-many deferred acceptance (``matching.batch.stable``), UK schools proposing.
  - ``greedy``: best pairs first while places last; a baseline for comparison only.

* **Decode**: an ``Assignment``: the partnerships with scores, exact component contributions and
  reasons; every unmatched school with the reason; diagnostics.

Capacities are never exceeded and every pair passes the hard constraints (the graph holds allowed
pairs only). The result is exact over the candidate graph; ``widening_check`` re-solves with a
wider K to show the optimum does not move. Nothing is random: the same input gives the same output.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from ortools.graph.python import max_flow, min_cost_flow

from features.profiles import SchoolProfile
from features.text import TextEncoder
from matching.batch.candidates import (
    BatchCancelled,
    CancelCheck,
    CandidateGraph,
    PairScorer,
    ProgressCallback,
    build_candidates,
    edge_order,
    pair_contributions,
    pair_scores,
    score_order,
)
from matching.batch.stable import blocking_pairs, deferred_acceptance
from matching.core.config import COMPONENTS, RankerConfig
from matching.core.constraints import ConstraintSet, Query, RequestFilters
from matching.core.explain import Reasons, reasons_for
from matching.core.index import PHASE_CODE, SchoolIndex
from matching.core.scoring import Scorer, overlap_hours
from matching.errors import ConfigError, InfeasibleError, MatchingError

__all__ = [
    "MODES",
    "UNMATCHED_REASONS",
    "Assignment",
    "AssignmentOptions",
    "BatchCancelled",
    "Diagnostics",
    "Unmatched",
    "assign",
    "assign_profiles",
    "solve_greedy",
    "solve_optimal",
    "widening_check",
]

MODES: tuple[str, ...] = ("optimal", "stable", "greedy")
SCORE_SCALE = 1_000_000  # scores become integer costs in millionths
_INT_LIMIT = 2**62

UNMATCHED_REASONS: dict[str, str] = {
    "not_taking_partners": "not taking partners this round (inactive or no free places)",
    "no_compatible": "no compatible candidate at all: phase, ages, language, the country filter or exclusions "
    "rule out every school on the other side of the cohort",
    "candidates_full": "all compatible candidates are full (no free places)",
    "below_min_score": "all candidates score below the minimum score",
    "outside_top_k": "candidates with free places exist only beyond its top-K list: raise top_k",
    "candidates_taken": "all compatible candidates are full: their places went to other schools in this round "
    "(raise capacities or add countries)",
    "not_chosen": "not chosen: the compatible UK schools were matched with better-scoring partners or had no "
    "places left",
    "not_in_top_k": "not among any compatible UK school's top-K candidates: raise top_k",
}


# ----------------------------------------------------------------------------- options
@dataclass(frozen=True)
class AssignmentOptions:
    """How a cohort is matched. Every field is checked on creation (``ConfigError`` names the bad one).

    ``capacity`` overrides every school's capacity for this round (``None``: each profile's free
    capacity). ``min_score`` drops pairs scoring below it. ``one_per_country``: a UK school gets at
    most one partner per country. ``min_partners``: every UK school taking partners must get at least
    this many (hard; ``InfeasibleError`` says what to change otherwise; ``optimal`` mode only).
    ``forced_pairs`` are assigned first (they use places and need no minimum score, but must pass
    the hard constraints); ``forbidden_pairs`` are never made. ``countries``/``phases``/
    ``max_timezone_difference`` narrow the candidates abroad. ``explain`` adds contributions and
    reasons to each partnership. ``top_k``: candidates kept per school (both sides); then
    up to ``refine_rounds`` rounds then add the top-K pairs among the schools that a greedy pass
    leaves with places (every mode then solves the same final graph). ``pruned``: candidate scoring
    bounds pairs on the coarse index and scores exactly only those that can matter (the same graph);
    ``False``: bounds from the exact product; ``None``: by size (``candidates.PRUNE_MIN_PAIRS``).
    """

    mode: str = "optimal"
    top_k: int = 20
    capacity: int | None = None
    min_score: float | None = None
    one_per_country: bool = False
    min_partners: int = 0
    forced_pairs: tuple[tuple[str, str], ...] = ()
    forbidden_pairs: tuple[tuple[str, str], ...] = ()
    countries: tuple[str, ...] = ()
    phases: tuple[str, ...] = ()
    max_timezone_difference: float | None = None
    explain: bool = True
    progress: bool = True
    block_size: int | None = None
    n_jobs: int | None = None
    refine_rounds: int = 1
    pruned: bool | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode: {self.mode!r} is not one of {', '.join(MODES)}")
        _check_int("top_k", self.top_k, 1)
        if self.capacity is not None:
            _check_int("capacity", self.capacity, 0, 100)
        if self.min_score is not None and (
            isinstance(self.min_score, bool)
            or not isinstance(self.min_score, int | float)
            or not math.isfinite(self.min_score)
        ):
            raise ConfigError(f"min_score: {self.min_score!r} must be a finite number (or None for no minimum)")
        _check_int("min_partners", self.min_partners, 0, 100)
        if self.block_size is not None:
            _check_int("block_size", self.block_size, 1)
        if self.n_jobs is not None:
            _check_int("n_jobs", self.n_jobs, 1, 64)
        _check_int("refine_rounds", self.refine_rounds, 0, 20)
        if self.pruned is not None and not isinstance(self.pruned, bool):
            raise ConfigError(f"pruned: {self.pruned!r} must be True, False or None (by size)")
        object.__setattr__(self, "forced_pairs", _pairs("forced_pairs", self.forced_pairs))
        object.__setattr__(self, "forbidden_pairs", _pairs("forbidden_pairs", self.forbidden_pairs))
        both = set(map(frozenset, self.forced_pairs)) & set(map(frozenset, self.forbidden_pairs))
        if both:
            a, b = sorted(next(iter(both)))
            raise ConfigError(f"forced_pairs and forbidden_pairs both list ({a}, {b}); keep it in one of them")
        object.__setattr__(self, "countries", tuple(self.countries))
        object.__setattr__(self, "phases", tuple(self.phases))
        self.filters()  # validates countries, phases and the time-zone limit
        if self.mode != "optimal" and self.min_partners > 0:
            raise ConfigError(f"min_partners: only mode 'optimal' can guarantee a minimum (mode is {self.mode!r})")
        if self.mode == "stable" and self.one_per_country:
            raise ConfigError("one_per_country: not available in mode 'stable'; use mode 'optimal' or 'greedy'")

    def jobs(self) -> int:
        """Threads for candidate scoring: ``n_jobs``, else the machine's cores (at most 4)."""
        return self.n_jobs or max(1, min(4, os.cpu_count() or 1))

    def filters(self) -> RequestFilters:
        """The request filters narrowing the candidates abroad."""
        return RequestFilters(self.countries, self.phases, self.max_timezone_difference)

    def replace(self, **changes: object) -> AssignmentOptions:
        """A copy with some fields changed (validated again)."""
        data = {f: getattr(self, f) for f in self.__dataclass_fields__}
        data.update(changes)
        return AssignmentOptions(**data)  # type: ignore[arg-type]


def _check_int(name: str, value: object, lo: int, hi: int | None = None) -> None:
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= lo
    if not ok or (hi is not None and value > hi):  # type: ignore[operator]
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise ConfigError(f"{name}: {value!r} must be an integer {bound}")


def _pairs(name: str, pairs: object) -> tuple[tuple[str, str], ...]:
    out = []
    for pair in pairs or ():  # type: ignore[attr-defined]
        if isinstance(pair, str) or len(pair) != 2 or not all(isinstance(x, str) and x for x in pair):
            raise ConfigError(f"{name}: {pair!r} must be a pair of school ids (uk_school_id, partner_school_id)")
        out.append((pair[0], pair[1]))
    return tuple(dict.fromkeys(out))


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Unmatched:
    """A school left without a partner, and why."""

    school_id: str
    side: str  # "uk" or "abroad"
    country: str
    reason_code: str
    reason: str


@dataclass(frozen=True)
class Diagnostics:
    """Summary figures of a batch run."""

    mode: str
    n_uk: int
    n_abroad: int
    n_uk_seeking: int  # UK schools taking partners (free places > 0)
    uk_places: int
    abroad_places: int
    n_partnerships: int
    n_forced: int
    uk_covered: int  # UK schools taking partners that got at least one
    coverage: float  # uk_covered / n_uk_seeking
    abroad_covered: int
    abroad_coverage: float
    total_score: float
    mean_score: float
    min_score: float
    partnerships_per_country: dict[str, int]
    unmatched_by_reason: dict[str, int]
    objective: dict[str, float]
    n_candidate_edges: int
    top_k: int
    refine_rounds: int  # rounds of added pairs that were run
    candidate_seconds: float
    solve_seconds: float
    explain_seconds: float
    total_seconds: float
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # process CPU time per stage (all threads)
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {f: (list(v) if isinstance(v, tuple) else v) for f, v in self.__dict__.items()}


@dataclass(frozen=True)
class _Context:
    """What ``blocking_pairs`` needs to re-check a result: the graph and the places."""

    graph: CandidateGraph
    chosen: np.ndarray  # bool over graph edges
    cap_uk: np.ndarray  # places left after forced pairs
    cap_abroad: np.ndarray
    scorer: Scorer


@dataclass(frozen=True)
class Assignment:
    """The partnerships of a batch run, the schools left unmatched with reasons, and diagnostics.

    Partnership arrays are aligned: ``uk_ids[i]`` is paired with ``partner_ids[i]``; ``contributions``
    columns follow ``COMPONENTS`` and each row adds up to ``scores[i]`` (empty when ``explain`` was off).
    """

    uk_ids: np.ndarray  # (P,) object
    partner_ids: np.ndarray  # (P,) object
    partner_countries: np.ndarray  # (P,) <U2
    scores: np.ndarray  # (P,) float32
    contributions: np.ndarray  # (P, len(COMPONENTS)) float32
    forced: np.ndarray  # (P,) bool
    reasons: list[Reasons]
    unmatched: list[Unmatched]
    diagnostics: Diagnostics
    options: AssignmentOptions
    names: dict[str, str] = field(default_factory=dict, repr=False)
    context: _Context | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.uk_ids)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """The partnerships as (uk_school_id, partner_school_id)."""
        return list(zip(self.uk_ids.tolist(), self.partner_ids.tolist(), strict=True))

    def partners_of(self, school_id: str) -> list[str]:
        """The partners a school got (either side)."""
        return [b for a, b in self.pairs if a == school_id] + [a for a, b in self.pairs if b == school_id]

    def to_frame(self) -> pd.DataFrame:
        """One row per partnership: ids, names, country, score, contributions, forced, reasons."""
        frame = pd.DataFrame(
            {
                "uk_school_id": self.uk_ids.astype(str),
                "uk_school_name": [self.names.get(a, "") for a in self.uk_ids],
                "partner_school_id": self.partner_ids.astype(str),
                "partner_school_name": [self.names.get(b, "") for b in self.partner_ids],
                "partner_country": self.partner_countries.astype(str),
                "score": self.scores.astype(float).round(6),
            }
        )
        if len(self.contributions) == len(self):
            for j, name in enumerate(COMPONENTS):
                frame[name] = self.contributions[:, j].astype(float).round(6)
        frame["forced"] = self.forced
        frame["reasons"] = ["; ".join(r.sentences()) for r in self.reasons] if self.reasons else ""
        return frame

    def unmatched_frame(self) -> pd.DataFrame:
        """One row per unmatched school: id, name, side, country, reason code and text."""
        return pd.DataFrame(
            {
                "school_id": [u.school_id for u in self.unmatched],
                "school_name": [self.names.get(u.school_id, "") for u in self.unmatched],
                "side": [u.side for u in self.unmatched],
                "country": [u.country for u in self.unmatched],
                "reason_code": [u.reason_code for u in self.unmatched],
                "reason": [u.reason for u in self.unmatched],
            }
        )

    def to_csv(self, path: str | Path, unmatched_path: str | Path | None = None) -> Path:
        """Write the partnerships (and, if asked, the unmatched list) as CSV; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.to_frame().to_csv(path, index=False)
        if unmatched_path is not None:
            Path(unmatched_path).parent.mkdir(parents=True, exist_ok=True)
            self.unmatched_frame().to_csv(unmatched_path, index=False)
        return path

    def summary(self) -> list[str]:
        """A few readable lines: partnerships, coverage, scores, unmatched reasons, timings, warnings."""
        d = self.diagnostics
        lines = [
            f"mode {d.mode}: {d.n_partnerships} partnerships ({d.n_forced} forced) between {d.n_uk} UK schools "
            f"and {d.n_abroad} schools abroad",
            f"coverage: {d.uk_covered} of {d.n_uk_seeking} UK schools taking partners got at least one "
            f"({d.coverage:.1%}); schools abroad with a partner: {d.abroad_covered} ({d.abroad_coverage:.1%})",
            f"score: total {d.total_score:.3f}, mean {d.mean_score:.3f}, min {d.min_score:.3f}",
            "partnerships per country: "
            + (", ".join(f"{c} {n}" for c, n in d.partnerships_per_country.items()) or "-"),
            "unmatched: " + (", ".join(f"{r} {n}" for r, n in d.unmatched_by_reason.items()) or "none"),
            f"time: candidates {d.candidate_seconds:.2f} s ({d.n_candidate_edges} pairs, top_k {d.top_k}), "
            f"solve {d.solve_seconds:.2f} s, explain {d.explain_seconds:.2f} s, total {d.total_seconds:.2f} s",
        ]
        lines += [f"warning: {w}" for w in d.warnings]
        return lines

    def blocking_pairs(self) -> pd.DataFrame:
        """Candidate pairs that block this result (both schools would rather have each other).

        Empty for mode ``stable``; other modes usually have some (optimal is not stable in general).
        Forced pairs are taken as given (their places are not offered again).
        """
        if self.context is None:
            raise MatchingError("this assignment carries no candidate graph to check")
        ctx = self.context
        g = ctx.graph
        rev = pair_scores(ctx.scorer, g.intl_rows[g.dst], g.uk_rows[g.src])
        edges = blocking_pairs(g.src, g.dst, g.score, rev, ctx.cap_uk, ctx.cap_abroad, ctx.chosen)
        ids = ctx.scorer.index.columns.ids
        return pd.DataFrame(
            {
                "uk_school_id": [ids[r] for r in g.uk_rows[g.src[edges]]],
                "partner_school_id": [ids[r] for r in g.intl_rows[g.dst[edges]]],
                "score": g.score[edges].astype(float),
                "partner_score": rev[edges].astype(float),
            }
        )


# ----------------------------------------------------------------------------- solvers
def solve_optimal(
    src: np.ndarray,
    dst: np.ndarray,
    score: np.ndarray,
    cap_uk: np.ndarray,
    cap_abroad: np.ndarray,
    bonus: np.ndarray,
    group: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Exact lexicographic optimum over the edges: (1) sum of min(partners, bonus) (2) total score.

    A min-cost flow: source -> UK school (a bonus arc of ``bonus[u]`` units costing -M, then the
    rest of its places at 0) -> [one (school, country) node per ``group`` value, capacity 1] ->
    school abroad (capacity 1, cost -score) -> sink (its places); a free source -> sink arc lets
    flow stay home. Returns the chosen-edge mask and the optimal cost with the safe weight ``M``
    (more than any total score: coverage first, always).

    The safe ``M`` makes the costs' range huge, and the solver (cost scaling) pays for it: about 45 %
    more time on a 5M-edge graph. So the flow is solved first with a small ``M``; its coverage is then
    compared with the maximum coverage (an upper bound, else a max flow): when equal, no solution covers
    more, and among those covering as much it has the best total score, so it is the lexicographic
    optimum. Otherwise it is solved again with the safe ``M``.
    """
    n_e = len(src)
    if n_e == 0:
        return np.zeros(0, dtype=bool), 0
    net = FlowNetwork(src, dst, score, cap_uk, cap_abroad, bonus, group)
    quick = min(net.safe_weight, QUICK_COVERAGE_WEIGHT * net.spread + 1)
    chosen, cost = net.min_cost(quick)
    if quick < net.safe_weight and net.bonus.any():
        covered = net.covered(chosen)
        if covered < net.coverage_bound() and covered < net.max_coverage():
            return net.min_cost(net.safe_weight)
        cost -= (net.safe_weight - quick) * covered  # the cost the safe weight gives the same flow
    return chosen, cost


QUICK_COVERAGE_WEIGHT = 8  # the first try's coverage weight, in score spreads (see ``solve_optimal``)


class FlowNetwork:
    """The arcs of ``solve_optimal``'s flow (the bonus arcs' cost aside) and its two solves."""

    def __init__(
        self, src: np.ndarray, dst: np.ndarray, score: np.ndarray, cap_uk: np.ndarray, cap_abroad: np.ndarray,
        bonus: np.ndarray, group: np.ndarray | None,
    ) -> None:  # fmt: skip
        n_uk, n_ab, n_e = len(cap_uk), len(cap_abroad), len(src)
        cap_uk = np.asarray(cap_uk, dtype=np.int64)
        cap_abroad = np.asarray(cap_abroad, dtype=np.int64)
        self.bonus = np.minimum(np.asarray(bonus, dtype=np.int64), cap_uk)
        self.src, self.n_uk, self.n_e = src, n_uk, n_e
        groups, group_of_edge = np.zeros(0, np.int64), None
        if group is not None:
            groups, group_of_edge = np.unique(group, return_inverse=True)
        n_nodes = 2 + n_uk + n_ab + len(groups)
        units = int(min(cap_uk.sum(), cap_abroad.sum(), n_e))
        scale = SCORE_SCALE
        while True:
            costs = -np.rint(score.astype(np.float64) * scale).astype(np.int64)
            self.spread = int(max(0, -costs.min()) + max(0, costs.max())) + 1
            self.safe_weight = units * self.spread + 1
            if self.safe_weight * (n_nodes + 1) * 4 < _INT_LIMIT or scale == 1:
                break
            scale //= 10
        uk_node = 2 + np.arange(n_uk, dtype=np.int64)
        ab_node = 2 + n_uk + np.arange(n_ab, dtype=np.int64)
        # arcs: [bonus arcs (n_uk)] [other places (n_uk)] [edges (n_e)] [abroad -> sink (n_ab)] [bypass] [groups]
        tails = [np.zeros(n_uk, np.int64), np.zeros(n_uk, np.int64)]
        heads = [uk_node, uk_node]
        caps = [self.bonus, cap_uk - self.bonus]
        unit_costs = [np.zeros(n_uk, np.int64), np.zeros(n_uk, np.int64)]
        if group_of_edge is None:
            tails.append(uk_node[src])
        else:
            group_node = 2 + n_uk + n_ab + np.arange(len(groups), dtype=np.int64)
            tails.append(group_node[group_of_edge])
        heads.append(ab_node[dst])
        caps.append(np.ones(n_e, np.int64))
        unit_costs.append(costs)
        tails += [ab_node, np.zeros(1, np.int64)]
        heads += [np.ones(n_ab, np.int64), np.ones(1, np.int64)]
        caps += [cap_abroad, np.array([cap_uk.sum()], np.int64)]
        unit_costs += [np.zeros(n_ab, np.int64), np.zeros(1, np.int64)]
        if group_of_edge is not None:
            first_src = np.unique(group_of_edge, return_index=True)[1]
            tails.append(uk_node[src[first_src]])
            heads.append(group_node)
            caps.append(np.ones(len(groups), np.int64))
            unit_costs.append(np.zeros(len(groups), np.int64))
        self.tails = np.concatenate(tails).astype(np.int32)
        self.heads = np.concatenate(heads).astype(np.int32)
        self.caps = np.concatenate(caps).astype(np.int64)
        self.costs = np.concatenate(unit_costs).astype(np.int64)
        self.supply = int(cap_uk.sum())
        self.first_edge_arc = 2 * n_uk
        self.bypass_arc = 2 * n_uk + n_e + n_ab

    def min_cost(self, coverage_weight: int) -> tuple[np.ndarray, int]:
        """The min-cost flow with the bonus arcs at ``-coverage_weight``: chosen edges and the optimal cost."""
        costs = self.costs.copy()
        costs[: self.n_uk] = -coverage_weight
        flow = min_cost_flow.SimpleMinCostFlow()
        flow.add_arcs_with_capacity_and_unit_cost(self.tails, self.heads, self.caps, costs)
        flow.set_nodes_supplies(np.array([0, 1], dtype=np.int32), np.array([self.supply, -self.supply], np.int64))
        status = flow.solve()
        if status != flow.OPTIMAL:
            raise MatchingError(f"the min-cost flow solver stopped with status {status!r}; please report this input")
        arcs = np.arange(self.first_edge_arc, self.first_edge_arc + self.n_e, dtype=np.int32)
        return np.asarray(flow.flows(arcs)) > 0, int(flow.optimal_cost())

    def covered(self, chosen: np.ndarray) -> int:
        """Coverage units of a choice: the sum of min(partners, bonus)."""
        return int(np.minimum(np.bincount(self.src[chosen], minlength=self.n_uk), self.bonus).sum())

    def coverage_bound(self) -> int:
        """An upper bound on the coverage: each school's bonus, at most its number of edges."""
        reach = np.bincount(self.src, minlength=self.n_uk)
        return int(np.minimum(reach, self.bonus).sum())

    def max_coverage(self) -> int:
        """The maximum coverage: a max flow through the bonus arcs only (no bypass, no other places)."""
        keep = np.ones(len(self.caps), dtype=bool)
        keep[self.n_uk : 2 * self.n_uk] = False  # the places beyond the bonus
        keep[self.bypass_arc] = False
        flow = max_flow.SimpleMaxFlow()
        flow.add_arcs_with_capacity(self.tails[keep], self.heads[keep], self.caps[keep])
        status = flow.solve(0, 1)
        if status != flow.OPTIMAL:
            raise MatchingError(f"the max-flow solver stopped with status {status!r}; please report this input")
        return int(flow.optimal_flow())


def solve_greedy(
    src: np.ndarray,
    dst: np.ndarray,
    score: np.ndarray,
    cap_uk: np.ndarray,
    cap_abroad: np.ndarray,
    group: np.ndarray | None = None,
) -> np.ndarray:
    """Best pairs first (score descending, ties by position) while both have places; a baseline."""
    chosen = np.zeros(len(src), dtype=bool)
    order = score_order(src, dst, score)
    left_uk = [int(c) for c in cap_uk]
    left_ab = [int(c) for c in cap_abroad]
    used_groups: set[int] = set()
    src_l, dst_l = src.tolist(), dst.tolist()
    group_l = group.tolist() if group is not None else None
    for e in order.tolist():
        u, v = src_l[e], dst_l[e]
        if left_uk[u] > 0 and left_ab[v] > 0:
            if group_l is not None:
                if group_l[e] in used_groups:
                    continue
                used_groups.add(group_l[e])
            left_uk[u] -= 1
            left_ab[v] -= 1
            chosen[e] = True
    return chosen


# ----------------------------------------------------------------------------- the run
@dataclass
class _Problem:
    """A cohort encoded: the two sides (local positions), places, forced pairs, candidate scorer."""

    index: SchoolIndex
    config: RankerConfig
    options: AssignmentOptions
    uk_rows: np.ndarray
    ab_rows: np.ndarray
    cap_uk: np.ndarray  # places this round (before forced pairs)
    cap_ab: np.ndarray
    forced: np.ndarray  # (F, 2) local (uk, abroad)
    forbidden: dict[int, np.ndarray]
    pairs: PairScorer
    scorer: Scorer


def _cohort_rows(index: SchoolIndex, cohort: Sequence[str] | Sequence[int] | np.ndarray | None) -> np.ndarray:
    present = np.flatnonzero(index.cols().present)
    if cohort is None:
        return present
    items = list(cohort)
    if not items:
        raise InfeasibleError("the cohort is empty: give school ids (or leave it out to match the whole registry)")
    if all(isinstance(x, str) for x in items):
        return np.unique(index.rows(items))
    rows = np.asarray(items)
    if rows.dtype.kind not in "iu":
        raise ConfigError("cohort: give school ids (strings) or index rows (integers), not a mix")
    bad = rows[(rows < 0) | (rows >= index.n_rows)]
    if len(bad) == 0:
        bad = rows[~index.cols().present[rows]]
    if len(bad):
        raise ConfigError(f"cohort: row {int(bad[0])} is not a registered school (rows 0..{index.n_rows - 1})")
    return np.unique(rows.astype(np.int64))


def _encode(
    index: SchoolIndex, config: RankerConfig, cohort: Sequence[str] | Sequence[int] | np.ndarray | None,
    options: AssignmentOptions,
) -> _Problem:  # fmt: skip
    rows = _cohort_rows(index, cohort)
    cols = index.cols()
    is_uk = cols.is_uk[rows]
    uk_rows, ab_rows = rows[is_uk], rows[~is_uk]
    if len(uk_rows) == 0:
        raise InfeasibleError(
            f"the cohort has no UK school (country GB) among its {len(rows)} schools: add UK schools to the cohort"
        )
    if len(ab_rows) == 0:
        raise InfeasibleError(
            f"the cohort has no school abroad among its {len(rows)} schools: add schools from other countries"
        )
    if options.capacity is None:
        places = cols.free_capacity.astype(np.int64)
    else:
        n_partners = np.array([len(cols.partners[r]) for r in range(index.n_rows)], dtype=np.int64)
        places = np.maximum(0, options.capacity - n_partners)
    places = np.where(cols.active, places, 0)
    uk_pos = {int(r): i for i, r in enumerate(uk_rows)}
    ab_pos = {int(r): i for i, r in enumerate(ab_rows)}

    def locate(name: str, a: str, b: str) -> tuple[int, int]:
        ra, rb = index.row(a), index.row(b)
        if ra in ab_pos and rb in uk_pos:
            ra, rb = rb, ra
        if ra not in uk_pos or rb not in ab_pos:
            where = [s for s, r in ((a, ra), (b, rb)) if r not in uk_pos and r not in ab_pos]
            if where:
                raise ConfigError(f"{name}: school {where[0]!r} is not in the cohort")
            raise ConfigError(f"{name}: ({a}, {b}) must pair a UK school with a school abroad")
        return uk_pos[ra], ab_pos[rb]

    forced = np.array([locate("forced_pairs", a, b) for a, b in options.forced_pairs], dtype=np.int64).reshape(-1, 2)
    forbidden: dict[int, list[int]] = {}
    for a, b in options.forbidden_pairs:
        u, v = locate("forbidden_pairs", a, b)
        forbidden.setdefault(int(uk_rows[u]), []).append(v)
    constraints = ConstraintSet(
        config.constraints.model_copy(update={"candidate_available": False}), options.filters()
    )  # availability is the batch's own places (capacity option), checked below
    scorer = Scorer(index, config)
    pairs = PairScorer(index, scorer, constraints, ab_rows, {r: np.array(v) for r, v in forbidden.items()})
    problem = _Problem(
        index, config, options, uk_rows, ab_rows, places[uk_rows], places[ab_rows], forced,
        pairs.forbidden, pairs, scorer,
    )  # fmt: skip
    _check_forced(problem)
    return problem


def _check_forced(p: _Problem) -> None:
    """Forced pairs pass the hard constraints and fit the places (and one per country when asked)."""
    if len(p.forced) == 0:
        return
    ids = p.index.columns.ids
    for u, v in p.forced:
        row_u, row_v = int(p.uk_rows[u]), int(p.ab_rows[v])
        query = Query.registered(p.index, [row_u])
        blocked = p.pairs.constraints.blocking(p.index, query, row_v)
        if blocked:
            why = "; ".join(m for _, m in blocked)
            raise InfeasibleError(
                f"forced pair ({ids[row_u]}, {ids[row_v]}) breaks a hard constraint ({why}): remove it from the "
                "forced pairs or switch that rule off in the ranker configuration"
            )
    for side, col, caps, rows in (("UK", 0, p.cap_uk, p.uk_rows), ("abroad", 1, p.cap_ab, p.ab_rows)):
        counts = np.bincount(p.forced[:, col], minlength=len(caps))
        over = np.flatnonzero(counts > caps)
        if len(over):
            i = over[0]
            raise InfeasibleError(
                f"forced pairs give {ids[rows[i]]} ({side}) {counts[i]} partners but it has {caps[i]} place(s) "
                "this round: raise its capacity (or --capacity) or remove a forced pair"
            )
    if p.options.one_per_country:
        country = p.index.cols().country[p.ab_rows]
        seen: set[tuple[int, str]] = set()
        for u, v in p.forced:
            key = (int(u), str(country[v]))
            if key in seen:
                raise InfeasibleError(
                    f"one_per_country: forced pairs give {ids[p.uk_rows[u]]} two partners in {key[1]}: "
                    "remove one or turn one_per_country off"
                )
            seen.add(key)


def assign(
    index: SchoolIndex,
    config: RankerConfig | None = None,
    cohort: Sequence[str] | Sequence[int] | np.ndarray | None = None,
    options: AssignmentOptions | None = None,
    progress_callback: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> Assignment:
    """Match a cohort (school ids, index rows, or ``None`` for the whole index) in one batch.

    ``progress_callback(stage, done, total)`` is called as work advances (stages ``candidates``,
    ``solve``, ``explain``); ``should_cancel()`` is polled between blocks and raises
    ``BatchCancelled`` when it returns True. During candidate scoring both may be called from the
    scoring threads (one call at a time for the callback), so they should be quick and thread-safe.
    Raises ``InfeasibleError`` (saying what to change) when no pair is possible or a hard requirement
    (``min_partners``, forced pairs) cannot be met.
    """
    start = time.perf_counter()
    cpu = [time.process_time()]
    config = config or RankerConfig()
    options = options or AssignmentOptions()
    p = _encode(index, config, cohort, options)
    n_uk, n_ab = len(p.uk_rows), len(p.ab_rows)
    forced_uk = np.bincount(p.forced[:, 0], minlength=n_uk)
    forced_ab = np.bincount(p.forced[:, 1], minlength=n_ab)
    left_uk, left_ab = p.cap_uk - forced_uk, p.cap_ab - forced_ab
    want = max(1, options.min_partners)
    short = np.flatnonzero((p.cap_uk > 0) & (p.cap_uk < options.min_partners))
    if len(short):
        raise InfeasibleError(
            f"{len(short)} UK school(s) have fewer places than min_partners={options.min_partners} "
            f"(e.g. {index.columns.ids[p.uk_rows[short[0]]]} has {p.cap_uk[short[0]]}): raise their capacity "
            "(--capacity) or lower min_partners"
        )

    # encode: the candidate graph over the UK schools that still have places
    seek = np.flatnonzero(left_uk > 0)
    sub = build_candidates(
        p.pairs, p.uk_rows[seek], left_ab > 0, options.top_k, options.min_score, options.block_size,
        options.progress, progress_callback, should_cancel, options.jobs(), options.pruned,
    )  # fmt: skip
    ab_country = index.cols().country[p.ab_rows]
    graph = _drop_taken(_full_graph(sub, seek, p.uk_rows), p, ab_country)
    if graph.n_edges == 0 and len(p.forced) == 0:
        raise InfeasibleError(_why_empty(p, graph, left_uk, left_ab))

    # refine: a fast greedy pass shows which schools would be left with places; add their top-K pairs among
    # themselves (every mode then works on the same, final graph)
    rounds = 0
    for _ in range(options.refine_rounds):
        probe = solve_greedy(graph.src, graph.dst, graph.score, left_uk, left_ab, _groups(graph, options, ab_country))
        spare_uk = np.flatnonzero(left_uk - np.bincount(graph.src[probe], minlength=n_uk) > 0)
        spare_ab = left_ab - np.bincount(graph.dst[probe], minlength=n_ab) > 0
        if len(spare_uk) == 0 or not spare_ab.any():
            break
        extra = build_candidates(
            p.pairs, p.uk_rows[spare_uk], spare_ab, options.top_k, options.min_score, options.block_size,
            False, None, should_cancel, options.jobs(), options.pruned,
        )  # fmt: skip
        merged = _union(graph, _drop_taken(_full_graph(extra, spare_uk, p.uk_rows), p, ab_country))
        if merged.n_edges == graph.n_edges:
            break
        graph, rounds = merged, rounds + 1
    candidate_seconds = time.perf_counter() - start
    cpu.append(time.process_time())
    if should_cancel is not None and should_cancel():
        raise BatchCancelled("batch matching cancelled before solving")

    # solve
    t_solve = time.perf_counter()
    solver_cost: float | None = None
    group = _groups(graph, options, ab_country)
    if options.mode == "optimal":
        bonus = np.clip(want - forced_uk, 0, None)
        chosen, cost = solve_optimal(graph.src, graph.dst, graph.score, left_uk, left_ab, bonus, group)
        solver_cost = float(cost)
    elif options.mode == "greedy":
        chosen = solve_greedy(graph.src, graph.dst, graph.score, left_uk, left_ab, group)
    else:
        rev = pair_scores(p.scorer, p.ab_rows[graph.dst], p.uk_rows[graph.src])
        chosen = deferred_acceptance(graph.src, graph.dst, graph.score, rev, left_uk, left_ab)
    solve_seconds = time.perf_counter() - t_solve
    cpu.append(time.process_time())
    if progress_callback is not None:
        progress_callback("solve", 1, 1)

    partners = forced_uk + np.bincount(graph.src[chosen], minlength=n_uk)
    if options.min_partners > 0:
        lacking = np.flatnonzero((p.cap_uk > 0) & (partners < options.min_partners))
        if len(lacking):
            raise InfeasibleError(_why_short(p, graph, lacking, left_uk, left_ab))

    # decode
    return _decode(p, graph, chosen, left_uk, left_ab, solver_cost, candidate_seconds, solve_seconds, start,
                   progress_callback, cpu, rounds)  # fmt: skip


def _drop_taken(graph: CandidateGraph, p: _Problem, ab_country: np.ndarray) -> CandidateGraph:
    """Without the forced pairs (already made) and, with one per country, the countries they fill."""
    if len(p.forced) == 0 or graph.n_edges == 0:
        return graph
    n_ab = len(p.ab_rows)
    keep = ~np.isin(graph.src.astype(np.int64) * n_ab + graph.dst, p.forced[:, 0] * n_ab + p.forced[:, 1])
    if p.options.one_per_country:
        _, code = np.unique(ab_country, return_inverse=True)
        width = int(code.max()) + 1
        taken = p.forced[:, 0] * width + code[p.forced[:, 1]]
        keep &= ~np.isin(graph.src.astype(np.int64) * width + code[graph.dst], taken)
    return graph.without(keep)


def _groups(graph: CandidateGraph, options: AssignmentOptions, ab_country: np.ndarray) -> np.ndarray | None:
    """With one partner per country: each edge's (UK school, country) group."""
    if not options.one_per_country or graph.n_edges == 0:
        return None
    _, code = np.unique(ab_country, return_inverse=True)
    return graph.src.astype(np.int64) * (int(code.max()) + 1) + code[graph.dst]


def _union(graph: CandidateGraph, extra: CandidateGraph) -> CandidateGraph:
    """The edges of both graphs, once each, grouped by UK school, best first (counts from ``graph``)."""
    n_ab = max(1, len(graph.intl_rows))
    src = np.concatenate([graph.src, extra.src])
    dst = np.concatenate([graph.dst, extra.dst])
    score = np.concatenate([graph.score, extra.score])
    order = edge_order(src, dst, score, n_ab, unique=True)
    return CandidateGraph(
        graph.uk_rows, graph.intl_rows, src[order], dst[order], score[order], graph.top_k, graph.n_compatible,
        graph.n_open, graph.n_eligible, graph.best_open, graph.intl_compatible, graph.intl_eligible,
    )  # fmt: skip


def _full_graph(sub: CandidateGraph, seek: np.ndarray, uk_rows: np.ndarray) -> CandidateGraph:
    """A graph over a subset of UK schools, re-indexed over all of them."""
    n = len(uk_rows)

    def spread(values: np.ndarray, fill: float) -> np.ndarray:
        out = np.full(n, fill, dtype=values.dtype)
        out[seek] = values
        return out

    return CandidateGraph(
        uk_rows=uk_rows, intl_rows=sub.intl_rows, src=seek[sub.src].astype(np.int32), dst=sub.dst, score=sub.score,
        top_k=sub.top_k, n_compatible=spread(sub.n_compatible, 0), n_open=spread(sub.n_open, 0),
        n_eligible=spread(sub.n_eligible, 0), best_open=spread(sub.best_open, np.nan),
        intl_compatible=sub.intl_compatible, intl_eligible=sub.intl_eligible,
    )  # fmt: skip


def _places_in_scope(p: _Problem, places: np.ndarray) -> int:
    """Places abroad in the chosen countries and phases."""
    cols = p.index.cols()
    filters = p.pairs.constraints.filters
    ok = np.ones(len(p.ab_rows), dtype=bool)
    if filters.countries:
        ok &= np.isin(cols.country[p.ab_rows], np.array(filters.countries))
    if filters.phases:
        ok &= np.isin(cols.phase[p.ab_rows], [PHASE_CODE[ph] for ph in filters.phases])
    return int(np.clip(places, 0, None)[ok].sum())


def _why_empty(p: _Problem, g: CandidateGraph, left_uk: np.ndarray, left_ab: np.ndarray) -> str:
    """What to change when not a single pair is possible."""
    n_seek = int((left_uk > 0).sum())
    if n_seek == 0:
        return (
            f"none of the {len(p.uk_rows)} UK schools in the cohort is taking partners (all inactive or with no free "
            "places): raise capacities (--capacity) or activate schools"
        )
    places = _places_in_scope(p, left_ab)
    if places == 0:
        return (
            f"{n_seek} UK schools want a partner but no places remain in the chosen countries "
            f"({len(p.ab_rows)} schools abroad, all full or inactive): add countries, raise capacities or add schools"
        )
    if g.n_compatible.sum() == 0:
        return (
            f"no pair of schools passes the hard constraints ({n_seek} UK schools, {len(p.ab_rows)} abroad): phases, "
            "pupil ages, languages, the country filter or exclusions rule out every pair: add countries or schools, "
            "or relax the constraints"
        )
    if g.n_open.sum() == 0:
        return "every compatible school abroad is full: raise capacities (--capacity) or add schools"
    best = float(np.nanmax(g.best_open))
    return (
        f"every compatible pair scores below the minimum score {p.options.min_score:g} "
        f"(the best pair scores {best:.3f}): lower the minimum score"
    )


def _why_short(p: _Problem, g: CandidateGraph, lacking: np.ndarray, left_uk: np.ndarray, left_ab: np.ndarray) -> str:
    """What to change when some UK schools cannot get ``min_partners`` partners."""
    m = p.options.min_partners
    ids = p.index.columns.ids
    n_seek = int((p.cap_uk > 0).sum())
    need = n_seek * m
    places = _places_in_scope(p, p.cap_ab)
    if need > places:
        return (
            f"{n_seek} UK schools want {m} partner(s) each ({need} places) but only {places} places remain in the "
            "chosen countries: add countries, raise capacities or lower the minimum score"
        )
    forced_uk = np.bincount(p.forced[:, 0], minlength=len(p.uk_rows))
    few = lacking[(g.n_eligible[lacking] + forced_uk[lacking]) < m]
    if len(few):
        examples = ", ".join(f"{ids[p.uk_rows[u]]} ({g.n_eligible[u] + forced_uk[u]})" for u in few[:3])
        return (
            f"{len(few)} UK school(s) have fewer than {m} compatible candidates with free places above the minimum "
            f"score (e.g. {examples}): add countries or schools, relax constraints, lower the minimum score or "
            "lower min_partners"
        )
    examples = ", ".join(ids[p.uk_rows[u]] for u in lacking[:3])
    return (
        f"only {n_seek - len(lacking)} of {n_seek} UK schools can get {m} partner(s) at once: the others' candidates "
        f"are wanted by other schools too (e.g. {examples}): raise capacities, add countries, raise top_k "
        f"(now {p.options.top_k}) or lower min_partners"
    )


def _decode(
    p: _Problem, g: CandidateGraph, chosen: np.ndarray, left_uk: np.ndarray, left_ab: np.ndarray,
    solver_cost: float | None, candidate_seconds: float, solve_seconds: float, start: float,
    progress_callback: ProgressCallback | None, cpu: list[float], rounds: int,
) -> Assignment:  # fmt: skip
    t_explain = time.perf_counter()
    index, options = p.index, p.options
    ids = index.columns.ids
    cols = index.cols()
    n_uk, n_ab = len(p.uk_rows), len(p.ab_rows)
    u_local = np.concatenate([p.forced[:, 0], g.src[chosen]]).astype(np.int64)
    v_local = np.concatenate([p.forced[:, 1], g.dst[chosen]]).astype(np.int64)
    forced_flag = np.concatenate([np.ones(len(p.forced), bool), np.zeros(int(chosen.sum()), bool)])
    a_rows, b_rows = p.uk_rows[u_local], p.ab_rows[v_local]
    scores = np.concatenate(
        [pair_scores(p.scorer, a_rows[: len(p.forced)], b_rows[: len(p.forced)]), g.score[chosen]]
    ).astype(np.float32)
    order = edge_order(a_rows, b_rows, scores, index.n_rows)
    a_rows, b_rows, scores, forced_flag = a_rows[order], b_rows[order], scores[order], forced_flag[order]
    u_local, v_local = u_local[order], v_local[order]
    if options.explain:
        contributions = pair_contributions(p.scorer, a_rows, b_rows)
        hours = overlap_hours(cols.tz_offset[a_rows], cols.tz_offset[b_rows], p.config.school_day_hours)
        reasons = [
            reasons_for(index.profiles[a], index.profiles[b], h, p.config.skill_threshold)  # type: ignore[arg-type]
            for a, b, h in zip(a_rows.tolist(), b_rows.tolist(), hours.tolist(), strict=True)
        ]
    else:
        contributions, reasons = np.zeros((0, len(COMPONENTS)), np.float32), []

    n_partners_uk = np.bincount(u_local, minlength=n_uk)
    n_partners_ab = np.bincount(v_local, minlength=n_ab)
    used_ab = np.bincount(g.dst[chosen], minlength=n_ab)
    free_after = left_ab - used_ab
    unmatched = _unmatched(p, g, n_partners_uk, n_partners_ab, free_after)
    if progress_callback is not None:
        progress_callback("explain", 1, 1)

    seeking = p.cap_uk > 0
    ab_open = p.cap_ab > 0
    uk_covered = int((n_partners_uk[seeking] > 0).sum())
    countries, counts = np.unique(cols.country[b_rows], return_counts=True)
    per_country = dict(sorted(zip(countries.tolist(), counts.tolist(), strict=True), key=lambda kv: (-kv[1], kv[0])))
    by_reason: dict[str, int] = {}
    for u in unmatched:
        by_reason[u.reason_code] = by_reason.get(u.reason_code, 0) + 1
    want = max(1, options.min_partners)
    warnings = []
    n_seek = int(seeking.sum())
    places = _places_in_scope(p, p.cap_ab)
    if n_seek * want > places:
        warnings.append(
            f"{n_seek} UK schools want a partner but only {places} places remain in the chosen countries: "
            "add countries, raise capacities or lower the minimum score"
        )
    n_outside = by_reason.get("outside_top_k", 0)
    if n_outside:
        warnings.append(
            f"{n_outside} UK school(s) were left out while compatible candidates beyond their top {options.top_k} "
            "still had places: raise top_k"
        )
    total = float(scores.astype(np.float64).sum())
    diagnostics = Diagnostics(
        mode=options.mode,
        n_uk=n_uk,
        n_abroad=n_ab,
        n_uk_seeking=n_seek,
        uk_places=int(p.cap_uk.sum()),
        abroad_places=int(p.cap_ab.sum()),
        n_partnerships=len(a_rows),
        n_forced=int(forced_flag.sum()),
        uk_covered=uk_covered,
        coverage=uk_covered / n_seek if n_seek else 0.0,
        abroad_covered=int((n_partners_ab[ab_open] > 0).sum()),
        abroad_coverage=float((n_partners_ab[ab_open] > 0).mean()) if ab_open.any() else 0.0,
        total_score=total,
        mean_score=total / len(scores) if len(scores) else 0.0,
        min_score=float(scores.min()) if len(scores) else 0.0,
        partnerships_per_country=per_country,
        unmatched_by_reason=by_reason,
        objective={
            "covered_units": int(np.minimum(n_partners_uk[seeking], want).sum()),
            "total_score": total,
            **({"solver_cost": solver_cost} if solver_cost is not None else {}),
        },
        n_candidate_edges=g.n_edges,
        top_k=options.top_k,
        refine_rounds=rounds,
        candidate_seconds=candidate_seconds,
        solve_seconds=solve_seconds,
        explain_seconds=time.perf_counter() - t_explain,
        total_seconds=time.perf_counter() - start,
        cpu_seconds={
            "candidates": cpu[1] - cpu[0],
            "solve": cpu[2] - cpu[1],
            "explain": time.process_time() - cpu[2],
            "total": time.process_time() - cpu[0],
        },
        warnings=tuple(warnings),
    )
    names = {ids[r]: index.profiles[r].name for r in np.concatenate([p.uk_rows, p.ab_rows]).tolist()}  # type: ignore[union-attr]
    return Assignment(
        uk_ids=np.array([ids[r] for r in a_rows.tolist()], dtype=object),
        partner_ids=np.array([ids[r] for r in b_rows.tolist()], dtype=object),
        partner_countries=cols.country[b_rows].astype("<U2"),
        scores=scores,
        contributions=contributions,
        forced=forced_flag,
        reasons=reasons,
        unmatched=unmatched,
        diagnostics=diagnostics,
        options=options,
        names=names,
        context=_Context(g, chosen, left_uk, left_ab, p.scorer),
    )


def _unmatched(
    p: _Problem, g: CandidateGraph, n_uk: np.ndarray, n_ab: np.ndarray, free_after: np.ndarray
) -> list[Unmatched]:
    """Every school without a partner, with the reason."""
    ids = p.index.columns.ids
    country = p.index.cols().country
    out: list[Unmatched] = []
    lonely = np.flatnonzero(n_uk == 0)
    # UK schools whose eligible candidates may still have places: look at their whole row again
    recheck = lonely[(p.cap_uk[lonely] > 0) & (g.n_eligible[lonely] > 0)]
    free_beyond: dict[int, bool] = {}
    min_score = p.options.min_score
    free = np.flatnonzero((p.cap_ab > 0) & (free_after > 0))  # only these candidates matter
    step = 256
    for start in range(0, len(recheck) if len(free) else 0, step):
        rows = p.uk_rows[recheck[start : start + step]]
        eligible = p.pairs.allowed(rows, free)
        if min_score is not None:
            eligible &= p.pairs.scores(rows, free) >= np.float32(min_score)
        free_beyond.update(zip(recheck[start : start + step].tolist(), eligible.any(axis=1).tolist(), strict=True))
    for u in lonely.tolist():
        if p.cap_uk[u] <= 0:
            code, detail = "not_taking_partners", ""
        elif g.n_compatible[u] == 0:
            code, detail = "no_compatible", ""
        elif g.n_open[u] == 0:
            code, detail = "candidates_full", f" ({g.n_compatible[u]} compatible)"
        elif g.n_eligible[u] == 0:
            code, detail = "below_min_score", f" (best {g.best_open[u]:.3f} < {min_score:g})"
        elif free_beyond.get(u, False):
            code, detail = "outside_top_k", f" (top_k {p.options.top_k})"
        else:
            code, detail = "candidates_taken", f" ({g.n_eligible[u]} eligible)"
        row = int(p.uk_rows[u])
        out.append(Unmatched(ids[row], "uk", str(country[row]), code, UNMATCHED_REASONS[code] + detail))
    in_graph = np.bincount(g.dst, minlength=len(p.ab_rows)) > 0
    for v in np.flatnonzero(n_ab == 0).tolist():
        if p.cap_ab[v] <= 0:
            code = "not_taking_partners"
        elif not g.intl_compatible[v]:
            code = "no_compatible"
        elif not g.intl_eligible[v]:
            code = "below_min_score"
        elif not in_graph[v]:
            code = "not_in_top_k"
        else:
            code = "not_chosen"
        row = int(p.ab_rows[v])
        out.append(Unmatched(ids[row], "abroad", str(country[row]), code, UNMATCHED_REASONS[code]))
    return out


# ----------------------------------------------------------------------------- helpers for callers
def assign_profiles(
    profiles: Sequence[SchoolProfile] | str | Path,
    encoder: TextEncoder | str = "hashing",
    config: RankerConfig | None = None,
    options: AssignmentOptions | None = None,
    progress_callback: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> Assignment:
    """Index a cohort (profiles, or a CSV/JSON path in the registry format) and match it."""
    from features.profiles import load_profiles
    from matching.core.engine import make_encoder

    if isinstance(profiles, str | Path):
        profiles = load_profiles(profiles)
    if isinstance(encoder, str):
        encoder = make_encoder(encoder)
    options = options or AssignmentOptions()
    index = SchoolIndex.build(list(profiles), encoder, progress=options.progress)
    return assign(index, config, None, options, progress_callback, should_cancel)


def widening_check(
    index: SchoolIndex,
    config: RankerConfig | None = None,
    cohort: Sequence[str] | Sequence[int] | np.ndarray | None = None,
    options: AssignmentOptions | None = None,
    factor: int = 4,
) -> dict[str, float]:
    """Solve with ``top_k`` and with ``factor * top_k``: the optimum should not move.

    Returns both objectives (covered units and total score) and whether they agree.
    """
    options = (options or AssignmentOptions()).replace(explain=False, progress=False)
    narrow = assign(index, config, cohort, options).diagnostics.objective
    wide = assign(index, config, cohort, options.replace(top_k=options.top_k * factor)).diagnostics.objective
    same = narrow["covered_units"] == wide["covered_units"] and math.isclose(
        narrow["total_score"], wide["total_score"], rel_tol=1e-6, abs_tol=1e-4
    )
    return {
        "top_k": options.top_k,
        "wide_top_k": options.top_k * factor,
        "covered_units": narrow["covered_units"],
        "wide_covered_units": wide["covered_units"],
        "total_score": narrow["total_score"],
        "wide_total_score": wide["total_score"],
        "same": float(same),
    }
