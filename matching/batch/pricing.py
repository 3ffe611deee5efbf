"""The certificate of optimality: price every allowed pair left out of the candidate graph.

The optimal flow over the sparse graph has node potentials (``matching.batch.potentials``) under which every
residual arc has a reduced cost lexicographically at least 0. A pair ``(u, v)`` left out of the graph would
be a new arc from ``u`` (its ``(u, country)`` node with one partner per country) to ``v`` costing
``(0, -rint(score * scale))``; its reduced cost is ``(d1(u) - d1(v), d2(u) - d2(v) - rint(score * scale))``.
If no left-out pair has a negative one, the flow is optimal over every allowed pair (no residual cycle of
the full network is negative), coverage first, then total score. A pair prices out when the coverage
potentials differ the wrong way (it can raise coverage), or when they are equal and its score exceeds
``(d2(u) - d2(v)) / scale``: a threshold set by the two schools' potentials.

Left-out pairs are found without scoring every pair: a UK school whose list holds its top ``k`` has no
left-out pair above its k-th score, and no school abroad has a pair above its best score (both in the
graph); a sorted pass over the schools abroad rules out most UK schools at once. The rest are bounded
with the candidate scoring's block bounds (``matching.batch.bounds.upper_bounds``) against the
threshold, and only the pairs the bounds cannot rule out are scored exactly. The best pricing pairs of
each UK school (at most ``top_k``) are added and the flow is solved again, until none prices out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matching.batch.bounds import GroupState, upper_bounds
from matching.batch.candidates import PRUNE_MIN_PAIRS, block_rows
from matching.batch.encode import Problem
from matching.batch.graph import CandidateGraph, edge_groups, union
from matching.batch.options import BatchCancelled, CancelCheck
from matching.batch.pairs import exact_pair_scores
from matching.batch.potentials import Potentials, residual_potentials
from matching.batch.repricing import LastPass, sparse_pairs
from matching.batch.solvers import Solution, SolverInput
from matching.batch.solvers.optimal import solve_network
from matching.errors import MatchingError

__all__ = ["Certificate", "certified_optimum", "price", "solver_input"]

_PRICE_ELEMENTS = 1 << 21  # pair cells per pricing block (several int64/float64 arrays of this size)


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
    solution and the certificate (not certified when ``options.max_pricing_rounds`` runs out first)."""
    limit = p.options.max_pricing_rounds
    rounds = added = 0
    last: LastPass | None = None
    while True:
        solution, net = solve_network(solver_input(p, graph, left_uk, left_ab, bonus))
        if net is None:
            return graph, solution, Certificate(False, rounds, added, "no candidate pair to price from")
        try:
            pot = residual_potentials(net, solution.chosen)
        except MatchingError as exc:
            return graph, solution, Certificate(False, rounds, added, str(exc))
        src, dst, score, last = price(p, graph, pot, left_uk, left_ab, should_cancel, last)
        if len(src) == 0:
            return graph, solution, Certificate(True, rounds, added)
        if rounds >= limit:
            note = f"max_pricing_rounds ({limit}) reached with {len(src)} pair(s) still pricing out: raise it or top_k"
            return graph, solution, Certificate(False, rounds, added, note)
        extra = CandidateGraph(
            graph.uk_rows, graph.intl_rows, src.astype(np.int32), dst.astype(np.int32), score, graph.top_k,
            graph.n_compatible, graph.n_open, graph.n_eligible, graph.best_open, graph.intl_compatible,
            graph.intl_eligible,
        )  # fmt: skip
        graph = union(graph, extra)
        rounds, added = rounds + 1, added + len(src)


def price(
    p: Problem, graph: CandidateGraph, pot: Potentials, left_uk: np.ndarray, left_ab: np.ndarray,
    should_cancel: CancelCheck | None = None, last: LastPass | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, LastPass]:  # fmt: skip
    """``(uk, abroad, score, pass)`` of the allowed pairs left out of ``graph`` whose reduced cost is negative:
    at most ``top_k`` per UK school, the most negative first; ``pass`` says what this pass proved. With
    ``last`` (the previous pass, its pairs since added), only the pairs whose threshold fell are re-checked
    (``matching.batch.repricing``) where its potentials allow."""
    options, pairs = p.options, p.pairs
    n_uk, n_ab = len(p.uk_rows), len(p.ab_rows)
    scale = float(pot.scale)
    margin = 1.0 / scale
    k = int(graph.top_k)
    counts = np.bincount(graph.src, minlength=n_uk)
    starts = np.cumsum(counts) - counts
    # the best score a left-out pair of each UK school can have: its k-th (the graph holds its top k)
    ub = np.full(n_uk, -np.inf)
    full = counts >= k
    ub[full] = graph.score[starts[full] + k - 1]
    forced_uk = np.bincount(p.forced[:, 0], minlength=n_uk) > 0 if len(p.forced) else np.zeros(n_uk, bool)
    ub[forced_uk] = np.nan_to_num(graph.best_open[forced_uk].astype(np.float64), nan=-np.inf)  # its top k lost some
    ub[left_uk <= 0] = -np.inf
    colmax = np.full(n_ab, -np.inf)
    np.maximum.at(colmax, graph.dst, graph.score.astype(np.float64))
    col_ok = (left_ab > 0) & np.isfinite(colmax)
    rows = np.flatnonzero(np.isfinite(ub))
    none = LastPass(pot, np.zeros(n_uk, bool))
    if len(rows) == 0 or not col_ok.any():
        return (*_none(), none)
    code = width = None
    if options.one_per_country:
        _, code = np.unique(p.index.cols().country[p.ab_rows], return_inverse=True)
        width = int(code.max()) + 1
    rows = rows[_suspects(pot, rows, ub, colmax, col_ok, margin, width)]
    if len(rows) == 0:
        return (*_none(), none)
    if last is not None and not last.usable(pot, options.one_per_country):
        last = None
    taken = np.sort(graph.src.astype(np.int64) * n_ab + graph.dst)
    forced_keys = np.sort(p.forced[:, 0] * n_ab + p.forced[:, 1]) if len(p.forced) else np.zeros(0, np.int64)
    forced_groups = (
        np.sort(p.forced[:, 0] * width + code[p.forced[:, 1]]) if width is not None and len(p.forced) else None
    )
    b1, b2 = pot.abroad(np.arange(n_ab))
    pruned = options.pruned
    if pruned is None:
        pruned = PRUNE_MIN_PAIRS is not None and len(rows) * n_ab >= PRUNE_MIN_PAIRS
    coarse = pairs.coarse_candidates() if pruned else None
    found: list[tuple[np.ndarray, ...]] = []
    for members, pattern in pairs.groups(p.uk_rows[rows]):
        if should_cancel is not None and should_cancel():
            raise BatchCancelled("batch matching cancelled while pricing left-out pairs")
        local = rows[members]
        if last is not None:
            cand_open = pairs.candidates(pattern)
            cand_open = cand_open[col_ok[cand_open]]
            got, local = sparse_pairs(p, pot, last, local, cand_open, ub, colmax)
            if got is not None:
                found.append(got)
            if len(local) == 0:
                continue
        group = GroupState(pairs, pattern, col_ok, 1, p.uk_rows[local], coarse)
        cand = group.cand_open
        if len(cand) == 0:
            continue
        step = block_rows(len(cand), max(1, _PRICE_ELEMENTS // max(1, len(cand))))
        for at in range(0, len(local), step):
            u = local[at : at + step]
            found.append(_price_block(p, pot, group, u, cand, ub, colmax, b1, b2, margin, code, width))
    if not found:
        return (*_none(), none)
    u, v, s, r1, r2 = (np.concatenate(x) for x in zip(*found, strict=True))
    keep = ~_isin_sorted(u * n_ab + v, taken) & ~_isin_sorted(u * n_ab + v, forced_keys)
    if forced_groups is not None:
        keep &= ~_isin_sorted(u * width + code[v], forced_groups)
    u, v, s, r1, r2 = u[keep], v[keep], s[keep], r1[keep], r2[keep]
    order = np.lexsort((v, r2, r1, u))  # by UK school, the most negative reduced cost first
    u, v, s = u[order], v[order], s[order]
    first = np.searchsorted(u, u, side="left")
    best = np.arange(len(u)) - first < k
    truncated = np.zeros(n_uk, bool)
    truncated[u[~best]] = True
    return u[best], v[best], s[best], LastPass(pot, truncated)


def _price_block(
    p: Problem, pot: Potentials, group: GroupState, u: np.ndarray, cand: np.ndarray, ub: np.ndarray,
    colmax: np.ndarray, b1: np.ndarray, b2: np.ndarray, margin: float, code: np.ndarray | None, width: int | None,
) -> tuple[np.ndarray, ...]:  # fmt: skip
    """The pricing pairs of UK schools ``u`` (one group) against the open candidates ``cand``:
    ``(u, v, score, reduced coverage cost, reduced score cost)``."""
    pairs = p.pairs
    rows = p.uk_rows[u]
    q = pairs.scorer.query_vectors(pairs.index.matrix[rows])
    tz = pairs.cols.tz_offset[rows]
    tz_term = pairs.timezone(tz, cand) if len(np.unique(tz, axis=0)) > 1 else pairs.timezone(tz[:1], cand)
    high, eps = upper_bounds(q, tz_term, group)
    if width is None:
        fast = _fast_mask(pot, u, cand, high, eps, ub, colmax, b1, b2, margin)
        if fast is not None:
            return _exact_block(p, pot, group, u, cand, fast, q, tz_term, b1, b2)
        a1, a2 = (x[:, None] for x in pot.tail(u, None))
    else:
        keys = (u[:, None] * width + code[cand][None, :]).ravel()
        a1, a2 = (x.reshape(len(u), len(cand)) for x in pot.tail(np.repeat(u, len(cand)), keys))
    d1 = a1 - b1[cand][None, :]
    d2 = a2 - b2[cand][None, :]
    threshold = np.where(d1 < 0, -np.inf, np.where(d1 > 0, np.inf, d2 / pot.scale - margin))
    limit = np.minimum(ub[u][:, None], colmax[cand][None, :])
    mask = (high.astype(np.float64) + float(eps) >= threshold) & (limit >= threshold)
    return _exact_block(p, pot, group, u, cand, mask, q, tz_term, b1, b2, (d1, d2))


def _fast_mask(
    pot: Potentials, u: np.ndarray, cand: np.ndarray, high: np.ndarray, eps: np.float32, ub: np.ndarray,
    colmax: np.ndarray, b1: np.ndarray, b2: np.ndarray, margin: float,
) -> np.ndarray | None:  # fmt: skip
    """The pairs of the block that may price out, in float32 over ``high`` (overwritten), when every row and
    candidate has the same coverage potential (the usual case; ``None`` otherwise): ``min(high + eps, ub[u],
    colmax[v]) + beta[v] >= alpha[u]`` with ``alpha`` lowered by a bound on the float32 rounding."""
    a1, a2 = pot.uk(u)
    c1 = b1[cand]
    if len(a1) == 0 or np.any(a1 != a1[0]) or np.any(c1 != a1[0]):
        return None
    alpha = a2 / pot.scale - margin
    beta = b2[cand] / pot.scale
    size = float(np.abs(high).max(initial=0.0)) + float(eps) + float(np.abs(beta).max(initial=0.0)) + 1.0
    tol = 8 * 2.0**-23 * (size + float(np.abs(alpha).max(initial=0.0)))
    high += eps
    np.minimum(high, colmax[cand].astype(np.float32)[None, :], out=high)
    np.minimum(high, ub[u].astype(np.float32)[:, None], out=high)
    high += beta.astype(np.float32)[None, :]
    return high >= (alpha - tol).astype(np.float32)[:, None]


def _exact_block(
    p: Problem, pot: Potentials, group: GroupState, u: np.ndarray, cand: np.ndarray, mask: np.ndarray,
    q: np.ndarray, tz_term: np.ndarray, b1: np.ndarray, b2: np.ndarray,
    tails: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, ...]:  # fmt: skip
    """The pairs of ``mask`` (rows ``u``, columns ``cand``) that are allowed and price out, scored exactly:
    ``(u, v, score, reduced coverage cost, reduced score cost)``; ``tails``: the potential differences
    ``(d1, d2)`` per pair (or per row, one column), else the rows' own potentials less the candidates'."""
    pairs = p.pairs
    for i, row in enumerate(p.uk_rows[u].tolist()):
        ex = group.local_open[pairs.excluded(row)]
        mask[i, ex[ex >= 0]] = False
    flat = np.flatnonzero(mask)
    if len(flat) == 0:
        return _empty_block()
    i, j = flat // mask.shape[1], flat % mask.shape[1]
    s = exact_pair_scores(q, pairs.cand_matrix, tz_term, i, j, cand)
    if tails is None:
        a1, a2 = pot.uk(u[i])
        r1, r2 = a1 - b1[cand[j]], a2 - b2[cand[j]]
    else:
        d1, d2 = tails
        r1, r2 = (d1[i, j], d2[i, j]) if d1.shape[1] > 1 else (d1[i, 0], d2[i, 0])
    r2 = r2 - np.rint(s.astype(np.float64) * pot.scale).astype(np.int64)
    ok = (r1 < 0) | ((r1 == 0) & (r2 < 0))
    if p.options.min_score is not None:
        ok &= s >= np.float32(p.options.min_score)
    return u[i[ok]], cand[j[ok]], s[ok], r1[ok], r2[ok]


def _suspects(
    pot: Potentials, rows: np.ndarray, ub: np.ndarray, colmax: np.ndarray, col_ok: np.ndarray, margin: float,
    width: int | None,
) -> np.ndarray:  # fmt: skip
    """A mask over ``rows``: the UK schools that may have a left-out pair pricing out, from the upper bounds
    ``min(ub[u], colmax[v])`` on its score, over the schools abroad sorted by potential (no pair scored)."""
    a1, a2 = _tail_min(pot, rows, width)
    b1, b2 = pot.abroad(np.flatnonzero(col_ok))
    beta = b2 / pot.scale
    gamma = colmax[col_ok] + beta
    out = np.zeros(len(rows), bool)
    for w in np.unique(b1).tolist():
        out |= a1 < w  # a pair to a school abroad of higher coverage potential would raise coverage
        in_class = b1 == w
        order = np.argsort(beta[in_class])
        beta_sorted = beta[in_class][order]
        best_gamma = np.maximum.accumulate(gamma[in_class][order][::-1])[::-1]
        level = a2 / pot.scale - margin
        at = np.searchsorted(beta_sorted, level - ub[rows], side="left")
        hit = at < len(beta_sorted)
        hit[hit] &= best_gamma[at[hit]] >= level[hit]
        out |= (a1 == w) & hit
    return out


def _tail_min(pot: Potentials, rows: np.ndarray, width: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The lexicographically smallest tail potential of each UK school (its own node's or one of its groups'):
    a lower tail potential only lowers the thresholds, so the pass over it finds every suspect."""
    c, s = pot.uk(rows)
    if width is None or len(pot.groups) == 0:
        return c, s
    node = 2 + pot.n_uk + pot.n_ab + np.arange(len(pot.groups))
    owner = pot.groups // width
    at = np.searchsorted(rows, owner)
    mine = (at < len(rows)) & (rows[np.minimum(at, len(rows) - 1)] == owner)
    who = np.concatenate([np.arange(len(rows)), at[mine]])
    all_c = np.concatenate([c, pot.coverage[node[mine]]])
    all_s = np.concatenate([s, pot.score[node[mine]]])
    order = np.lexsort((all_s, all_c, who))  # by school, its smallest potential first
    first = order[np.r_[True, who[order][1:] != who[order][:-1]]]
    return all_c[first], all_s[first]


def _isin_sorted(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys


def _none() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)


def _empty_block() -> tuple[np.ndarray, ...]:
    z = np.zeros(0, np.int64)
    return z, z, np.zeros(0, np.float32), z, z
