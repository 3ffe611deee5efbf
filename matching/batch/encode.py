"""Encode a cohort for the solvers: ids to local positions (once), places, forced and forbidden pairs, the
candidate graph; and, when it cannot be matched, what to change (``why_empty``, ``why_short``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from matching.batch.candidates import build_candidates
from matching.batch.graph import CandidateGraph, drop_taken, edge_groups, full_graph, union
from matching.batch.options import AssignmentOptions, CancelCheck, ProgressCallback
from matching.batch.pairs import PairScorer
from matching.batch.solvers.greedy import greedy
from matching.core.config import RankerConfig
from matching.core.constraints import ConstraintSet, Query
from matching.core.index import PHASE_CODE, SchoolIndex
from matching.core.ranker import Ranker
from matching.core.scoring import Scorer
from matching.errors import ConfigError, InfeasibleError

__all__ = ["Problem", "candidate_graph", "encode", "places_in_scope", "round_places", "why_empty", "why_short"]


@dataclass
class Problem:
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
    """Index rows of the cohort (ids or rows; ``None``: every registered school)."""
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


def round_places(index: SchoolIndex, capacity: int | None) -> np.ndarray:
    """Places per index row this round: each school's free capacity, or ``capacity`` less its current partners.

    An override never opens places at a school that is not taking partners: one that is inactive or
    whose own capacity is 0 ("not looking") gets none whatever ``capacity`` says.
    """
    cols = index.cols()
    if capacity is None:
        places = cols.free_capacity.astype(np.int64)
    else:
        own = np.array([p.capacity if p is not None else 0 for p in index.profiles], dtype=np.int64)
        n_partners = np.array([len(cols.partners[r]) for r in range(index.n_rows)], dtype=np.int64)
        places = np.where(own > 0, np.maximum(0, capacity - n_partners), 0)
    return np.where(cols.active & cols.present, places, 0)


def encode(
    index: SchoolIndex, config: RankerConfig, cohort: Sequence[str] | Sequence[int] | np.ndarray | None,
    options: AssignmentOptions, shown: np.ndarray | None = None,
) -> Problem:  # fmt: skip
    """The cohort as local positions on each side, with places, forced and forbidden pairs and the pair scorer
    (ids are mapped to rows here, once). ``shown``: the popularity prior's counts per index row
    (``Ranker.fit_exposure``) when ``config.exposure.prior`` is on; fitted here when not given. Raises
    ``InfeasibleError``/``ConfigError`` saying what to change."""
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
    places = round_places(index, options.capacity)
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
    if config.exposure.prior:
        scorer.shown = shown if shown is not None else Ranker(index, config).fit_exposure()
    pairs = PairScorer(index, scorer, constraints, ab_rows, {r: np.array(v) for r, v in forbidden.items()})
    problem = Problem(
        index, config, options, uk_rows, ab_rows, places[uk_rows], places[ab_rows], forced,
        pairs.forbidden, pairs, scorer,
    )  # fmt: skip
    _check_forced(problem)
    return problem


def _check_forced(p: Problem) -> None:
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


def candidate_graph(
    p: Problem,
    left_uk: np.ndarray,
    left_ab: np.ndarray,
    progress_callback: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> tuple[CandidateGraph, int]:
    """The candidate graph over the UK schools that still have places (``left_uk``/``left_ab``: places left
    after the forced pairs), and the refine rounds run. Raises ``InfeasibleError`` when not a pair is possible.

    Refine: a fast greedy pass shows which schools would be left with places; their top-K pairs among
    themselves are added (every mode then works on the same, final graph).
    """
    options = p.options
    n_uk, n_ab = len(p.uk_rows), len(p.ab_rows)
    seek = np.flatnonzero(left_uk > 0)
    sub = build_candidates(
        p.pairs, p.uk_rows[seek], left_ab > 0, options.top_k, options.min_score, options.block_size,
        options.progress, progress_callback, should_cancel, options.jobs(), options.pruned,
    )  # fmt: skip
    ab_country = p.index.cols().country[p.ab_rows]
    graph = drop_taken(full_graph(sub, seek, p.uk_rows), p.forced, options.one_per_country, ab_country)
    if graph.n_edges == 0 and len(p.forced) == 0:
        raise InfeasibleError(why_empty(p, graph, left_uk, left_ab))
    rounds = 0
    for _ in range(options.refine_rounds):
        group = edge_groups(graph, options.one_per_country, ab_country)
        probe = greedy(graph.src, graph.dst, graph.score, left_uk, left_ab, group)
        spare_uk = np.flatnonzero(left_uk - np.bincount(graph.src[probe], minlength=n_uk) > 0)
        spare_ab = left_ab - np.bincount(graph.dst[probe], minlength=n_ab) > 0
        if len(spare_uk) == 0 or not spare_ab.any():
            break
        extra = build_candidates(
            p.pairs, p.uk_rows[spare_uk], spare_ab, options.top_k, options.min_score, options.block_size,
            False, None, should_cancel, options.jobs(), options.pruned,
        )  # fmt: skip
        extra = drop_taken(full_graph(extra, spare_uk, p.uk_rows), p.forced, options.one_per_country, ab_country)
        merged = union(graph, extra)
        if merged.n_edges == graph.n_edges:
            break
        graph, rounds = merged, rounds + 1
    if options.pruned is not True:  # only the pruned pricing reads the coarse rows again
        p.pairs.release_coarse()
    return graph, rounds


def places_in_scope(p: Problem, places: np.ndarray) -> int:
    """Places abroad in the chosen countries and phases."""
    cols = p.index.cols()
    filters = p.pairs.constraints.filters
    ok = np.ones(len(p.ab_rows), dtype=bool)
    if filters.countries:
        ok &= np.isin(cols.country[p.ab_rows], np.array(filters.countries))
    if filters.phases:
        ok &= np.isin(cols.phase[p.ab_rows], [PHASE_CODE[ph] for ph in filters.phases])
    return int(np.clip(places, 0, None)[ok].sum())


def why_empty(p: Problem, g: CandidateGraph, left_uk: np.ndarray, left_ab: np.ndarray) -> str:
    """What to change when not a single pair is possible."""
    n_seek = int((left_uk > 0).sum())
    if n_seek == 0:
        return (
            f"none of the {len(p.uk_rows)} UK schools in the cohort is taking partners (all inactive or with no free "
            "places): raise capacities (--capacity) or activate schools"
        )
    places = places_in_scope(p, left_ab)
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


def why_short(p: Problem, g: CandidateGraph, lacking: np.ndarray, left_uk: np.ndarray, left_ab: np.ndarray) -> str:
    """What to change when some UK schools cannot get ``min_partners`` partners."""
    m = p.options.min_partners
    ids = p.index.columns.ids
    n_seek = int((p.cap_uk > 0).sum())
    need = n_seek * m
    places = places_in_scope(p, p.cap_ab)
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
