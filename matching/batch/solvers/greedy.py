"""The greedy baseline: best pairs first while both schools have places (for comparison only)."""

from __future__ import annotations

import numpy as np

from matching.batch.graph import score_order
from matching.batch.solvers.base import Solution, SolverInput

__all__ = ["greedy", "solve_greedy"]


def solve_greedy(problem: SolverInput) -> Solution:
    """``greedy`` over the problem's edges (one partner per group when it has groups)."""
    return Solution(greedy(problem.src, problem.dst, problem.score, problem.cap_uk, problem.cap_abroad, problem.group))


def greedy(
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
