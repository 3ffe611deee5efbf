"""Bounds on the gains of a pricing block's pairs, and narrowing a school's pairs to those that can be its best.

A pair's gain is its score plus the school abroad's potential term: its reduced score cost is ``scale`` times
the UK school's threshold less it. A dense pricing pass (``matching.batch.pricing``) bounds every pair's gain
from the block's matrix product (``Gains``), and keeps at most a few dozen pairs per UK school: those of lowest
reduced cost are among the pairs whose upper bound reaches the school's ``k``-th best lower bound
(``best_bounded``, on the block's mask, a row at a time), found without sorting the row (``kth_largest``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Gains", "best_bounded", "kth_largest"]

_NEG_INF_BITS = np.uint32(0xFF800000)  # float32 -inf


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

    def low(self, row: int) -> np.ndarray:
        """The lower bounds of a row of the block."""
        out = self.base[row] - self.drop
        out += self.beta
        return out


def best_bounded(mask: np.ndarray, gains: Gains, k: int) -> None:
    """Narrow ``mask`` (the block's pairs) in place: every row with over ``4 k`` pairs keeps those whose upper bound
    reaches the row's ``k``-th best lower bound (over its pairs) less the slack; the row's ``k`` pairs of lowest
    reduced cost are among them, and every pair dropped costs more than all ``k``. Other rows keep every pair."""
    counts = np.count_nonzero(mask, axis=1)
    for row in np.flatnonzero(counts > 4 * k).tolist():
        mine = mask[row]
        low = gains.low(row)
        out = np.logical_not(mine).astype(np.uint32)
        out *= _NEG_INF_BITS  # cells out of the mask: -inf's bits, others +0 (branch-free; a masked copy is 5x slower)
        low += out.view(np.float32)
        mine &= gains.high[row] >= _float32_ceil(float(kth_largest(low, k)) - gains.slack)


def _float32_ceil(x: float) -> np.float32:
    """The smallest float32 at least ``x``: a float32 value reaches it exactly when it reaches ``x``."""
    y = np.float32(x)
    return y if float(y) >= x else np.nextafter(y, np.float32(np.inf))


def kth_largest(values: np.ndarray, k: int) -> np.float32:
    """The ``k``-th largest of ``values`` (at least ``4 k`` of them), without sorting them: the values are cut into
    at least ``k`` chunks; the ``k``-th best chunk maximum is at most the ``k``-th largest value (``k`` chunks reach
    it), so only the values reaching it (at least ``k``, usually few more) are partitioned."""
    n = len(values)
    length = max(1, n // (2 * k))
    full = n // length
    maxima = values[: full * length].reshape(full, length).max(axis=1)
    if full * length < n:
        maxima = np.append(maxima, values[full * length :].max())
    floor = np.partition(maxima, len(maxima) - k)[len(maxima) - k]
    near = values[values >= floor]
    return near.dtype.type(np.partition(near, len(near) - k)[len(near) - k])
