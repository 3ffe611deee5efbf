"""What the pricing passes have proved, and re-pricing after a round without a dense pass.

A dense pricing pass (``matching.batch.pricing``) over a UK school ``u`` proves, under that pass's
potentials, that every allowed pair of ``u`` left out of the graph has a reduced score cost of at least
``M`` (``MARGIN`` score units) unless the pass returned it: the pairs it returns (those pricing out and
those within ``M`` of it) are scored exactly and kept in a pool (``PricingState``), checked again after
every solve at no scoring cost. After the flow is solved again, the reduced score cost of a pair moves by
``gamma(u) - delta(v)`` (the two schools' potential changes since that pass: integers, exact), its
coverage part not at all while no coverage potential moved. So a pair outside the graph and the pool can
price out only if ``delta(v) > gamma(u) + M``: a prefix of the schools abroad sorted by ``delta``, per
UK school, usually short or empty. Those pairs are cut with the cheap bound ``min(ub[u], colmax[v])``,
scored exactly and pooled; a group whose list would be large is priced densely again instead (a new
reference pass for its rows). A dense pass pools at most ``POOL_PER_ROW`` pairs per school, those pricing
out included: a school with more near pairs keeps its closest ones and a smaller margin of its own
(``PricingState.row_margin``); a school with more pairs pricing out keeps its best ones and loses its
reference pass (``PricingState.forget``: priced densely again next round). So the pool's memory stays
linear in the schools. A re-check pools only the pairs within the margin of pricing out; the others it
scored keep their reference pass's bound and are found again if they move further.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from matching.batch.encode import Problem
from matching.batch.pairs import exact_pair_scores
from matching.batch.potentials import Potentials

__all__ = ["ADD_MARGIN", "ADD_PER_ROW", "MARGIN", "POOL_PER_ROW", "PricingState", "isin_sorted", "sparse_pairs"]

MARGIN = 0.02  # score units: a dense pass keeps (exactly scored) every pair within this of pricing out
POOL_PER_ROW = 64  # near pairs (not pricing out) a dense pass pools per UK school at most
ADD_MARGIN = 0.01  # score units: a round adds the pooled pairs this close to pricing out with those that do
ADD_PER_ROW = 8  # a round adds at most this many pooled pairs per UK school plus twice its places
_SPARSE_SHARE = 8  # a group is re-priced densely when its pairs to re-check exceed 1 / this of its cells
_PAIRS_PER_BLOCK = 1 << 21  # pairs listed at once


@dataclass
class PricingState:
    """What the pricing passes so far proved, carried from round to round.

    ``passes``: each dense pass's school coverage potentials and abroad score potentials; ``ref[u]``: the
    pass that last priced UK school ``u`` densely (``-1``: none), ``ref_score[u]`` its score potential then.
    ``pool_*``: pairs left out of the graph, scored exactly (within ``MARGIN`` of pricing out when found).
    Every allowed pair of a referenced school ``u`` outside the graph and the pool had a reduced cost of at
    least ``(0, row_margin[u])`` under its reference pass (or a positive coverage part); ``row_margin`` is
    ``margin_units`` unless the pass pooled only the school's ``POOL_PER_ROW`` closest pairs (then at least 0:
    a pass that leaves out a pair pricing out drops the school's reference instead, ``ref[u] = -1``)."""

    scale: int
    margin_units: int
    ref: np.ndarray
    ref_score: np.ndarray
    row_margin: np.ndarray
    passes: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    pool_u: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pool_v: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pool_s: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    @classmethod
    def start(cls, n_uk: int, scale: int) -> PricingState:
        """No pass yet: every school is priced densely first."""
        units = int(np.floor(MARGIN * scale))
        return cls(scale, units, np.full(n_uk, -1, np.int64), np.zeros(n_uk, np.int64), np.full(n_uk, units, np.int64))

    def sparse_rows(self, pot: Potentials, rows: np.ndarray, one_per_country: bool) -> np.ndarray:
        """A mask over ``rows``: the schools whose reference pass still holds (same scale, same coverage
        potentials of every school, no per-country group nodes: their set changes between rounds)."""
        if one_per_country or pot.scale != self.scale or not self.passes:
            return np.zeros(len(rows), bool)
        n = 2 + pot.n_uk + pot.n_ab
        same = np.array([np.array_equal(cov, pot.coverage[:n]) for cov, _ in self.passes] + [False])
        return same[self.ref[rows]]  # ref -1 picks the trailing False

    def record(self, pot: Potentials, rows: np.ndarray) -> None:
        """``rows`` were priced densely under ``pot``: it is their reference pass now."""
        n = 2 + pot.n_uk + pot.n_ab
        self.passes.append((pot.coverage[:n].copy(), pot.abroad(np.arange(pot.n_ab))[1]))
        self.ref[rows] = len(self.passes) - 1
        self.ref_score[rows] = pot.uk(rows)[1]
        self.row_margin[rows] = self.margin_units

    def narrow(self, rows: np.ndarray, margins: np.ndarray) -> None:
        """The reference pass of ``rows`` pooled their pairs below ``margins`` (cost units) only."""
        self.row_margin[rows] = np.minimum(self.row_margin[rows], margins)

    def forget(self, rows: np.ndarray) -> None:
        """``rows`` have no reference pass (a pass left out pairs of theirs pricing out): priced densely next."""
        self.ref[rows] = -1

    def keys(self, n_ab: int) -> np.ndarray:
        """The pool's pairs as sorted ``u * n_ab + v`` keys."""
        return np.sort(self.pool_u * n_ab + self.pool_v)

    def extend(self, u: np.ndarray, v: np.ndarray, s: np.ndarray) -> None:
        """Add exactly scored pairs (not already pooled) to the pool."""
        self.pool_u = np.concatenate([self.pool_u, u.astype(np.int64)])
        self.pool_v = np.concatenate([self.pool_v, v.astype(np.int64)])
        self.pool_s = np.concatenate([self.pool_s, s.astype(np.float32)])

    def take(self, pick: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Remove the pool pairs where ``pick`` is True (they join the graph) and return them."""
        out = self.pool_u[pick], self.pool_v[pick], self.pool_s[pick]
        self.pool_u, self.pool_v, self.pool_s = self.pool_u[~pick], self.pool_v[~pick], self.pool_s[~pick]
        return out


def sparse_pairs(
    p: Problem, pot: Potentials, state: PricingState, rows: np.ndarray, cand: np.ndarray, ub: np.ndarray,
    colmax: np.ndarray, skip: np.ndarray,
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray] | None, np.ndarray]:  # fmt: skip
    """The pairs ``(u, v, score)`` of UK schools ``rows`` (one group, one reference pass) against its open
    candidates ``cand`` that may price out now although their reference pass ruled them out, scored exactly
    (none in ``skip``, sorted keys: the graph's and the pool's); and the rows left to price densely (all of
    them, with ``None``, when the group's list is large)."""
    n_ab = len(p.ab_rows)
    a1, a2 = pot.uk(rows)
    b1, b2 = pot.abroad(cand)
    gamma = a2 - state.ref_score[rows] + state.row_margin[rows]
    delta = b2 - state.passes[int(state.ref[rows[0]])][1][cand]
    order = np.argsort(-delta, kind="stable")
    counts = np.searchsorted(-delta[order], -gamma, side="left")  # schools abroad with delta(v) > gamma(u)
    if int(counts.sum()) * _SPARSE_SHARE > len(rows) * len(cand):
        return None, rows
    found = []
    ends = np.cumsum(counts)
    at = 0
    while at < len(rows):  # blocks of rows holding about _PAIRS_PER_BLOCK pairs
        stop = max(at + 1, int(np.searchsorted(ends, ends[at] - counts[at] + _PAIRS_PER_BLOCK, side="right")))
        part = np.arange(at, min(stop, len(rows)))
        found.append(_block(p, pot, rows, cand, part, counts[part], order, (a1, a2, b1, b2), ub, colmax, skip, n_ab))
        at = int(part[-1]) + 1
    if not found:
        return _empty(), rows[:0]
    u, v, s = (np.concatenate(x) for x in zip(*found, strict=True))
    return (u, v, s), rows[:0]


def _block(
    p: Problem, pot: Potentials, rows: np.ndarray, cand: np.ndarray, part: np.ndarray, counts: np.ndarray,
    order: np.ndarray, potentials: tuple[np.ndarray, ...], ub: np.ndarray, colmax: np.ndarray, skip: np.ndarray,
    n_ab: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """The pairs of rows ``rows[part]`` among the first ``counts`` schools abroad of ``order`` that could price
    out now by the cheap bound, scored exactly: ``(u, v, score)``."""
    a1, a2, b1, b2 = potentials
    total = int(counts.sum())
    if total == 0:
        return _empty()
    i = np.repeat(part, counts)
    j = order[np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)]
    r1 = a1[i] - b1[j]
    limit = np.minimum(ub[rows[i]], colmax[cand[j]]) * float(pot.scale)
    keep = (r1 < 0) | ((r1 == 0) & (limit >= (a2[i] - b2[j]).astype(np.float64) - 1.0))
    i, j = i[keep], j[keep]
    keep = ~isin_sorted(rows[i] * n_ab + cand[j], skip)
    i, j = i[keep], j[keep]
    if len(i) == 0:
        return _empty()
    pairs = p.pairs
    uk_rows = p.uk_rows[rows]
    allowed = np.ones(len(i), bool)
    starts = np.searchsorted(i, np.arange(len(rows)))
    for row in np.unique(i).tolist():
        ex = pairs.excluded(int(uk_rows[row]))
        if len(ex):
            mine = np.arange(starts[row], np.searchsorted(i, row, side="right"))
            allowed[mine[np.isin(cand[j[mine]], ex)]] = False
    i, j = i[allowed], j[allowed]
    v = cand[j]
    score = _scores(p, uk_rows, i, v)
    ok = np.ones(len(i), bool) if p.options.min_score is None else score >= np.float32(p.options.min_score)
    return rows[i[ok]], v[ok], score[ok]


def _scores(p: Problem, uk_rows: np.ndarray, i: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Exact scores of pairs ``(uk_rows[i], v)``, one call per distinct time-zone row (as the dense path)."""
    pairs = p.pairs
    out = np.empty(len(i), np.float32)
    if len(i) == 0:
        return out
    used = np.unique(i)
    q = pairs.scorer.query_vectors(pairs.index.matrix[uk_rows[used]])
    local = np.searchsorted(used, i)
    tz = pairs.cols.tz_offset[uk_rows[used]]
    flat = np.asarray(tz, dtype=np.float32).reshape(len(used), -1)
    _, code = np.unique(flat, axis=0, return_inverse=True)
    code = code.reshape(-1)
    for c in np.unique(code).tolist():
        first = int(np.flatnonzero(code == c)[0])
        tz_term = pairs.timezone(tz[first : first + 1])
        mine = np.flatnonzero(code[local] == c)
        raw = exact_pair_scores(q, pairs.cand_matrix, tz_term, local[mine], v[mine])
        out[mine] = pairs.finish(uk_rows[i[mine]], v[mine], raw)
    return out


def isin_sorted(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """``np.isin(keys, sorted_keys)`` for sorted ``sorted_keys`` (a binary search in the part of it between the
    smallest and the largest key: usually a small, cache-resident slice)."""
    if len(keys) and len(sorted_keys):
        lo = int(np.searchsorted(sorted_keys, keys.min(), side="left"))
        hi = int(np.searchsorted(sorted_keys, keys.max(), side="right"))
        sorted_keys = sorted_keys[lo:hi]
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys


def _empty() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z = np.zeros(0, np.int64)
    return z, z, np.zeros(0, np.float32)
