"""Node potentials of an optimal flow (the duals): shortest-path distances in its residual graph.

OR-Tools' ``SimpleMinCostFlow`` does not give its potentials, so they are recomputed from the chosen
edges of ``solve_optimal``'s network (``FlowNetwork``). Costs are lexicographic pairs ``(coverage,
score)``: a bonus arc costs ``(-1, 0)`` per unit, an edge ``(0, -rint(score * scale))``. That is the
coverage-first objective itself, whatever coverage weight the solver used: a flow is lexicographically
optimal exactly when its residual graph has no cycle of negative pair cost, and then the distances
``d`` from a root joined to every node at cost 0 give every residual arc a reduced cost
``cost + d(tail) - d(head)`` that is lexicographically at least 0. The pairs are packed into one int64
(``coverage * base + score``, ``base`` above any score sum on a simple path) and relaxed in rounds over the
nodes that changed (Bellman-Ford, a queue per round, vectorised).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matching.batch.solvers.optimal import FlowNetwork
from matching.errors import MatchingError

__all__ = ["Potentials", "arc_flow", "residual_potentials"]

_INT_LIMIT = 2**62


@dataclass(frozen=True)
class Potentials:
    """Lexicographic node potentials ``(coverage, score)`` of a network's nodes (``FlowNetwork`` layout:
    source 0, sink 1, UK schools, schools abroad, then one node per group), and the network's score scale."""

    coverage: np.ndarray  # int64 (n_nodes,)
    score: np.ndarray  # int64 (n_nodes,) in the network's integer cost units
    scale: int
    n_uk: int
    n_ab: int
    groups: np.ndarray  # the network's sorted group values (one node each, after the schools abroad)
    rounds: int  # relaxation rounds run

    def uk(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The potentials of UK schools ``u`` (local positions)."""
        node = 2 + np.asarray(u, dtype=np.int64)
        return self.coverage[node], self.score[node]

    def abroad(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The potentials of schools abroad ``v`` (local positions)."""
        node = 2 + self.n_uk + np.asarray(v, dtype=np.int64)
        return self.coverage[node], self.score[node]

    def tail(self, u: np.ndarray, group: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The potentials an edge from UK school ``u`` (in ``group``, if groups are used) leaves from: its
        group node, or the school itself when there is no group or the group has no node yet (a new group
        node hangs off the school by a free arc: it takes the school's potential)."""
        c, s = self.uk(u)
        if group is None or len(self.groups) == 0:
            return c, s
        at = np.searchsorted(self.groups, group)
        found = (at < len(self.groups)) & (self.groups[np.minimum(at, len(self.groups) - 1)] == group)
        node = 2 + self.n_uk + self.n_ab + at[found]
        c, s = c.copy(), s.copy()
        c[found], s[found] = self.coverage[node], self.score[node]
        return c, s


def residual_potentials(net: FlowNetwork, chosen: np.ndarray) -> Potentials:
    """The potentials of the flow that takes the ``chosen`` edges of ``net`` (an optimal flow of it).

    Raises ``MatchingError`` when the flow is not lexicographically optimal (a negative cycle) or the packed
    costs would overflow. Memory: a few int32/int64 arrays the size of the residual graph at a time (it is
    the run's largest graph: millions of arcs at 100,000 schools a side)."""
    flow = arc_flow(net, np.asarray(chosen, dtype=bool))
    fwd, back = flow < net.caps, flow > 0
    del flow
    m = int(np.abs(net.costs[net.n_uk :]).max(initial=0)) + 1
    base = 4 * (net.n_ab + 2) * m + 1  # above twice any score sum on a simple path (two edges per node abroad)
    if (net.n_uk + 3) * base >= _INT_LIMIT:
        raise MatchingError(f"potentials: packed costs would overflow ({net.n_uk} UK schools, score base {base})")
    cost = net.costs.copy()  # packed (coverage * base + score): a bonus arc is (-1, 0), an edge (0, its cost)
    cost[: net.n_uk] = -base
    t = np.concatenate([net.tails[fwd], net.heads[back]])
    h = np.concatenate([net.heads[fwd], net.tails[back]])
    c = np.concatenate([cost[fwd], -cost[back]])
    del cost, fwd, back
    order = np.argsort(t, kind="stable")
    t, h, c = t[order], h[order], c[order]  # by tail (rebinding frees the unsorted arrays)
    del order
    dist, rounds = _shortest_from_all(t, h, c, net.n_nodes)
    coverage = np.floor_divide(dist + base // 2, base)
    return Potentials(
        coverage, dist - coverage * base, net.scale, net.n_uk, net.n_ab, np.asarray(net.groups, np.int64), rounds
    )


def arc_flow(net: FlowNetwork, chosen: np.ndarray) -> np.ndarray:
    """The flow on every arc of ``net`` when it takes the ``chosen`` edges (int64): an optimal flow fills a
    school's bonus arc before its other places. Raises ``MatchingError`` when that is not a feasible flow."""
    n_uk = net.n_uk
    per_uk = np.bincount(net.src[chosen], minlength=n_uk).astype(np.int64)
    per_ab = np.bincount(net.heads[net.first_edge_arc : net.first_edge_arc + net.n_e][chosen] - 2 - n_uk,
                         minlength=net.n_ab).astype(np.int64)  # fmt: skip
    on_bonus = np.minimum(per_uk, net.bonus)
    parts = [on_bonus, per_uk - on_bonus, chosen.astype(np.int64), per_ab, [net.supply - int(per_uk.sum())]]
    if net.group_of_edge is not None:
        parts.append(np.bincount(net.group_of_edge[chosen], minlength=len(net.groups)).astype(np.int64))
    flow = np.concatenate([np.asarray(x, dtype=np.int64) for x in parts])
    if len(flow) != len(net.caps) or np.any(flow > net.caps) or np.any(flow < 0):
        raise MatchingError("potentials: the chosen edges are not a feasible flow of the network")
    return flow


def _shortest_from_all(t: np.ndarray, h: np.ndarray, c: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    """Distances from a root joined to every node at cost 0 (so at most 0), and the rounds run, over the arcs
    ``t -> h`` costing ``c`` sorted by tail: each round relaxes the arcs out of the nodes whose distance fell in
    the previous one (the first, every arc: only those of negative cost can lower a distance of 0)."""
    start = np.searchsorted(t, np.arange(n + 1))
    degree = np.diff(start)
    dist = np.zeros(n, np.int64)
    better = c < 0
    heads, cand = h[better], c[better]
    del better
    for rounds in range(1, n + 2):
        if len(heads) == 0:
            return dist, rounds
        np.minimum.at(dist, heads, cand)
        active = np.unique(heads)
        counts = degree[active]
        total = int(counts.sum())
        arc = np.repeat(start[active] - (np.cumsum(counts) - counts), counts) + np.arange(total)
        heads = h[arc]
        cand = dist[t[arc]] + c[arc]
        better = cand < dist[heads]
        heads, cand = heads[better], cand[better]
    raise MatchingError("potentials: the residual graph has a negative cycle (the flow is not optimal)")
