"""The certificate of optimality: the certified answer from a narrow candidate graph equals the optimum over
every allowed pair (the exact graph, and scipy's integer program on small cohorts); pricing recovers what a
narrow top_k misses; a result that is not proven optimal never says it is."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.text import HashingEncoder
from matching.batch import Assignment, AssignmentOptions, SolverInput, assign, pricing, repricing
from matching.batch import gains as gains_module
from matching.batch.potentials import arc_flow, residual_potentials
from matching.batch.solvers.optimal import solve_network
from matching.core.index import SchoolIndex
from matching.demo.generator import generate_registry
from matching.errors import ConfigError, InfeasibleError
from tests.matching.test_assignment import build, cohort, milp_optimum, run


def same_optimum(a: Assignment, b: Assignment) -> bool:
    return a.diagnostics.objective["covered_units"] == b.diagnostics.objective["covered_units"] and bool(
        np.isclose(a.diagnostics.total_score, b.diagnostics.total_score, rtol=0, atol=1e-4)
    )


OPTIONS = st.sampled_from(
    [
        {},
        {"capacity": 2},
        {"capacity": 3, "one_per_country": True},
        {"min_score": 0.4},
        {"capacity": 3, "min_partners": 2},
        {"capacity": 2, "refine_rounds": 0},
    ]
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_uk=st.integers(5, 45), n_ab=st.integers(5, 45), seed=st.integers(0, 10_000), top_k=st.integers(1, 4),
    options=OPTIONS,
)  # fmt: skip
def test_certified_answer_equals_the_dense_optimum(n_uk, n_ab, seed, top_k, options) -> None:
    index = build(cohort(n_uk, n_ab, seed))
    try:
        dense = run(index, top_k=index.n_rows, certify=False, explain=False, **options)
    except InfeasibleError:
        with pytest.raises(InfeasibleError):
            run(index, top_k=top_k, explain=False, **options)
        return
    certified = run(index, top_k=top_k, explain=False, **options)
    assert certified.diagnostics.certified, certified.diagnostics.certificate_note
    assert same_optimum(certified, dense)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_uk=st.integers(5, 45), n_ab=st.integers(5, 45), seed=st.integers(0, 10_000), top_k=st.integers(1, 4),
    options=OPTIONS, margin=st.sampled_from([0.0, 0.01, 0.05]), per_row=st.sampled_from([1, 2, 64]),
)  # fmt: skip
def test_rounds_after_the_first_re_price_only_what_moved(n_uk, n_ab, seed, top_k, options, margin, per_row) -> None:
    """With the later rounds forced onto the sparse re-check (never a second dense pass), any margin and any
    cap on the near pairs pooled per school (a school over it keeps a smaller margin of its own), the
    certified answer is still the dense optimum: the pool and the re-check miss no pair that prices out."""
    index = build(cohort(n_uk, n_ab, seed))
    try:
        dense = run(index, top_k=index.n_rows, certify=False, explain=False, **options)
    except InfeasibleError:
        return
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(repricing, "_SPARSE_SHARE", 0)
        mp.setattr(repricing, "MARGIN", margin)
        mp.setattr(repricing, "POOL_PER_ROW", per_row)
        certified = run(index, top_k=top_k, explain=False, **options)
    assert certified.diagnostics.certified, certified.diagnostics.certificate_note
    assert same_optimum(certified, dense)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("options", [{}, {"capacity": 3, "one_per_country": True}, {"min_score": 0.45}])
def test_certified_answer_equals_the_integer_program(seed, options) -> None:
    index = build(cohort(18, 22, seed))
    certified = run(index, top_k=1, **options)
    complete = run(index, top_k=index.n_rows, **options)  # its graph holds every eligible pair
    coverage, total = milp_optimum(complete)
    assert certified.diagnostics.certified
    assert certified.diagnostics.objective["covered_units"] == coverage
    assert certified.diagnostics.total_score == pytest.approx(total, abs=1e-4)


def test_certified_answer_on_the_demo_registry() -> None:
    index = SchoolIndex.build(generate_registry(700, seed=5), HashingEncoder(64), progress=False)
    for options in ({"capacity": 2}, {"capacity": 3, "one_per_country": True}):
        certified = run(index, top_k=3, explain=False, **options)
        dense = run(index, top_k=index.n_rows, certify=False, explain=False, **options)
        assert certified.diagnostics.certified and same_optimum(certified, dense)
        assert certified.diagnostics.n_candidate_edges < dense.diagnostics.n_candidate_edges


def test_top_k_20_misses_the_optimum_and_pricing_gets_it_back() -> None:
    """120 UK schools x 90 abroad, 2 places each: the default graph (top_k 20 and its refine round) loses
    score; the pricing rounds add the missing pairs and reach the optimum over every allowed pair."""
    index = build(cohort(120, 90, 1))
    plain = run(index, top_k=20, capacity=2, explain=False, certify=False)
    certified = run(index, top_k=20, capacity=2, explain=False)
    dense = run(index, top_k=index.n_rows, capacity=2, explain=False, certify=False)
    assert plain.diagnostics.total_score < dense.diagnostics.total_score - 1e-3  # top_k 20 misses it
    assert same_optimum(certified, dense)
    d = certified.diagnostics
    assert d.certified and d.pricing_rounds >= 1 and d.pairs_added >= 1 and d.certificate_note == ""
    assert d.n_candidate_edges == plain.diagnostics.n_candidate_edges + d.pairs_added
    assert any("certified optimal" in line for line in certified.summary())


def test_not_certified_is_never_reported_as_certified() -> None:
    index = build(cohort(120, 90, 1))
    capped = run(index, top_k=20, capacity=2, explain=False, max_pricing_rounds=0)
    d = capped.diagnostics
    assert not d.certified and "max_pricing_rounds" in d.certificate_note and d.pairs_added == 0
    assert any("not certified" in line for line in capped.summary())
    for mode in ("greedy", "stable"):
        other = run(index, capacity=2, explain=False, mode=mode).diagnostics
        assert not other.certified and mode in other.certificate_note
    off = run(index, capacity=2, explain=False, certify=False).diagnostics
    assert not off.certified and off.certificate_note == "certify is off"
    as_dict = d.as_dict()
    assert as_dict["certified"] is False and as_dict["certificate_note"]
    with pytest.raises(ConfigError, match="max_pricing_rounds"):
        AssignmentOptions(max_pricing_rounds=-1)
    with pytest.raises(ConfigError, match="certify"):
        AssignmentOptions(certify="yes")  # type: ignore[arg-type]


def test_default_run_is_certified() -> None:
    index = build(cohort(30, 30, 4))
    a = assign(index, options=AssignmentOptions(progress=False))
    assert a.diagnostics.certified


@pytest.mark.parametrize("groups", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_potentials_price_every_residual_arc_non_negative(seed, groups) -> None:
    """The potentials of an optimal flow leave every residual arc a lexicographically non-negative reduced cost
    (coverage, then score)."""
    rng = np.random.default_rng(seed)
    n_uk, n_ab, n_e = 30, 25, 200
    key = np.unique(rng.integers(0, n_uk * n_ab, n_e))
    src, dst = (key // n_ab).astype(np.int32), (key % n_ab).astype(np.int32)
    score = rng.random(len(key)).astype(np.float32)
    group = src.astype(np.int64) * 4 + dst % 4 if groups else None
    problem = SolverInput(src, dst, score, rng.integers(0, 3, n_uk), rng.integers(0, 3, n_ab), group=group)
    solution, net = solve_network(problem)
    pot = residual_potentials(net, solution.chosen)
    tails, heads, caps, flow = net.tails, net.heads, net.caps, arc_flow(net, solution.chosen)
    coverage_cost = np.zeros(len(caps), np.int64)
    coverage_cost[: net.n_uk] = -1  # the bonus arcs
    score_cost = net.costs.copy()
    score_cost[: net.n_uk] = 0
    r1 = coverage_cost + pot.coverage[tails] - pot.coverage[heads]
    r2 = score_cost + pot.score[tails] - pot.score[heads]
    negative = (r1 < 0) | ((r1 == 0) & (r2 < 0))
    positive = (r1 > 0) | ((r1 == 0) & (r2 > 0))
    assert not np.any((flow < caps) & negative)  # forward residual arcs
    assert not np.any((flow > 0) & positive)  # backward residual arcs (reduced cost negated)


def _force_each_column_best(index: SchoolIndex, **options: object) -> list[tuple[str, str]]:
    """Forced pairs built to break a column bound taken from the graph: each school abroad's best UK
    partner (one per UK school), so that with top_k=1 the graph loses every school abroad's best pair."""
    full = run(index, top_k=index.n_rows, certify=False, explain=False, **options).context.graph
    ids = index.columns.ids
    best: dict[int, tuple[int, float]] = {}
    for u, v, s in zip(full.src.tolist(), full.dst.tolist(), full.score.tolist(), strict=True):
        if v not in best or s > best[v][1]:
            best[v] = (u, s)
    used: set[int] = set()
    forced = []
    for v, (u, _) in sorted(best.items()):
        if u not in used:
            used.add(u)
            forced.append((ids[full.uk_rows[u]], ids[full.intl_rows[v]]))
    return forced


@pytest.mark.parametrize("seed", [15, 21, 30])
@pytest.mark.parametrize("one_per_country", [False, True])
def test_forced_best_pairs_do_not_hide_a_better_left_out_pair(seed, one_per_country) -> None:
    """Forcing every school abroad's best pair drops it from the graph (top_k=1): the pricing must not take
    the school's best remaining graph pair as a bound on its left-out pairs (the certified answer was short
    of the optimum on these seeds before)."""
    index = build(cohort(12, 10, seed))
    options = {"capacity": 2, "one_per_country": one_per_country}
    forced = _force_each_column_best(index, **options)
    assert len(forced) >= 3
    dense = run(index, top_k=index.n_rows, certify=False, explain=False, forced_pairs=forced, **options)
    certified = run(index, top_k=1, explain=False, forced_pairs=forced, **options)
    assert certified.diagnostics.certified, certified.diagnostics.certificate_note
    assert same_optimum(certified, dense)
    assert set(forced) <= set(certified.pairs)


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("share", [0, 8])
def test_a_pass_pools_few_pairs_per_school_and_prices_again_what_it_left_out(n_jobs, share) -> None:
    """Pooling at most one pair per school: a dense pass that finds several pairs of a school pricing out
    keeps the best, drops the school's reference (so it is priced densely again next round) and still
    reaches the dense optimum (without the dropped reference the later sparse re-checks miss those pairs: the
    run says "certified" short of the optimum); a dense pass pools at most one pair per school."""
    index = build(cohort(60, 50, 3))
    dense = run(index, top_k=index.n_rows, capacity=3, explain=False, certify=False)
    forgotten: list[int] = []
    pooled: list[int] = []
    forget, exact_block = repricing.PricingState.forget, pricing._exact_block

    def spy_forget(self: repricing.PricingState, rows: np.ndarray) -> None:
        forgotten.extend(rows.tolist())
        forget(self, rows)

    def spy_exact_block(*args: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out = exact_block(*args)
        pooled.append(int(np.bincount(out[0]).max(initial=0)))
        return out

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(repricing, "POOL_PER_ROW", 1)
        mp.setattr(repricing, "_SPARSE_SHARE", share)  # 0: later rounds re-check sparsely whatever moved
        mp.setattr(repricing.PricingState, "forget", spy_forget)
        mp.setattr(pricing, "_exact_block", spy_exact_block)
        certified = run(index, top_k=1, capacity=3, explain=False, n_jobs=n_jobs)
    assert forgotten, "no pass left out a pair pricing out: the cap was not exercised"
    assert pooled and max(pooled) == 1
    assert certified.diagnostics.certified, certified.diagnostics.certificate_note
    assert same_optimum(certified, dense)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rounds_add_few_pairs_per_school_and_keep_the_rest_pooled(seed) -> None:
    """A round adds at most ``ADD_PER_ROW`` plus twice its places of each UK school's pooled pairs (here 0 +
    2 x 2), the rest stay pooled and are priced again: the same certified dense optimum, more rounds."""
    index = build(cohort(60, 50, seed))
    dense = run(index, top_k=index.n_rows, capacity=2, explain=False, certify=False)
    added: list[int] = []
    take = repricing.PricingState.take

    def spy_take(self: repricing.PricingState, pick: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out = take(self, pick)
        added.append(int(np.bincount(out[0]).max(initial=0)))
        return out

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(repricing, "ADD_PER_ROW", 0)
        mp.setattr(repricing.PricingState, "take", spy_take)
        certified = run(index, top_k=1, capacity=2, explain=False)
    d = certified.diagnostics
    assert d.certified, d.certificate_note
    assert same_optimum(certified, dense)
    assert added and max(added) <= 4 and d.pricing_rounds >= 1


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 6), density=st.floats(0.05, 1.0))
def test_best_bounded_keeps_exactly_the_pairs_reaching_each_rows_kth_best_lower_bound(seed, k, density) -> None:
    """``best_bounded`` against its definition, row by row: a row with over ``4 k`` pairs keeps those whose upper
    bound reaches its ``k``-th best lower bound less the slack; other rows keep every pair (ties included)."""
    rng = np.random.default_rng(seed)
    rows, cols = int(rng.integers(1, 12)), int(rng.integers(1, 90))
    base = rng.choice(np.linspace(-1, 1, 9), size=(rows, cols)).astype(np.float32)  # coarse values: many ties
    beta = rng.choice(np.linspace(-0.5, 0.5, 5), size=cols).astype(np.float32)
    drop = np.float32(rng.choice([0.0, 0.25]))
    low = (base - drop) + beta[None, :]
    high = low + rng.random((rows, cols)).astype(np.float32)
    mask = rng.random((rows, cols)) < density
    want = mask.copy()
    for r in range(rows):
        js = np.flatnonzero(mask[r])
        if len(js) > 4 * k:
            kth = float(np.sort(low[r, js].astype(np.float64))[::-1][k - 1])
            want[r, js] = high[r, js].astype(np.float64) >= kth - 0.05
    gains_module.best_bounded(mask, gains_module.Gains(high, base, drop, beta, 0.05), k)
    assert np.array_equal(mask, want)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 70), levels=st.sampled_from([3, 50, 0]), holes=st.booleans())
def test_kth_largest_equals_a_full_sort(seed, k, levels, holes) -> None:
    """``kth_largest`` (chunk maxima, then a partition of the values reaching them) equals a full sort, with many
    ties (``levels`` distinct values; 0: continuous), from ``4 k`` to thousands of values, and with ``holes``
    (cells out of the mask, at ``-inf``: possibly whole chunks of them)."""
    rng = np.random.default_rng(seed)
    n = 4 * k + int(rng.choice([0, 1, 40, 3000]))
    values = rng.random(n).astype(np.float32)
    if levels:
        values = np.floor(values * levels).astype(np.float32)
    if holes:
        values[rng.random(n) < rng.random() * 0.7] = -np.inf
        values[rng.choice(n, min(n, 4 * k), replace=False)] = rng.random(min(n, 4 * k))  # at least 4 k finite
    got = gains_module.kth_largest(values.copy(), k)
    assert float(got) == float(np.sort(values)[::-1][k - 1])


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_clear_keys_and_isin_sorted_agree_with_numpy_isin(seed) -> None:
    """The two ways pricing leaves out the pairs already in the graph, the pool or forced: clearing a block's
    cells by the keys of its rows (``_clear_keys``) and a search in the keys' range (``isin_sorted``), both
    against ``np.isin`` on every cell."""
    rng = np.random.default_rng(seed)
    n_uk, n_ab = int(rng.integers(1, 30)), int(rng.integers(1, 40))
    skip = np.unique(rng.integers(0, n_uk * n_ab, int(rng.integers(0, n_uk * n_ab + 1))))
    u = np.sort(rng.choice(n_uk, int(rng.integers(1, n_uk + 1)), replace=False))
    if rng.random() < 0.3:
        u = rng.permutation(u)
    cand = np.sort(rng.choice(n_ab, int(rng.integers(1, n_ab + 1)), replace=False))
    local_open = np.full(n_ab, -1)
    local_open[cand] = np.arange(len(cand))
    keys = u[:, None] * n_ab + cand[None, :]
    mask = rng.random(keys.shape) < 0.7
    want = mask & ~np.isin(keys, skip)
    pricing._clear_keys(mask, u, local_open, skip, n_ab)
    assert np.array_equal(mask, want)
    flat = rng.permutation(keys.ravel())[: int(rng.integers(0, keys.size + 1))]
    assert np.array_equal(repricing.isin_sorted(flat, skip), np.isin(flat, skip))


@pytest.mark.parametrize("seed", [0, 1])
def test_pricing_blocks_and_products_of_any_size_give_the_same_run(seed) -> None:
    """The bounds product spans several pricing blocks (wider products are faster per pair); its rounding
    allowance then covers more rows, so more pairs may be scored, but the pool, the rounds, the pairs added and
    the answer are the same whatever the sizes."""
    index = build(cohort(60, 50, seed))
    runs = []
    for price_cells, product_cells in [(1 << 21, 1 << 23), (64, 64), (64, 4096), (200, 1 << 23)]:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(pricing, "_PRICE_ELEMENTS", price_cells)
            mp.setattr(pricing, "_PRODUCT_ELEMENTS", product_cells)
            runs.append(run(index, top_k=1, capacity=3, explain=False))
    first = runs[0]
    assert first.diagnostics.certified and first.diagnostics.pricing_rounds > 0
    for other in runs[1:]:
        assert other.to_frame().equals(first.to_frame())
        assert (other.diagnostics.pricing_rounds, other.diagnostics.pairs_added) == (
            first.diagnostics.pricing_rounds, first.diagnostics.pairs_added,
        )  # fmt: skip
