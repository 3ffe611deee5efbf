"""Batch matching of a cohort: encode -> solve -> decode.

* **Encode** (``matching.batch.encode``): ids to local positions, once; the sparse candidate graph
  (``matching.batch.candidates``): each UK school's top-K eligible schools abroad, from the core's
  hard-constraint masks and scores.
* **Solve**: ``SOLVERS[options.mode]`` (``matching.batch.solvers``, one module per mode, one signature):

  - ``optimal``: an exact min-cost flow (OR-Tools ``SimpleMinCostFlow``) with a lexicographic
    objective: first as many UK schools as possible get a partner (coverage), then the total score
    is maximal. Coverage is a big-M bonus on the first unit of each UK school's capacity arc (the
    first ``min_partners`` units when a minimum is asked), with M larger than any score difference
    between two flows, so no amount of score trades for one more covered school.
  - ``stable``: many-to-many deferred acceptance (``matching.batch.solvers.stable``), UK schools proposing.
  - ``greedy``: best pairs first while places last; a baseline for comparison only.

* **Decode** (``matching.batch.decode``): an ``Assignment`` (``matching.batch.result``): the partnerships
  with scores, exact component contributions and reasons; every unmatched school with the reason;
  diagnostics.

Capacities are never exceeded and every pair passes the hard constraints (the graph holds allowed
pairs only). The result is exact over the candidate graph; ``widening_check`` re-solves with a
wider K to show the optimum does not move. Nothing is random: the same input gives the same output.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from features.profiles import SchoolProfile
from features.text import TextEncoder
from matching.batch.decode import decode
from matching.batch.encode import Problem, candidate_graph, encode, why_short
from matching.batch.graph import CandidateGraph
from matching.batch.options import AssignmentOptions, BatchCancelled, CancelCheck, ProgressCallback
from matching.batch.pricing import Certificate, certified_optimum, solver_input
from matching.batch.result import Assignment
from matching.batch.solvers import SOLVERS
from matching.core.config import Priorities, RankerConfig
from matching.core.index import SchoolIndex
from matching.core.scoring import Scorer
from matching.errors import InfeasibleError

__all__ = ["assign", "assign_profiles", "widening_check"]


def assign(
    index: SchoolIndex,
    config: RankerConfig | None = None,
    cohort: Sequence[str] | Sequence[int] | np.ndarray | None = None,
    options: AssignmentOptions | None = None,
    progress_callback: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
    *,
    shown: np.ndarray | None = None,
) -> Assignment:
    """Match a cohort (school ids, index rows, or ``None`` for the whole index) in one batch.

    ``progress_callback(stage, done, total)`` is called as work advances (stages ``candidates``,
    ``solve``, ``explain``); ``should_cancel()`` is polled between blocks and raises
    ``BatchCancelled`` when it returns True. During candidate scoring both may be called from the
    scoring threads (one call at a time for the callback), so they should be quick and thread-safe.
    Raises ``InfeasibleError`` (saying what to change) when no pair is possible or a hard requirement
    (``min_partners``, forced pairs) cannot be met. ``shown``: the popularity prior's counts per index row when
    ``config.exposure.prior`` is on (e.g. the service's snapshot's; ``Ranker.fit_exposure`` runs when not given).
    """
    start = time.perf_counter()
    cpu = [time.process_time()]
    config = config or RankerConfig()
    options = options or AssignmentOptions()
    p = encode(index, config, cohort, options, shown)
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
    graph, rounds = candidate_graph(p, left_uk, left_ab, progress_callback, should_cancel)
    candidate_seconds = time.perf_counter() - start
    cpu.append(time.process_time())
    if should_cancel is not None and should_cancel():
        raise BatchCancelled("batch matching cancelled before solving")

    # solve
    t_solve = time.perf_counter()
    bonus = np.clip(want - forced_uk, 0, None)
    if options.mode == "optimal" and options.certify:
        graph, solution, certificate = certified_optimum(p, graph, left_uk, left_ab, bonus, should_cancel)
    else:
        solution = SOLVERS[options.mode](solver_input(p, graph, left_uk, left_ab, bonus))
        why = "certify is off" if options.mode == "optimal" else f"mode {options.mode!r} is not an optimum"
        certificate = Certificate(False, note=why)
    chosen = solution.chosen
    solve_seconds = time.perf_counter() - t_solve
    cpu.append(time.process_time())
    if progress_callback is not None:
        progress_callback("solve", 1, 1)

    partners = forced_uk + np.bincount(graph.src[chosen], minlength=n_uk)
    if options.min_partners > 0:
        lacking = np.flatnonzero((p.cap_uk > 0) & (partners < options.min_partners))
        if len(lacking):
            raise InfeasibleError(why_short(p, graph, lacking, left_uk, left_ab))

    # decode
    result = decode(p, graph, chosen, left_uk, left_ab, solution.cost, candidate_seconds, solve_seconds, start,
                    progress_callback, cpu, rounds, certificate)  # fmt: skip
    weights = _priority_weights(p)
    if not weights:
        return result
    before = _mix_without_priorities(p, graph, left_uk, left_ab, bonus)
    diagnostics = replace(result.diagnostics, priority_weights=weights,
                          partnerships_per_country_without_priorities=before)  # fmt: skip
    return replace(result, diagnostics=diagnostics)


def _priority_weights(p: Problem) -> dict[str, float]:
    """The priority weight of each country abroad in the cohort whose weight is not 1 (``config.priorities``)."""
    pr = p.config.priorities
    if not pr.countries and not pr.regions:
        return {}
    countries = sorted(set(p.index.cols().country[p.ab_rows].tolist()))
    weights = {str(c): float(pr.weight_of(str(c))) for c in countries}
    return {c: w for c, w in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0])) if w != 1.0}


def _mix_without_priorities(
    p: Problem, graph: CandidateGraph, left_uk: np.ndarray, left_ab: np.ndarray, bonus: np.ndarray
) -> dict[str, int]:
    """Partnerships per country abroad of the mode's solution on the same candidate graph with the scores
    the pairs have without priorities (forced pairs included): the mix before the priorities."""
    plain = Scorer(p.index, p.config.model_copy(update={"priorities": Priorities()}))
    plain.shown = p.scorer.shown  # the same popularity prior: only the programme priorities are left out
    score = plain.pair_scores(graph.uk_rows[graph.src], graph.intl_rows[graph.dst]).astype(np.float32)
    chosen = SOLVERS[p.options.mode](solver_input(p, replace(graph, score=score), left_uk, left_ab, bonus)).chosen
    country = p.index.cols().country[p.ab_rows]
    names, counts = np.unique(np.concatenate([country[graph.dst[chosen]], country[p.forced[:, 1]]]),
                              return_counts=True)  # fmt: skip
    return dict(sorted(zip(names.tolist(), counts.tolist(), strict=True), key=lambda kv: (-kv[1], kv[0])))


def assign_profiles(
    profiles: Sequence[SchoolProfile] | str | Path,
    encoder: TextEncoder | str = "hashing",
    config: RankerConfig | None = None,
    options: AssignmentOptions | None = None,
    progress_callback: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> Assignment:
    """Index a cohort (profiles, or a CSV/JSON path in the registry format) and match it."""
    from features.profile_files import load_profiles
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
