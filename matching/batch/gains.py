"""Bounds on the gains of a pricing block's pairs, and narrowing a school's pairs to those that can be its best.

A pair's gain is its score plus the school abroad's potential term: its reduced score cost is ``scale`` times
the UK school's threshold less it. A dense pricing pass (``matching.batch.pricing``) bounds every pair's gain
from the block's matrix product (``Gains``), and keeps at most a few dozen pairs per UK school: those of lowest
reduced cost are among the pairs whose upper bound reaches the school's ``k``-th best lower bound
(``best_bounded``), found without sorting the school's pairs (``kth_largest``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Gains", "best_bounded", "kth_largest"]


@dataclass(frozen=True)
class Gains:
    """Bounds on ``score + beta[v]`` (a pair's gain: its reduced score cost is ``scale`` times ``alpha[u]`` less
    it, up to rounding) over a block: ``low - slack/2 <= gain <= high + slack/2``, and ``slack`` covers the
    rounding of the integer costs too (a pair whose ``high`` is below another's ``low`` less ``slack`` has a
    larger reduced cost). The lower bounds are only computed where asked (``low``): ``(base - drop) + beta[v]``
    in float32, ``base`` being the block's product."""

    high: np.ndarray
    base: np.ndarray
    drop: np.float32
    beta: np.ndarray
    slack: float

    def low(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """The lower bounds of the cells ``(i, j)``."""
        out = self.base[i, j] - self.drop
        out += self.beta[j]
        return out


def best_bounded(i: np.ndarray, j: np.ndarray, gains: Gains, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The pairs ``(i, j)`` (rows ``i`` of a block, ascending) narrowed, for every row with over ``4 k`` of them,
    to those whose upper bound reaches the row's ``k``-th best lower bound less the slack: the row's ``k``
    pairs of lowest reduced cost are among them, and every pair dropped costs more than all ``k``."""
    counts = np.bincount(i, minlength=gains.high.shape[0])
    big = np.flatnonzero(counts > 4 * k)
    if len(big) == 0:
        return i, j
    mine = np.flatnonzero(counts[i] > 4 * k)  # the big rows' pairs: contiguous runs, one per row
    cut = np.full(len(counts), -np.inf)
    cut[big] = kth_largest(gains.low(i[mine], j[mine]), counts[big], k).astype(np.float64) - gains.slack
    keep = gains.high[i, j].astype(np.float64) >= cut[i]
    return i[keep], j[keep]


def kth_largest(values: np.ndarray, counts: np.ndarray, k: int) -> np.ndarray:
    """The ``k``-th largest value of each run of ``values`` (runs of ``counts`` values, each at least ``k``).

    Linear in the values, not a sort of them: each run is cut into at least ``k`` chunks; the ``k``-th best chunk
    maximum is at most the run's ``k``-th largest value (``k`` chunks reach it), so only the values reaching it
    (at least ``k``, usually few more) are sorted."""
    n_runs = len(counts)
    starts = np.cumsum(counts) - counts
    length = np.maximum(1, counts // (2 * k))
    n_chunks = -(-counts // length)
    run_of_chunk = np.repeat(np.arange(n_runs), n_chunks)
    first_chunk = np.cumsum(n_chunks) - n_chunks
    chunk_start = (
        starts[run_of_chunk] + (np.arange(len(run_of_chunk)) - first_chunk[run_of_chunk]) * length[run_of_chunk]
    )
    maxima = np.maximum.reduceat(values, chunk_start)
    order = np.lexsort((-maxima, run_of_chunk))  # each run's chunk maxima, largest first
    floor = maxima[order[first_chunk + k - 1]]
    run_of_value = np.repeat(np.arange(n_runs), counts)
    near = np.flatnonzero(values >= floor[run_of_value])
    near_run = run_of_value[near]
    order = np.lexsort((-values[near], near_run))  # each run's values reaching its floor, largest first
    first_near = np.cumsum(np.bincount(near_run, minlength=n_runs)) - np.bincount(near_run, minlength=n_runs)
    return values[near[order[first_near + k - 1]]]
