"""The optimal solver: an exact min-cost flow (OR-Tools ``SimpleMinCostFlow``), coverage first.

The objective is lexicographic: first as many UK schools as possible get a partner (coverage), then the
total score is maximal. Coverage is a big-M bonus on the first unit of each UK school's capacity arc (the
first ``min_partners`` units when a minimum is asked), with M larger than any score difference between
two flows, so no amount of score trades for one more covered school.
"""

from __future__ import annotations

import numpy as np
from ortools.graph.python import max_flow, min_cost_flow

from matching.batch.solvers.base import Solution, SolverInput
from matching.errors import MatchingError

__all__ = ["QUICK_COVERAGE_WEIGHT", "SCORE_SCALE", "FlowNetwork", "solve_network", "solve_optimal"]

SCORE_SCALE = 1_000_000  # scores become integer costs in millionths
_INT_LIMIT = 2**62


def solve_optimal(problem: SolverInput) -> Solution:
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
    return solve_network(problem)[0]


def solve_network(problem: SolverInput) -> tuple[Solution, FlowNetwork | None]:
    """``solve_optimal``, and the flow network it solved (``None`` when there is no edge): its arcs and
    integer costs are what ``matching.batch.potentials`` prices the chosen flow on."""
    p = problem
    if len(p.src) == 0:
        return Solution(np.zeros(0, dtype=bool), 0.0), None
    net = FlowNetwork(p.src, p.dst, p.score, p.cap_uk, p.cap_abroad, p.coverage_bonus(), p.group)
    quick = min(net.safe_weight, QUICK_COVERAGE_WEIGHT * net.spread + 1)
    chosen, cost = net.min_cost(quick)
    if quick < net.safe_weight and net.bonus.any():
        covered = net.covered(chosen)
        if covered < net.coverage_bound() and covered < net.max_coverage():
            chosen, cost = net.min_cost(net.safe_weight)
            return Solution(chosen, float(cost)), net
        cost -= (net.safe_weight - quick) * covered  # the cost the safe weight gives the same flow
    return Solution(chosen, float(cost)), net


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
        self.src, self.n_uk, self.n_ab, self.n_e = src, n_uk, n_ab, n_e
        self.cap_uk, self.cap_abroad = cap_uk, cap_abroad
        groups, group_of_edge = np.zeros(0, np.int64), None
        if group is not None:
            groups, group_of_edge = np.unique(group, return_inverse=True)
        self.groups, self.group_of_edge = groups, group_of_edge  # sorted group values; each edge's group
        n_nodes = self.n_nodes = 2 + n_uk + n_ab + len(groups)  # source 0, sink 1, UK, abroad, groups
        units = int(min(cap_uk.sum(), cap_abroad.sum(), n_e))
        scale = SCORE_SCALE
        while True:
            costs = -np.rint(score.astype(np.float64) * scale).astype(np.int64)
            self.spread = int(max(0, -costs.min()) + max(0, costs.max())) + 1
            self.safe_weight = units * self.spread + 1
            if self.safe_weight * (n_nodes + 1) * 4 < _INT_LIMIT or scale == 1:
                break
            scale //= 10
        self.scale = scale  # an edge costs -rint(score * scale)
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
