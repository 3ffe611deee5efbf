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
threshold, and only the pairs the bounds cannot rule out are scored exactly. The first pass keeps every
pair within ``MARGIN`` of pricing out (``matching.batch.repricing.PricingState``'s pool), so the later
rounds check the pool, and re-price only the few pairs whose threshold fell by more than the margin,
without another pass over every pair. Every pooled pair that prices out is added and the flow is solved
again, until none does.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from matching.batch import repricing
from matching.batch.bounds import CACHE_CELLS, GroupState, upper_bounds
from matching.batch.candidates import block_rows
from matching.batch.encode import Problem
from matching.batch.gains import Gains, best_bounded
from matching.batch.graph import CandidateGraph, edge_groups, union
from matching.batch.options import BatchCancelled, CancelCheck
from matching.batch.pairs import exact_pair_scores
from matching.batch.potentials import Potentials, residual_potentials
from matching.batch.repricing import ADD_MARGIN, PricingState, isin_sorted, sparse_pairs
from matching.batch.solvers import Solution, SolverInput
from matching.batch.solvers.optimal import solve_network
from matching.errors import MatchingError

__all__ = ["Certificate", "certified_optimum", "price", "solver_input"]

_PRICE_ELEMENTS = 1 << 21  # pair cells per pricing block (several int64/float64 arrays of this size)
_PRODUCT_ELEMENTS = 1 << 23  # pair cells per bounds product (one float32 array), cut into pricing blocks


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
    state: PricingState | None = None
    while True:
        solution, net = solve_network(solver_input(p, graph, left_uk, left_ab, bonus))
        if net is None:
            return graph, solution, Certificate(False, rounds, added, "no candidate pair to price from")
        try:
            pot = residual_potentials(net, solution.chosen)
        except MatchingError as exc:
            return graph, solution, Certificate(False, rounds, added, str(exc))
        src, dst, score, state = price(p, graph, pot, left_uk, left_ab, should_cancel, state)
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
    should_cancel: CancelCheck | None = None, state: PricingState | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, PricingState]:  # fmt: skip
    """``(uk, abroad, score, state)``: every allowed pair left out of ``graph`` whose reduced cost is negative,
    and what the passes so far proved (``state``, from the previous round, or ``None`` in the first: every
    school is then priced densely)."""
    options = p.options
    n_uk, n_ab = len(p.uk_rows), len(p.ab_rows)
    if state is None or state.scale != pot.scale:
        state = PricingState.start(n_uk, pot.scale)
    margin = (state.margin_units + 1.0) / pot.scale  # score units: the dense pass keeps pairs this close to pricing out
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
    code = width = None
    if options.one_per_country:
        _, code = np.unique(p.index.cols().country[p.ab_rows], return_inverse=True)
        width = int(code.max()) + 1
    # a school abroad whose best pair was forced (so dropped from the graph), or, one per country, lies in a
    # country a forced pair fills (its best pair may have been dropped), has no bound from the graph
    unbounded = _dropped_columns(p.forced, n_ab, code)
    colmax[unbounded] = np.inf
    col_ok = (left_ab > 0) & np.isfinite(colmax) | (left_ab > 0) & unbounded
    rows = np.flatnonzero(np.isfinite(ub))
    forced_keys = np.sort(p.forced[:, 0] * n_ab + p.forced[:, 1]) if len(p.forced) else np.zeros(0, np.int64)
    skip = np.concatenate([graph.src.astype(np.int64) * n_ab + graph.dst, state.keys(n_ab), forced_keys])
    skip.sort()
    if len(rows) and col_ok.any():
        sparse = state.sparse_rows(pot, rows, options.one_per_country)
        dense = _recheck(p, pot, state, rows[sparse], col_ok, ub, colmax, skip, should_cancel)
        dense = np.sort(np.concatenate([rows[~sparse], dense]))
        _dense_pass(p, pot, state, dense, col_ok, ub, colmax, skip, margin, code, width, should_cancel)
    return (*_pricing_pool(p, pot, state, code, width), state)


def _dropped_columns(forced: np.ndarray, n_ab: int, code: np.ndarray | None) -> np.ndarray:
    """A mask over the schools abroad whose graph edges may lack their best pair: the forced partners and,
    with one per country (``code``: each school's country code), every school of a country they fill."""
    out = np.zeros(n_ab, bool)
    if len(forced) == 0:
        return out
    out[forced[:, 1]] = True
    if code is not None:
        out |= np.isin(code, code[forced[:, 1]])
    return out


def _recheck(
    p: Problem, pot: Potentials, state: PricingState, rows: np.ndarray, col_ok: np.ndarray, ub: np.ndarray,
    colmax: np.ndarray, skip: np.ndarray, should_cancel: CancelCheck | None,
) -> np.ndarray:  # fmt: skip
    """Pool the pairs of ``rows`` (each with a reference pass that still holds) whose threshold fell by more
    than the margin since and that are within ``margin_units`` of pricing out now (a pair it scores and drops
    keeps its reference pass's bound, so a later re-check finds it again if it moves); returns the rows whose
    lists were too large (to price densely)."""
    if len(rows) == 0:
        return rows
    pairs = p.pairs
    dense: list[np.ndarray] = []
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for members, pattern in pairs.groups(p.uk_rows[rows]):
        if should_cancel is not None and should_cancel():
            raise BatchCancelled("batch matching cancelled while pricing left-out pairs")
        cand = pairs.candidates(pattern)
        cand = cand[col_ok[cand]]
        local = rows[members]
        for ref in np.unique(state.ref[local]).tolist():
            mine = local[state.ref[local] == ref]
            got, back = sparse_pairs(p, pot, state, mine, cand, ub, colmax, skip)
            if got is not None:  # pooled: those pricing out or near it (the rest are re-derived next round)
                r1, r2 = _reduced(pot, got[0], got[1], got[2], None, None)
                near = (r1 < 0) | (r1 == 0) & (r2 < state.margin_units)
                found.append((got[0][near], got[1][near], got[2][near]))
            dense.append(back)
    if found:
        state.extend(*(np.concatenate(x) for x in zip(*found, strict=True)))
    return np.concatenate(dense) if dense else rows[:0]


def _dense_pass(
    p: Problem, pot: Potentials, state: PricingState, rows: np.ndarray, col_ok: np.ndarray, ub: np.ndarray,
    colmax: np.ndarray, skip: np.ndarray, margin: float, code: np.ndarray | None, width: int | None,
    should_cancel: CancelCheck | None,
) -> None:  # fmt: skip
    """Price ``rows`` against every allowed open candidate: pool every pair within ``margin`` of pricing out
    (scored exactly; at most ``POOL_PER_ROW`` per school) and make this pass the rows' reference.

    The groups are priced by ``options.jobs()`` threads (numpy releases the GIL; one BLAS thread each); the
    pool is filled in group order, so the result does not depend on timing. Bounds come from the exact
    product (``options.pruned=True`` only: the coarse one, looser and slower here)."""
    if len(rows) == 0:
        return
    pairs, options = p.pairs, p.options
    n_ab = len(p.ab_rows)
    state.record(pot, rows)
    rows = rows[_suspects(pot, rows, ub, colmax, col_ok, margin, width)]
    if len(rows) == 0:
        return
    b1, b2 = pot.abroad(np.arange(n_ab))
    coarse = pairs.coarse_candidates() if options.pruned is True else None
    groups = pairs.groups(p.uk_rows[rows])

    def run(task: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        if should_cancel is not None and should_cancel():
            raise BatchCancelled("batch matching cancelled while pricing left-out pairs")
        members, pattern = groups[task]
        local = rows[members]
        group = GroupState(pairs, pattern, col_ok, 1, p.uk_rows[local], coarse)
        cand = group.cand_open
        out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        if len(cand) == 0:
            return out
        step = block_rows(len(cand), max(1, _PRICE_ELEMENTS // max(1, len(cand))))
        span = step * max(1, _PRODUCT_ELEMENTS // max(1, len(cand)) // step)
        for start in range(0, len(local), span):
            product_rows = local[start : start + span]
            high, eps = _upper_bounds(group, p.uk_rows[product_rows], cand)
            for at in range(0, len(product_rows), step):
                u = product_rows[at : at + step]
                block = _block_mask(pot, group, u, high[at : at + step], eps, cand, ub, colmax, b1, b2, margin,
                                    code, width)  # fmt: skip
                out.append(_exact_block(p, pot, group, u, cand, block, skip, code, width, state))
        return out

    n_jobs = max(1, min(options.jobs(), len(groups)))
    order = sorted(range(len(groups)), key=lambda g: -len(groups[g][0]))  # large groups first: even shares
    if n_jobs == 1:
        results = {g: run(g) for g in order}
    else:
        with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(n_jobs) as pool:
            results = dict(zip(order, pool.map(run, order), strict=True))
    found = [x for g in range(len(groups)) for x in results[g]]
    if found:
        state.extend(*(np.concatenate(x) for x in zip(*found, strict=True)))


def _upper_bounds(group: GroupState, uk_rows: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, np.float32]:
    """``(high, eps)``: ``score <= high + eps`` for the pairs of index rows ``uk_rows`` (one group) and the open
    candidates ``cand``. Computed for more rows than a mask block holds (``_PRODUCT_ELEMENTS``): a matrix
    product of 20 rows by 100,000 candidates costs about 3x as much per pair as one of 80 rows."""
    pairs = group.pairs
    q = pairs.scorer.query_vectors(pairs.index.matrix[uk_rows])
    tz = pairs.cols.tz_offset[uk_rows]
    tz_term = pairs.timezone(tz, cand) if len(np.unique(tz, axis=0)) > 1 else pairs.timezone(tz[:1], cand)
    return upper_bounds(q, tz_term, group)


def _block_mask(
    pot: Potentials, group: GroupState, u: np.ndarray, high: np.ndarray, eps: np.float32, cand: np.ndarray,
    ub: np.ndarray, colmax: np.ndarray, b1: np.ndarray, b2: np.ndarray, margin: float, code: np.ndarray | None,
    width: int | None,
) -> tuple[np.ndarray, Gains | None]:  # fmt: skip
    """The pairs of UK schools ``u`` (one group) and the open candidates ``cand`` that may be within ``margin``
    of pricing out, by their upper bounds ``high + eps`` (``high`` may be overwritten); and the pairs' ``Gains``
    where known."""
    pairs = group.pairs
    if width is None:
        # exact path: score >= high - eps - (the wishes weight times the largest priority, with wishes)
        prio = group.priority
        wishes = float(pairs.wish_weight) * float(prio.max(initial=0.0)) if prio is not None else 0.0
        drop = float(eps) + wishes if group.residual is None else None
        fast = _fast_mask(pot, u, cand, high, eps, ub, colmax, b1, b2, margin, drop)
        if fast is not None:
            return fast
        a1, a2 = (x[:, None] for x in pot.tail(u, None))
    else:
        keys = (u[:, None] * width + code[cand][None, :]).ravel()
        a1, a2 = (x.reshape(len(u), len(cand)) for x in pot.tail(np.repeat(u, len(cand)), keys))
    d1 = a1 - b1[cand][None, :]
    d2 = a2 - b2[cand][None, :]
    threshold = np.where(d1 < 0, -np.inf, np.where(d1 > 0, np.inf, d2 / pot.scale - margin))
    limit = np.minimum(ub[u][:, None], colmax[cand][None, :])
    return (high.astype(np.float64) + float(eps) >= threshold) & (limit >= threshold), None


def _fast_mask(
    pot: Potentials, u: np.ndarray, cand: np.ndarray, high: np.ndarray, eps: np.float32, ub: np.ndarray,
    colmax: np.ndarray, b1: np.ndarray, b2: np.ndarray, margin: float, drop: float | None,
) -> tuple[np.ndarray, Gains | None] | None:  # fmt: skip
    """The pairs of the block that may be within ``margin`` of pricing out, in float32 over ``high``
    (overwritten unless ``drop`` is given), when every row and candidate has the same coverage potential (the
    usual case; ``None`` otherwise): ``min(high + eps, ub[u], colmax[v]) + beta[v] >= alpha[u]`` with ``alpha``
    lowered by the margin and a bound on the float32 rounding. With ``drop`` (``score >= high - drop``), also the pairs'
    ``Gains``."""
    a1, a2 = pot.uk(u)
    c1 = b1[cand]
    if len(a1) == 0 or np.any(a1 != a1[0]) or np.any(c1 != a1[0]):
        return None
    alpha = a2 / pot.scale - margin
    beta = b2[cand] / pot.scale
    high_size = max(float(high.max(initial=0.0)), -float(high.min(initial=0.0)))  # |high|'s maximum, no copy
    size = high_size + float(eps) + float(np.abs(beta).max(initial=0.0)) + 1.0
    tol = 8 * 2.0**-23 * (size + float(np.abs(alpha).max(initial=0.0)) + (drop or 0.0))
    beta32 = beta.astype(np.float32)
    level = (alpha - tol).astype(np.float32)
    cap = colmax[cand].astype(np.float32)
    ub32 = ub[u].astype(np.float32)
    top = high if drop is None else np.empty_like(high)  # with gains, ``high`` stays the product (their base)
    mask = np.empty(high.shape, bool)
    step = max(1, CACHE_CELLS // max(1, high.shape[1]))
    for at in range(0, len(u), step):  # rows a few at a time: every pass stays in the core's cache
        rows = slice(at, at + step)
        gain = top[rows]
        np.add(high[rows], eps, out=gain)
        np.minimum(gain, cap[None, :], out=gain)
        np.minimum(gain, ub32[rows, None], out=gain)
        gain += beta32[None, :]
        np.greater_equal(gain, level[rows, None], out=mask[rows])
    if drop is None:
        return mask, None
    return mask, Gains(top, high, np.float32(drop), beta32, 2 * tol + 2.0 / pot.scale)


def _exact_block(
    p: Problem, pot: Potentials, group: GroupState, u: np.ndarray, cand: np.ndarray,
    block: tuple[np.ndarray, Gains | None], skip: np.ndarray, code: np.ndarray | None, width: int | None,
    state: PricingState,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """The pairs of the block's mask (rows ``u``, columns ``cand``) that are allowed, not in ``skip`` (sorted
    keys) and within ``margin_units`` (integer cost units) of pricing out, scored exactly: ``(u, v, score)``;
    at most ``POOL_PER_ROW`` per school (``Gains`` spare scoring the rest of a school with many)."""
    mask, gains = block
    pairs = p.pairs
    n_ab = len(p.ab_rows)
    for i, row in enumerate(p.uk_rows[u].tolist()):
        ex = group.local_open[pairs.excluded(row)]
        mask[i, ex[ex >= 0]] = False
    _clear_keys(mask, u, group.local_open, skip, n_ab)
    if gains is not None and p.options.min_score is None:  # (a minimum score would drop pairs after scoring)
        best_bounded(mask, gains, repricing.POOL_PER_ROW + 1)
    flat = np.flatnonzero(mask)
    i, j = flat // mask.shape[1], flat % mask.shape[1]
    if len(i) == 0:
        return _none()
    q = pairs.scorer.query_vectors(pairs.index.matrix[p.uk_rows[u]])
    tz = pairs.cols.tz_offset[p.uk_rows[u]]
    tz_term = pairs.timezone(tz, cand) if len(np.unique(tz, axis=0)) > 1 else pairs.timezone(tz[:1], cand)
    s = pairs.finish(p.uk_rows[u[i]], cand[j], exact_pair_scores(q, pairs.cand_matrix, tz_term, i, j, cand))
    v = cand[j]
    r1, r2 = _reduced(pot, u[i], v, s, code, width)
    allowed = np.ones(len(s), bool) if p.options.min_score is None else s >= np.float32(p.options.min_score)
    keep = np.flatnonzero(allowed & ((r1 < 0) | (r1 == 0) & (r2 < state.margin_units)))
    rows = u[i[keep]]
    order = np.lexsort((r2[keep], r1[keep], rows))  # each school's pairs, lowest reduced cost first
    keep, rows = keep[order], rows[order]
    counts = np.bincount(rows, minlength=len(state.ref))
    starts = np.cumsum(counts) - counts
    limit = repricing.POOL_PER_ROW
    many = np.flatnonzero(counts > limit)
    if len(many):  # a school with many such pairs pools its closest ones (bounded memory)
        cut = keep[starts[many] + limit]  # each school's first pair left out
        out = (r1[cut] < 0) | (r2[cut] < 0)
        state.forget(many[out])  # pairs pricing out left out: the school is priced densely again next round
        state.narrow(many[~out], r2[cut[~out]])  # every pair left out is at least this far from pricing out
        keep = keep[np.arange(len(keep)) - starts[rows] < limit]
    return u[i[keep]], v[keep], s[keep]


def _clear_keys(mask: np.ndarray, u: np.ndarray, local_open: np.ndarray, skip: np.ndarray, n_ab: int) -> None:
    """Clear the cells of a block (rows: UK schools ``u``; columns: the open candidates, ``local_open`` giving a
    school abroad's column or -1) whose pair key ``u * n_ab + v`` is in ``skip`` (sorted): each row's own keys
    (a few) are found by two binary searches; a block's rows are spread over all the schools, so a search over
    the range between its first and last row's keys would read most of ``skip``."""
    u = u.astype(np.int64)
    lo = np.searchsorted(skip, u * n_ab)
    counts = np.searchsorted(skip, (u + 1) * n_ab) - lo
    total = int(counts.sum())
    if total == 0:
        return
    row = np.repeat(np.arange(len(u)), counts)
    at = np.arange(total) + np.repeat(lo - (np.cumsum(counts) - counts), counts)
    col = local_open[skip[at] - u[row] * n_ab]
    hit = col >= 0
    mask[row[hit], col[hit]] = False


def _reduced(
    pot: Potentials, u: np.ndarray, v: np.ndarray, s: np.ndarray, code: np.ndarray | None, width: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """The reduced cost ``(coverage, score)`` of new arcs ``u -> v`` scoring ``s`` (from the ``(u, country)``
    node with ``width``)."""
    a1, a2 = pot.tail(u, u * width + code[v] if width is not None and code is not None else None)
    b1, b2 = pot.abroad(v)
    return a1 - b1, a2 - b2 - np.rint(s.astype(np.float64) * pot.scale).astype(np.int64)


def _pricing_pool(
    p: Problem, pot: Potentials, state: PricingState, code: np.ndarray | None, width: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Take the pooled pairs whose reduced cost is negative now out of the pool, and when there is one, those
    within ``ADD_MARGIN`` of it too (the next potentials would likely make them price out: fewer rounds):
    ``(u, v, score)``; per UK school its ``ADD_PER_ROW`` plus twice its places best (the rest stay pooled,
    priced again after the next solve: the graph and the solves stay small)."""
    if width is not None and code is not None and len(p.forced) and len(state.pool_u):
        filled = np.sort(p.forced[:, 0] * width + code[p.forced[:, 1]])  # countries the forced pairs fill
        state.take(isin_sorted(state.pool_u * width + code[state.pool_v], filled))
    r1, r2 = _reduced(pot, state.pool_u, state.pool_v, state.pool_s, code, width)
    pricing = (r1 < 0) | ((r1 == 0) & (r2 < 0))
    if not pricing.any():
        return _none()
    pick = np.flatnonzero(pricing | ((r1 == 0) & (r2 < int(np.floor(ADD_MARGIN * pot.scale)))))
    pick = pick[np.lexsort((r2[pick], r1[pick], state.pool_u[pick]))]  # each school's, lowest reduced cost first
    u = state.pool_u[pick]
    counts = np.bincount(u, minlength=len(p.uk_rows))
    rank = np.arange(len(pick)) - (np.cumsum(counts) - counts)[u]
    chosen = np.zeros(len(state.pool_u), bool)
    chosen[pick[rank < repricing.ADD_PER_ROW + 2 * p.cap_uk[u]]] = True
    return state.take(chosen)


def _suspects(
    pot: Potentials, rows: np.ndarray, ub: np.ndarray, colmax: np.ndarray, col_ok: np.ndarray, margin: float,
    width: int | None,
) -> np.ndarray:  # fmt: skip
    """A mask over ``rows``: the UK schools that may have a left-out pair within ``margin`` of pricing out,
    from the upper bounds ``min(ub[u], colmax[v])`` on its score, over the schools abroad sorted by potential
    (no pair scored)."""
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


def _none() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
