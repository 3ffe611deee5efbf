"""Re-pricing after a round: only the pairs whose threshold fell since the last pricing pass.

A pricing pass proves that every allowed pair it did not return has a reduced cost lexicographically at
least 0 under that pass's potentials. After the pairs it returned are added and the flow solved again,
the reduced score cost of a left-out pair ``(u, v)`` moves by ``(a2'(u) - a2(u)) - (b2'(v) - b2(v))``
(integers, exact), its coverage part not at all when no coverage potential moved. So, with the same
score scale and coverage potentials, a left-out pair can price out now only if ``delta(u) < delta(v)``
(its threshold fell) or its UK school had pairs left out of the last round (``truncated``). Those pairs
are listed per group from the schools abroad sorted by ``delta`` (a prefix per UK school), cut with the
cheap bound ``min(ub[u], colmax[v])``, and scored exactly; a group whose list would be large is priced
densely instead (its rows are returned to the dense pass, ``matching.batch.pricing``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matching.batch.encode import Problem
from matching.batch.pairs import exact_pair_scores
from matching.batch.potentials import Potentials

__all__ = ["LastPass", "sparse_pairs"]

_SPARSE_SHARE = 8  # a group is re-priced densely when its pairs to re-check exceed 1 / this of its cells
_PAIRS_PER_BLOCK = 1 << 21  # pairs listed at once


@dataclass(frozen=True)
class LastPass:
    """What a pricing pass proved: its potentials, and the UK schools some of whose pricing pairs it left
    out (at most ``top_k`` per school are returned); every other left-out pair did not price out."""

    pot: Potentials
    truncated: np.ndarray  # bool (n_uk,)

    def usable(self, pot: Potentials, one_per_country: bool) -> bool:
        """Whether the next pass may re-check only the pairs whose threshold fell: same scale, same
        coverage potentials of the schools, no per-country group nodes (their set changes)."""
        n = 2 + pot.n_uk + pot.n_ab
        return (
            not one_per_country
            and pot.scale == self.pot.scale
            and len(pot.coverage) >= n
            and len(self.pot.coverage) >= n
            and bool(np.array_equal(pot.coverage[:n], self.pot.coverage[:n]))
        )


def sparse_pairs(
    p: Problem, pot: Potentials, last: LastPass, rows: np.ndarray, cand: np.ndarray, ub: np.ndarray,
    colmax: np.ndarray,
) -> tuple[tuple[np.ndarray, ...] | None, np.ndarray]:  # fmt: skip
    """The pricing pairs ``(u, v, score, r1, r2)`` of UK schools ``rows`` (one group) against
    its open candidates ``cand`` among the pairs whose threshold fell, and the rows left to price densely
    (all of them, with ``None``, when the group's list is large)."""
    a1, a2 = pot.uk(rows)
    b1, b2 = pot.abroad(cand)
    gamma = a2 - last.pot.uk(rows)[1]
    delta = b2 - last.pot.abroad(cand)[1]
    order = np.argsort(-delta, kind="stable")
    counts = np.searchsorted(-delta[order], -gamma, side="left")  # schools abroad with delta(v) > gamma(u)
    counts[last.truncated[rows]] = len(cand)  # every pair of a school some of whose pricing pairs were left out
    if int(counts.sum()) * _SPARSE_SHARE > len(rows) * len(cand):
        return None, rows
    found = []
    ends = np.cumsum(counts)
    at = 0
    while at < len(rows):  # blocks of rows holding about _PAIRS_PER_BLOCK pairs
        stop = max(at + 1, int(np.searchsorted(ends, ends[at] - counts[at] + _PAIRS_PER_BLOCK, side="right")))
        part = np.arange(at, min(stop, len(rows)))
        found.append(_block(p, pot, rows, cand, part, counts[part], order, a1, a2, b1, b2, ub, colmax))
        at = int(part[-1]) + 1
    if not found:
        return _empty(), rows[:0]
    return tuple(np.concatenate(x) for x in zip(*found, strict=True)), rows[:0]


def _block(
    p: Problem, pot: Potentials, rows: np.ndarray, cand: np.ndarray, part: np.ndarray, counts: np.ndarray,
    order: np.ndarray, a1: np.ndarray, a2: np.ndarray, b1: np.ndarray, b2: np.ndarray, ub: np.ndarray,
    colmax: np.ndarray,
) -> tuple[np.ndarray, ...]:  # fmt: skip
    """The pricing pairs of rows ``rows[part]`` among the first ``counts`` schools abroad of ``order``."""
    total = int(counts.sum())
    if total == 0:
        return _empty()
    i = np.repeat(part, counts)
    j = order[np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)]
    r1 = a1[i] - b1[j]
    limit = np.minimum(ub[rows[i]], colmax[cand[j]]) * float(pot.scale)
    keep = (r1 < 0) | ((r1 == 0) & (limit >= (a2[i] - b2[j]).astype(np.float64) - 1.0))
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
    r1 = a1[i] - b1[j]
    r2 = a2[i] - b2[j] - np.rint(score.astype(np.float64) * pot.scale).astype(np.int64)
    ok = (r1 < 0) | ((r1 == 0) & (r2 < 0))
    if p.options.min_score is not None:
        ok &= score >= np.float32(p.options.min_score)
    return rows[i[ok]], v[ok], score[ok], r1[ok], r2[ok]


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
        out[mine] = exact_pair_scores(q, pairs.cand_matrix, tz_term, local[mine], v[mine])
    return out


def _empty() -> tuple[np.ndarray, ...]:
    z = np.zeros(0, np.int64)
    return z, z, np.zeros(0, np.float32), z, z
