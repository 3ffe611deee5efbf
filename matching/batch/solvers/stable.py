"""The stable solver: many-to-many deferred acceptance with capacities, and a blocking-pair check.

Both sides rank only the pairs of the candidate graph (the acceptable pairs), each by its own score
(ties broken by position, so every list is a strict order). UK schools propose, best first; a school
abroad holds its best ``capacity`` proposals so far and releases the worst when a better one comes.
With responsive preferences this ends in a pairwise-stable matching (Roth 1984): no unmatched
acceptable pair (a, b) where both would rather have each other than one of their current partners
(or have a free place).

The PyPI ``matching`` package was considered, but its top-level module name clashes with this
package (``matching``), so the algorithm is written out here; it is short.
"""

from __future__ import annotations

import heapq
from collections import deque

import numpy as np

from matching.batch.solvers.base import Solution, SolverInput
from matching.errors import MatchingError

__all__ = ["blocking_pairs", "deferred_acceptance", "ranks", "solve_stable"]


def solve_stable(problem: SolverInput) -> Solution:
    """``deferred_acceptance`` over the problem's edges, UK schools proposing; the schools abroad rank
    their proposals by ``problem.partner_score()``."""
    if problem.partner_score is None:
        raise MatchingError("the stable solver needs partner_score: the schools abroad's scores of the edges")
    p = problem
    return Solution(deferred_acceptance(p.src, p.dst, p.score, p.partner_score(), p.cap_uk, p.cap_abroad))


def ranks(owner: np.ndarray, score: np.ndarray, other: np.ndarray, n_owner: int) -> np.ndarray:
    """Each edge's position (0 = best) in its owner's preference list: score descending, ties by ``other``."""
    order = np.lexsort((other, -score.astype(np.float64), owner))
    counts = np.bincount(owner, minlength=n_owner)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out = np.empty(len(owner), dtype=np.int64)
    out[order] = np.arange(len(owner)) - np.repeat(starts, counts)
    return out


def deferred_acceptance(
    src: np.ndarray,
    dst: np.ndarray,
    score_src: np.ndarray,
    score_dst: np.ndarray,
    cap_src: np.ndarray,
    cap_dst: np.ndarray,
) -> np.ndarray:
    """A pairwise-stable many-to-many matching; returns a bool mask over the edges.

    ``score_src[e]``: how much the proposer ``src[e]`` likes ``dst[e]``; ``score_dst[e]`` the reverse.
    """
    n_src, n_dst = len(cap_src), len(cap_dst)
    matched = np.zeros(len(src), dtype=bool)
    if len(src) == 0:
        return matched
    rank_dst = ranks(dst, score_dst, src, n_dst).tolist()
    order = np.lexsort((dst, -score_src.astype(np.float64), src))  # proposal lists, grouped by proposer
    counts = np.bincount(src, minlength=n_src)
    ptr = np.concatenate([[0], np.cumsum(counts)[:-1]]).tolist()
    end = np.cumsum(counts).tolist()
    order_l, src_l, dst_l = order.tolist(), src.tolist(), dst.tolist()
    cap_s, cap_d = [int(c) for c in cap_src], [int(c) for c in cap_dst]
    held_by_src = [0] * n_src
    held: list[list[tuple[int, int]]] = [[] for _ in range(n_dst)]  # max-heap of (-rank, edge)
    queue = deque(u for u in range(n_src) if cap_s[u] > 0 and counts[u] > 0)
    while queue:
        u = queue.popleft()
        while held_by_src[u] < cap_s[u] and ptr[u] < end[u]:
            e = order_l[ptr[u]]
            ptr[u] += 1
            v = dst_l[e]
            if cap_d[v] <= 0:
                continue
            heap, r = held[v], rank_dst[e]
            if len(heap) < cap_d[v]:
                heapq.heappush(heap, (-r, e))
                held_by_src[u] += 1
            elif -heap[0][0] > r:  # v prefers u to the worst proposal it holds
                _, bumped = heapq.heapreplace(heap, (-r, e))
                held_by_src[u] += 1
                w = src_l[bumped]
                held_by_src[w] -= 1
                queue.append(w)
    for heap in held:
        for _, e in heap:
            matched[e] = True
    return matched


def blocking_pairs(
    src: np.ndarray,
    dst: np.ndarray,
    score_src: np.ndarray,
    score_dst: np.ndarray,
    cap_src: np.ndarray,
    cap_dst: np.ndarray,
    matched: np.ndarray,
) -> np.ndarray:
    """Edges (positions) that block ``matched``: unmatched, and both ends would take the other.

    An end would take the other if it has a free place or prefers the other to its worst partner.
    """
    n_src, n_dst = len(cap_src), len(cap_dst)
    matched = np.asarray(matched, dtype=bool)
    if len(src) == 0:
        return np.zeros(0, dtype=np.int64)
    rank_s = ranks(src, score_src, dst, n_src)
    rank_d = ranks(dst, score_dst, src, n_dst)
    count_s = np.bincount(src[matched], minlength=n_src)
    count_d = np.bincount(dst[matched], minlength=n_dst)
    worst_s = np.full(n_src, -1, dtype=np.int64)
    worst_d = np.full(n_dst, -1, dtype=np.int64)
    np.maximum.at(worst_s, src[matched], rank_s[matched])
    np.maximum.at(worst_d, dst[matched], rank_d[matched])
    wants_s = (count_s[src] < cap_src[src]) | (rank_s < worst_s[src])
    wants_d = (count_d[dst] < cap_dst[dst]) | (rank_d < worst_d[dst])
    return np.flatnonzero(~matched & wants_s & wants_d & (cap_src[src] > 0) & (cap_dst[dst] > 0))
