"""The certified optimum: solve the candidate graph, price what it leaves out, add what prices out, repeat.

``certified_optimum`` runs the loop; ``matching.batch.pricing`` finds the left-out pairs whose reduced cost
is negative under the optimal flow's potentials (``matching.batch.potentials``). When a pass finds none, the
flow is optimal over every allowed pair, coverage first, then total score, and the ``Certificate`` says so.

A large graph is solved without its edges far from pricing in: after a solve, the edges not chosen whose
reduced cost is more than ``PARK_MARGIN`` are parked (kept in the graph, left out of the next solves) and
priced after every solve like the left-out pairs, exactly (their scores are known); those pricing out come
back. Most edges of a large graph never enter the optimum, and the solver's time and memory grow with the
edges it is given.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from matching.batch.encode import Problem
from matching.batch.graph import CandidateGraph, edge_groups, union
from matching.batch.options import CancelCheck
from matching.batch.potentials import Potentials, residual_potentials
from matching.batch.pricing import price, reduced_costs
from matching.batch.repricing import ADD_MARGIN, PricingState
from matching.batch.solvers import Solution, SolverInput
from matching.batch.solvers.optimal import solve_network
from matching.errors import MatchingError

__all__ = ["PARK_MARGIN", "PARK_MIN_EDGES", "Certificate", "certified_optimum", "park_far_edges", "solver_input"]

PARK_MIN_EDGES = 1_000_000  # graphs from this many edges park their far edges between solves
PARK_MARGIN = 0.05  # score units: an edge not chosen is parked when its reduced cost exceeds this


@dataclass(frozen=True)
class Certificate:
    """Whether the optimum over the candidate graph is proven optimal over every allowed pair.

    ``certified`` is True only when a pricing pass found no left-out pair with a negative reduced cost;
    ``note`` says why not otherwise. ``rounds``: pricing passes that added pairs; ``pairs_added``: in all."""

    certified: bool
    rounds: int = 0
    pairs_added: int = 0
    note: str = ""


def solver_input(p: Problem, graph: CandidateGraph, left_uk: np.ndarray, left_ab: np.ndarray,
                 bonus: np.ndarray) -> SolverInput:  # fmt: skip
    """The solvers' input for the graph: places left after the forced pairs, coverage bonus, groups."""
    return SolverInput(
        graph.src, graph.dst, graph.score, left_uk, left_ab, bonus=bonus,
        group=edge_groups(graph, p.options.one_per_country, p.index.cols().country[p.ab_rows]),
        partner_score=lambda: p.scorer.pair_scores(p.ab_rows[graph.dst], p.uk_rows[graph.src]),
    )  # fmt: skip


def certified_optimum(
    p: Problem, graph: CandidateGraph, left_uk: np.ndarray, left_ab: np.ndarray, bonus: np.ndarray,
    should_cancel: CancelCheck | None = None,
) -> tuple[CandidateGraph, Solution, Certificate]:  # fmt: skip
    """Solve, price the left-out pairs, add those that price out, repeat: the final graph, its optimal
    solution and the certificate (not certified when ``options.max_pricing_rounds`` runs out first).

    A large graph is solved without its edges far from pricing in (``park_far_edges``): each solve after the
    first runs on the edges that could matter, and the parked ones are priced after every solve like the
    left-out pairs (exactly: their scores are known), coming back when they price out."""
    limit = p.options.max_pricing_rounds
    rounds = added = 0
    state: PricingState | None = None
    solving, parked = graph, _no_edges(graph)  # solved on; parked: in ``graph``, not solved on
    code = width = None
    if p.options.one_per_country:
        _, code = np.unique(p.index.cols().country[p.ab_rows], return_inverse=True)
        width = int(code.max()) + 1
    while True:
        solution, net = solve_network(solver_input(p, solving, left_uk, left_ab, bonus))
        if net is None:
            note = "no candidate pair to price from"
            return graph, _on(graph, solving, solution), Certificate(False, rounds, added, note)
        try:
            pot = residual_potentials(net, solution.chosen)
        except MatchingError as exc:
            return graph, _on(graph, solving, solution), Certificate(False, rounds, added, str(exc))
        src, dst, score, state = price(p, graph, pot, left_uk, left_ab, should_cancel, state)
        back = _returning(pot, parked, code, width)
        if len(src) == 0 and not back.any():
            return graph, _on(graph, solving, solution), Certificate(True, rounds, added)
        if rounds >= limit:
            n_out = len(src) + int(back.sum())
            note = f"max_pricing_rounds ({limit}) reached with {n_out} pair(s) still pricing out: raise it or top_k"
            return graph, _on(graph, solving, solution), Certificate(False, rounds, added, note)
        returning, parked = parked.without(back), parked.without(~back)
        if solving.n_edges >= PARK_MIN_EDGES:
            far = park_far_edges(pot, solving, solution.chosen, code, width)
            if not far.all():
                parked, solving = _join(parked, solving.without(far)), solving.without(~far)
        extra = CandidateGraph(
            graph.uk_rows, graph.intl_rows, src.astype(np.int32), dst.astype(np.int32), score, graph.top_k,
            graph.n_compatible, graph.n_open, graph.n_eligible, graph.best_open, graph.intl_compatible,
            graph.intl_eligible,
        )  # fmt: skip
        graph = union(graph, extra)
        solving = union(solving, _join(extra, returning))
        rounds, added = rounds + 1, added + len(src)


def park_far_edges(
    pot: Potentials, g: CandidateGraph, chosen: np.ndarray, code: np.ndarray | None, width: int | None
) -> np.ndarray:
    """A mask over ``g``'s edges: those not chosen whose reduced cost under ``pot`` is more than
    ``PARK_MARGIN`` (score units) from pricing in (or that would lower coverage): unlikely to enter the optimum."""
    r1, r2 = reduced_costs(pot, g.src.astype(np.int64), g.dst.astype(np.int64), g.score, code, width)
    return ~chosen & ((r1 > 0) | (r1 == 0) & (r2 > int(np.floor(PARK_MARGIN * pot.scale))))


def _returning(pot: Potentials, parked: CandidateGraph, code: np.ndarray | None, width: int | None) -> np.ndarray:
    """A mask over the parked edges: those pricing out under ``pot`` and, when one does, those within
    ``ADD_MARGIN`` of it (as the pool's)."""
    if parked.n_edges == 0:
        return np.zeros(0, bool)
    r1, r2 = reduced_costs(pot, parked.src.astype(np.int64), parked.dst.astype(np.int64), parked.score, code, width)
    pricing = (r1 < 0) | (r1 == 0) & (r2 < 0)
    if not pricing.any():
        return pricing
    return pricing | (r1 == 0) & (r2 < int(np.floor(ADD_MARGIN * pot.scale)))


def _no_edges(g: CandidateGraph) -> CandidateGraph:
    return g.without(np.zeros(g.n_edges, bool))


def _join(a: CandidateGraph, b: CandidateGraph) -> CandidateGraph:
    """The edges of both (disjoint) graphs, unordered (``union`` orders them)."""
    return CandidateGraph(
        a.uk_rows, a.intl_rows, np.concatenate([a.src, b.src]), np.concatenate([a.dst, b.dst]),
        np.concatenate([a.score, b.score]), a.top_k, a.n_compatible, a.n_open, a.n_eligible, a.best_open,
        a.intl_compatible, a.intl_eligible,
    )  # fmt: skip


def _on(graph: CandidateGraph, solving: CandidateGraph, solution: Solution) -> Solution:
    """``solution`` (over ``solving``'s edges, a subset of ``graph``'s) as a solution over ``graph``'s edges."""
    if solving is graph:
        return solution
    n_ab = max(1, len(graph.intl_rows))
    keys = graph.src.astype(np.int64) * n_ab + graph.dst
    order = np.argsort(keys, kind="stable")
    picked = solving.src[solution.chosen].astype(np.int64) * n_ab + solving.dst[solution.chosen]
    chosen = np.zeros(graph.n_edges, bool)
    chosen[order[np.searchsorted(keys[order], picked)]] = True
    return replace(solution, chosen=chosen)
