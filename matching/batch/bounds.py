"""The bounds of candidate scoring: which pairs of a block can matter, before any exact score.

Every pair gets a lower and an upper bound on its exact score (``exact_pair_scores``): on the exact path
the float32 product (slack: its rounding error), on the pruned path the coarse product (slack: the
residual norms' product, Cauchy-Schwarz). ``bound_block`` keeps the pairs that could reach a row's top k,
a column's best rows or the minimum score; ``GroupState`` holds the narrow matrix the bounds are computed
on for one group of UK rows that share their allowed candidates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import numpy as np

from matching.batch.pairs import Coarse, PairScorer
from matching.core.index import CoarseIndex

__all__ = [
    "CACHE_CELLS",
    "CHUNK_LEN",
    "COARSE_TOLERANCE",
    "BlockWorker",
    "Bounds",
    "GroupState",
    "block_plan",
    "bound_block",
    "upper_bounds",
]

CHUNK_LEN = 64  # candidates per chunk of the row bounds (see ``bound_block``)
CACHE_CELLS = 1 << 16  # pair cells per elementwise pass over a block's rows (within a core's cache)
COARSE_TOLERANCE = 1e-4  # widens the coarse bounds against float32 rounding (as ``Scorer.bounded_candidates``)
_EMPTY = np.zeros(0, dtype=np.int64)


class BlockWorker(Protocol):
    """What ``bound_block`` needs from the thread scoring a block: scratch arrays and the column floors."""

    @property
    def floor(self) -> np.ndarray:
        """Each candidate's k-th best column entry so far (``-inf`` until it has k)."""
        ...

    def scratch(self, name: str, shape: tuple[int, int]) -> np.ndarray:
        """A reusable float32 array of ``shape``."""
        ...


class GroupState:
    """A group's candidates, the open ones, local positions, and the matrix the bounds are computed on.

    The matrix holds the open candidates' rows (full rows, or their coarse rows on the pruned path)
    restricted to the columns where the group's query vectors differ, plus one column with all the
    queries share (the shared columns' product, and the time-zone term when they share an offset): a
    query meets it with a 1. So the product is narrower (a UK group shares country, phase and ages:
    about 80 of 536 columns) and needs no time-zone pass. Rows are padded with zeros up to
    ``chunk_len * n_chunks`` (``_chunking``): a block's scores then view as ``(rows, chunk_len,
    n_chunks)``, chunk ``c`` being the candidates ``c, c + n_chunks, ...``."""

    def __init__(
        self, pairs: PairScorer, pattern: np.ndarray, intl_open: np.ndarray, top_k: int, member_rows: np.ndarray,
        coarse: Coarse | None = None,
    ) -> None:  # fmt: skip
        n_intl = len(pairs.intl_rows)
        self.pairs = pairs
        self.cand = pairs.candidates(pattern)
        self.cand_open = self.cand[intl_open[self.cand]]
        self.local_all = np.full(n_intl, -1, dtype=np.int64)
        self.local_all[self.cand] = np.arange(len(self.cand))
        self.local_open = np.full(n_intl, -1, dtype=np.int64)
        self.local_open[self.cand_open] = np.arange(len(self.cand_open))
        n = len(self.cand_open)
        self.priority = None if pairs.plain else pairs.cand_priority[self.cand_open]
        self.coarse = coarse[0] if coarse is not None else None
        self.chunk_len, self.n_chunks = _chunking(n, top_k)
        n_pad = self.chunk_len * self.n_chunks
        self.residual: np.ndarray | None = None
        if coarse is None:
            sources = [(pairs.cand_matrix[self.cand_open], None)]
        else:
            self.coarse_cols, self.exact_cols, self.coarse_blocks = block_plan(pairs, coarse[0], member_rows)
            sources = [(coarse[1]["data"][self.cand_open], self.coarse_cols)]
            if len(self.exact_cols):
                sources.append((pairs.columns(self.exact_cols)[self.cand_open], None))
            if len(self.coarse_blocks):
                self.residual = np.zeros((n_pad, len(self.coarse_blocks)), np.float32)
                self.residual[:n] = coarse[1]["residual"][self.cand_open][:, self.coarse_blocks]
        first = self.project(pairs.scorer.query_vectors(pairs.index.matrix[member_rows[:1]]))[0][0]
        self.varying, self.shared, self.tz_folded = _shared_columns(self, member_rows)
        shared_rows = _gather_columns(sources, self.shared)
        offset = shared_rows @ first[self.shared]
        if self.tz_folded:
            offset += pairs.timezone(pairs.cols.tz_offset[member_rows[:1]], self.cand_open)[0]
        self.matrix = np.zeros((n_pad, len(self.varying) + 1), np.float32)
        _gather_columns(sources, self.varying, out=self.matrix[:n, :-1])
        del sources
        self.matrix[:n, -1] = offset
        self.norm = float(np.sqrt(np.einsum("ij,ij->i", self.matrix, self.matrix).max())) if n else 0.0
        # the shared product is rounded once more (float32 product, then the time-zone term added)
        shared_norm = float(np.sqrt(np.einsum("ij,ij->i", shared_rows, shared_rows).max())) if n else 0.0
        self.offset_error = _rounding_bound(len(self.shared), float(np.linalg.norm(first[self.shared])), shared_norm)
        self.offset_error += 2.0**-22 * (float(np.abs(offset).max()) if n else 0.0)

    def project(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Query vectors in the matrix's space (full, or coarse rows and residual norms)."""
        if self.coarse is None:
            return q, None
        parts = self.coarse.project(q)
        data = np.concatenate([parts["data"][:, self.coarse_cols], q[:, self.exact_cols]], axis=1)
        return data, (parts["residual"][:, self.coarse_blocks] if self.residual is not None else None)

    def query(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Block query vectors for ``matrix`` (the varying columns, then 1) and, pruned, their residual norms."""
        data, residual = self.project(q)
        out = np.ones((len(q), len(self.varying) + 1), np.float32)
        out[:, :-1] = data[:, self.varying]
        return out, residual


def _gather_columns(
    sources: list[tuple[np.ndarray, np.ndarray | None]], cols: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """Columns ``cols`` of the side-by-side concatenation of ``sources`` (each an array, with the columns of it
    that count, ``None``: all), without building the concatenation, into ``out`` if given. Copied in runs
    of consecutive columns (slices copy several times faster than a fancy index along the second axis)."""
    taken = []
    at = 0
    for array, pick in sources:
        width = array.shape[1] if pick is None else len(pick)
        mine = cols[(cols >= at) & (cols < at + width)] - at
        taken.append((array, mine if pick is None else pick[mine]))
        at += width
    n_rows = len(sources[0][0])
    if out is None:
        out = np.empty((n_rows, sum(len(c) for _, c in taken)), np.float32)
    at = 0
    for array, c in taken:
        breaks = np.flatnonzero(np.diff(c) != 1) + 1
        for run in np.split(c, breaks) if len(c) else []:
            out[:, at : at + len(run)] = array[:, run[0] : run[-1] + 1]
            at += len(run)
    return out


def _query_range(
    pairs: PairScorer, member_rows: np.ndarray, project: Callable[[np.ndarray], np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Column-wise minimum and maximum of the members' query vectors (``project``-ed if given), in chunks."""
    lo = hi = None
    for start in range(0, len(member_rows), 8192):
        q = pairs.scorer.query_vectors(pairs.index.matrix[member_rows[start : start + 8192]])
        q = project(q) if project is not None else q
        lo = q.min(axis=0) if lo is None else np.minimum(lo, q.min(axis=0))
        hi = q.max(axis=0) if hi is None else np.maximum(hi, q.max(axis=0))
    assert lo is not None and hi is not None  # a group has members
    return lo, hi


def block_plan(
    pairs: PairScorer, coarse: CoarseIndex, member_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(coarse columns, exact columns, coarse blocks)``: which feature blocks a group bounds on the coarse
    basis and which it takes exactly (full columns, no residual). A block is taken exactly when the members'
    query vectors differ in no more of its full columns than it has coarse dimensions: the shared columns
    fold into one (``_shared_columns``), so the product is no wider and that block's bound is exact (a UK
    group differs in 2 of the 64 country columns: 2 exact columns instead of 37 coarse ones and a residual)."""
    lo, hi = _query_range(pairs, member_rows)
    varies = lo != hi
    coarse_cols: list[np.ndarray] = []
    exact_cols: list[np.ndarray] = []
    coarse_blocks: list[int] = []
    col = 0
    for j, (name, block) in enumerate(coarse.blocks.items()):
        width = coarse.bases[name].shape[1]
        if int(np.count_nonzero(varies[block])) <= width:
            exact_cols.append(np.arange(block.start, block.stop))
        else:
            coarse_cols.append(np.arange(col, col + width))
            coarse_blocks.append(j)
        col += width
    coarse_cols.append(np.arange(col, coarse.width))  # the pair columns: exact in the coarse rows too
    return np.concatenate(coarse_cols), np.concatenate(exact_cols or [_EMPTY]), np.array(coarse_blocks, np.int64)


def _shared_columns(group: GroupState, member_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(varying, shared, tz_shared)``: columns where the members' (projected) query vectors differ / are
    all equal, and whether they all share one UTC offset."""
    pairs = group.pairs
    lo, hi = _query_range(pairs, member_rows, lambda q: group.project(q)[0])
    same = lo == hi
    tz = pairs.cols.tz_offset[member_rows]
    return np.flatnonzero(~same), np.flatnonzero(same), bool(np.all(tz == tz[0]))


def _chunking(n: int, top_k: int) -> tuple[int, int]:
    """``(chunk_len, n_chunks)`` covering ``n`` candidates, with at least ``2 * top_k`` chunks (or one
    candidate per chunk): a row's k-th best chunk maximum bounds its k-th best score from below."""
    chunk_len = int(max(1, min(CHUNK_LEN, n // max(1, 2 * top_k))))
    return chunk_len, -(-n // chunk_len)


Bounds = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""``(i, j, lo, n_sure, col_sure)``: the pairs to score exactly, their lower bounds, and per row / column the
pairs (any pair) sure to pass the minimum score (everything when there is none)."""


def bound_block(
    q: np.ndarray, tz_term: np.ndarray, group: GroupState, excluded: tuple[np.ndarray, np.ndarray] | None,
    top_k: int, k_col: int, n_best: int, threshold: np.float32 | None, worker: BlockWorker,
) -> Bounds:  # fmt: skip
    """Bounds ``L - eps <= exact <= H + eps`` for the block, and the pairs they cannot rule out.

    Exact path: ``L = H`` = the float32 product (``eps``: its rounding error). Pruned path: the coarse
    product minus / plus the residual norms' product (Cauchy-Schwarz); ``eps`` adds its rounding.
    Rows: the k-th best *chunk maximum* of ``L`` is at most the row's k-th best lower bound, so only the
    chunks whose maximum of ``H`` reaches it (less ``2 eps``) are opened. Columns: one maximum per
    column; only the columns whose maximum of ``H`` reaches both the candidate's floor (its k-th best
    entry so far) and the block's best lower bound are opened. Few passes over the block in all.
    """
    b, n = len(q), len(group.cand_open)
    cand_open = group.cand_open
    qg, q_residual = group.query(q)
    err = _rounding_bound(qg.shape[1], float(np.linalg.norm(qg, axis=1).max()), group.norm) + group.offset_error
    if group.coarse is not None:
        err += COARSE_TOLERANCE  # also covers the rounding of the residual product
    eps = np.float32(err)
    lowest = np.float32(np.finfo(np.float32).min)  # cut-offs never below it: excluded pairs (-inf) never pass
    shape = (b, len(group.matrix))  # (b, chunk_len * n_chunks): the padding columns are set to -inf
    high = np.matmul(qg, group.matrix.T, out=worker.scratch("high", shape))
    if not group.tz_folded:
        high[:, :n] += tz_term
    high[:, n:] = -np.inf
    if excluded is not None:
        high[excluded] = -np.inf
    if group.residual is not None:
        if group.residual.shape[1] == 1:  # one coarse block: an outer product (matmul with one term is slow)
            slack = np.multiply(q_residual, group.residual[:, 0], out=worker.scratch("slack", shape))
        else:
            slack = np.matmul(q_residual, group.residual.T, out=worker.scratch("slack", shape))
        low = np.subtract(high, slack, out=worker.scratch("low", shape))
        high += slack
    else:
        low = high
    if group.priority is not None:
        low, eps = _finish_bounds(group, high, low, eps, excluded, worker)
    low_view, high_view = low[:, :n], high[:, :n]
    parts_i: list[np.ndarray] = []
    parts_j: list[np.ndarray] = []
    # rows: a superset of each row's exact top k
    k = min(max(top_k, 1), n)  # k >= 1: the row's best is always re-scored (best_open)
    m, length = group.n_chunks, group.chunk_len
    if k < n:
        low_chunks = low.reshape(b, length, m).max(axis=1)
        high_chunks = low_chunks if low is high else high.reshape(b, length, m).max(axis=1)
        cut = np.maximum(np.partition(low_chunks, m - k, axis=1)[:, m - k] - 2 * eps, lowest)
        ci, cc = _nonzero(high_chunks >= cut[:, None])
        cols = cc[:, None] + m * np.arange(length)[None, :]
        hit = high[ci[:, None], cols] >= cut[ci][:, None]
        parts_i.append(np.broadcast_to(ci[:, None], hit.shape)[hit])
        parts_j.append(cols[hit])
    else:
        ri, rj = _nonzero(high_view > -np.inf)
        parts_i.append(ri)
        parts_j.append(rj)
    # columns: a superset of each column's best n_best rows that can still make its list
    if k_col > 0:
        col_high = high_view.max(axis=0)
        if n_best >= b:
            col_cut = np.full(n, lowest, np.float32)
        elif n_best > 1:
            col_cut = np.partition(low_view, b - n_best, axis=0)[b - n_best] - 2 * eps
        else:
            col_cut = (col_high if low is high else low_view.max(axis=0)) - 2 * eps
        col_cut = np.maximum(col_cut, worker.floor[cand_open] - eps)
        if threshold is not None:
            col_cut = np.maximum(col_cut, threshold - eps)
        col_cut = np.maximum(col_cut, lowest)
        opened = col_high >= col_cut
        n_opened = int(np.count_nonzero(opened))
        if n_opened > n // 4:  # many: one pass over the block, the closed columns cut at +inf (no gather)
            hi, hj = _nonzero(high_view >= np.where(opened, col_cut, np.float32(np.inf))[None, :])
            parts_i.append(hi)
            parts_j.append(hj)
        elif n_opened:
            open_cols = np.flatnonzero(opened)
            hi, hj = _nonzero(high_view[:, open_cols] >= col_cut[open_cols][None, :])
            parts_i.append(hi)
            parts_j.append(open_cols[hj])
    # the minimum score: pairs sure to pass are counted, undecided ones re-scored
    if threshold is not None:
        sure = low_view >= threshold + eps
        n_sure, col_sure = sure.sum(axis=1), sure.any(axis=0)
        ui, uj = _nonzero((high_view >= threshold - eps) & ~sure)
        del sure
        parts_i.append(ui)
        parts_j.append(uj)
    else:
        n_sure, col_sure = np.full(b, n), np.ones(n, dtype=bool)
    key = np.concatenate(parts_i).astype(np.int64) * n + np.concatenate(parts_j)
    if len(key) > b * n // 32:  # many pairs (early column floors): mark them rather than sort them
        marked = np.zeros(b * n, dtype=bool)
        marked[key] = True
        key = np.flatnonzero(marked)
    else:
        key = np.unique(key)
    i, j = key // n, key % n
    return i, j, low[i, j] - eps, n_sure, col_sure


def upper_bounds(q: np.ndarray, tz_term: np.ndarray, group: GroupState) -> tuple[np.ndarray, np.float32]:
    """``(high, eps)``: ``exact <= high + eps`` for every pair of the query rows ``q`` and the group's open
    candidates (``(len(q), len(group.cand_open))``), from the same product and slack as ``bound_block``."""
    n = len(group.cand_open)
    qg, q_residual = group.query(q)
    err = _rounding_bound(qg.shape[1], float(np.linalg.norm(qg, axis=1).max()), group.norm) + group.offset_error
    if group.coarse is not None:
        err += COARSE_TOLERANCE
    high = (qg @ group.matrix[:n].T).astype(np.float32, copy=False)
    if not group.tz_folded:
        high += tz_term
    if group.residual is not None:
        high += q_residual @ group.residual[:n].T
    if group.priority is not None:  # wishes <= 0 leave the upper bound; the priority (>= 0) scales it
        err *= float(group.priority.max(initial=0.0))
        size = 0.0
        step = max(1, CACHE_CELLS // max(1, n))
        for at in range(0, len(high), step):  # a few rows at a time, in the core's cache
            part = high[at : at + step]
            part *= group.priority[None, :]
            size = max(size, _finite_abs_max(part))
        err += 2.0**-20 * size + 1e-6
    return high, np.float32(err)


def _finish_bounds(
    group: GroupState, high: np.ndarray, low: np.ndarray, eps: np.float32,
    excluded: tuple[np.ndarray, np.ndarray] | None, worker: BlockWorker,
) -> tuple[np.ndarray, np.float32]:  # fmt: skip
    """The bounds of ``(product + time zone + wishes) * priority`` from those of the product plus time zone:
    the wishes term lies in ``[-w, 0]`` (``w``: 0 when nobody states a wish) and the priority ``p >= 0``, so
    ``p (low - eps - w) <= score <= p (high + eps)``. ``high`` is scaled in place; returns the new ``low``
    (a separate array) and ``eps`` (scaled by the largest priority, plus the rounding of the products).
    A few rows at a time (``CACHE_CELLS``): every pass over them stays in the core's cache."""
    n = len(group.cand_open)
    prio = group.priority
    if prio is None:
        raise ValueError("_finish_bounds needs the group's priority vector")
    new_low = worker.scratch("low_p", high.shape)
    new_low[:, n:] = -np.inf
    ex_rows, ex_cols = excluded if excluded is not None else (_EMPTY, _EMPTY)
    size = 0.0
    step = max(1, CACHE_CELLS // max(1, high.shape[1]))
    for at in range(0, len(high), step):
        rows = slice(at, at + step)
        h, lo = high[rows, :n], new_low[rows, :n]
        np.subtract(low[rows, :n], group.pairs.wish_weight, out=lo)
        with np.errstate(invalid="ignore"):  # -inf (excluded) times a zero priority: reset just below
            lo *= prio[None, :]
            h *= prio[None, :]
        first, last = np.searchsorted(ex_rows, [at, at + step])  # the excluded pairs' rows ascend
        if last > first:  # -inf times a zero priority: keep them out
            h[ex_rows[first:last] - at, ex_cols[first:last]] = -np.inf
            lo[ex_rows[first:last] - at, ex_cols[first:last]] = -np.inf
        size = max(size, _finite_abs_max(h), _finite_abs_max(lo))
    # the products' rounding here and in ``PairScorer.finish`` (a few float32 roundings of values up to size)
    err = float(eps) * float(prio.max(initial=0.0)) + 2.0**-20 * size + 1e-6
    return new_low, np.float32(err)


def _finite_abs_max(a: np.ndarray) -> float:
    """The largest finite absolute value of ``a`` (0 when none): two reductions, no copy."""
    if a.size == 0:
        return 0.0
    hi, lo = float(a.max()), float(a.min())
    if not (math.isfinite(hi) and math.isfinite(lo)):  # infinities or NaN: reduce over the finite values only
        finite = np.isfinite(a)
        hi = float(np.maximum.reduce(a, axis=None, where=finite, initial=-np.inf))
        lo = float(np.minimum.reduce(a, axis=None, where=finite, initial=np.inf))
    return max(0.0, hi, -lo)


def _nonzero(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a 2-d mask, through the flat indices (about 10x faster on large sparse masks)."""
    flat = np.flatnonzero(mask)
    return flat // mask.shape[1], flat % mask.shape[1]


def _rounding_bound(width: int, q_norm: float, cand_norm: float) -> float:
    """A bound on the float32 rounding error of dot products of ``width`` terms (|q| |x| (width + 4) 2^-23)."""
    return (width + 4) * 2.0**-23 * q_norm * cand_norm + 1e-6
