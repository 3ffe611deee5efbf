"""The pruned candidate graph (coarse bounds, then exact scores for the pairs that can matter) equals the
exact one (every allowed pair scored) array for array, on random cohorts with copied schools (exact ties),
exclusions, forbidden pairs, a minimum score, full schools and every block shape; and both equal a plain
reference built from every pair's exact score."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from matching.batch import AssignmentOptions, CandidateGraph, assign, candidates
from matching.batch.bounds import _finite_abs_max, block_plan
from matching.batch.candidates import build_candidates
from matching.batch.pairs import PairScorer, exact_pair_scores
from matching.core.config import Exposure, RankerConfig
from matching.core.constraints import ConstraintSet
from matching.core.index import SchoolIndex
from matching.core.scoring import Scorer
from tests.support.factories import cohort
from tests.support.factories import hashing_index as build

FIELDS = ("uk_rows", "intl_rows", "src", "dst", "score", "n_compatible", "n_open", "n_eligible", "best_open")
FIELDS += ("intl_compatible", "intl_eligible")


def with_copies(n_uk: int, n_abroad: int, seed: int) -> SchoolIndex:
    """A cohort where about a third of the schools are copies of others (new ids): their scores tie exactly."""
    rng = random.Random(seed)
    profiles = cohort(n_uk, n_abroad, seed)
    copies = [
        p.model_copy(update={"school_id": f"{p.school_id}-copy{i}", "current_partners": (), "excluded": ()})
        for i, p in enumerate(rng.sample(profiles, len(profiles) // 3))
    ]
    return build(profiles + copies)


def pair_scorer(index: SchoolIndex, forbidden: int = 0, seed: int = 0) -> tuple[PairScorer, np.ndarray]:
    cols = index.cols()
    uk, ab = np.flatnonzero(cols.is_uk), np.flatnonzero(~cols.is_uk)
    rng = np.random.default_rng(seed)
    banned = {int(r): rng.choice(len(ab), 2, replace=False) for r in rng.choice(uk, forbidden, replace=False)}
    config = RankerConfig(exposure=Exposure(prior=0.0))  # pruned vs exact graphs: the prior is beside the point
    constraints = ConstraintSet(config.constraints.model_copy(update={"candidate_available": False}))
    return PairScorer(index, Scorer(index, config), constraints, ab, banned), uk


def graphs(pairs: PairScorer, uk: np.ndarray, open_: np.ndarray, **kw: object) -> tuple[CandidateGraph, ...]:
    return tuple(build_candidates(pairs, uk, open_, progress=False, pruned=p, **kw) for p in (False, True))  # type: ignore[arg-type]


def assert_same(a: CandidateGraph, b: CandidateGraph) -> None:
    assert a.top_k == b.top_k
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name


def reference(pairs: PairScorer, uk: np.ndarray, open_: np.ndarray, top_k: int, min_score: float | None) -> set:
    """Every UK row's top-k pairs from every allowed pair's exact score (score descending, then position)."""
    allowed, _ = pairs.dense(uk)
    allowed &= open_[None, :]
    q = pairs.scorer.query_vectors(pairs.index.matrix[uk])
    tz = pairs.timezone(pairs.index.cols().tz_offset[uk])
    i, j = np.nonzero(allowed)
    c = exact_pair_scores(q, pairs.cand_matrix, tz, i, j)
    out = set()
    for row in range(len(uk)):
        sel = np.flatnonzero(i == row)
        order = sel[np.lexsort((j[sel], -c[sel].astype(np.float64)))][:top_k]
        out |= {(row, int(j[e]), float(c[e])) for e in order if min_score is None or c[e] >= min_score}
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    ("top_k", "min_score", "block_size"),
    [(3, None, None), (5, 0.4, None), (2, None, 2), (2, None, 7), (4, 0.3, 13), (1, None, 1)],
    ids=["plain", "min-score", "blocks-of-k", "blocks-of-few-k", "blocks-of-many", "k1-rows"],
)
def test_pruned_graph_equals_exact_graph(
    seed: int, top_k: int, min_score: float | None, block_size: int | None
) -> None:
    index = with_copies(40, 50, seed)
    pairs, uk = pair_scorer(index, forbidden=5, seed=seed)
    open_ = np.random.default_rng(seed).random(len(pairs.intl_rows)) < 0.85
    exact, pruned = graphs(pairs, uk, open_, top_k=top_k, min_score=min_score, block_size=block_size)
    assert exact.n_edges > 0 and len(np.unique(exact.score)) < exact.n_edges  # ties are present
    assert_same(exact, pruned)
    # the rows' lists are the reference top k, found from every allowed pair
    got = {(int(s), int(d), float(v)) for s, d, v in zip(pruned.src, pruned.dst, pruned.score, strict=True)}
    assert reference(pairs, uk, open_, top_k, min_score) <= got


def test_pruned_graph_with_threads_and_a_larger_cohort(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two threads, 150 x 180 schools with copies: the same graph, from fewer pairs scored exactly."""
    index = with_copies(150, 180, 7)
    pairs, uk = pair_scorer(index, forbidden=10, seed=7)
    open_ = np.ones(len(pairs.intl_rows), dtype=bool)
    scored = {False: 0, True: 0}
    path = [False]

    def counted(q, matrix, tz, i, j, rows=None):  # type: ignore[no-untyped-def]
        scored[path[0]] += len(i)
        return exact_pair_scores(q, matrix, tz, i, j, rows)

    monkeypatch.setattr(candidates, "exact_pair_scores", counted)
    exact = build_candidates(pairs, uk, open_, 5, block_size=64, progress=False, pruned=False)
    path[0] = True
    pruned = build_candidates(pairs, uk, open_, 5, block_size=64, progress=False, pruned=True, n_jobs=2)
    assert_same(exact, pruned)
    allowed = int(pairs.dense(uk)[0].sum())
    assert 0 < scored[True] < allowed and 0 < scored[False] < allowed


def test_assignment_is_the_same_pruned_or_exact() -> None:
    index = with_copies(60, 70, 3)
    runs = [
        assign(index, options=AssignmentOptions(top_k=4, capacity=2, progress=False, explain=False, pruned=p))
        for p in (False, True)
    ]
    a, b = (r.to_frame() for r in runs)
    assert len(a) > 0
    assert a.equals(b)
    assert runs[0].diagnostics.total_score == runs[1].diagnostics.total_score


@pytest.mark.parametrize("pruned", [None, False, True])
def test_coarse_rows_are_released_after_candidate_scoring_unless_pricing_reads_them(pruned) -> None:
    """The coarse basis, rows and column copies (hundreds of MiB at 100,000 a side) are dropped once the graph
    is built, except with ``pruned=True`` (the pricing bounds use them); the certified answer is the same."""
    from matching.batch.encode import candidate_graph, encode
    from matching.batch.pricing import certified_optimum

    index = with_copies(60, 70, 3)
    options = AssignmentOptions(top_k=4, capacity=2, progress=False, explain=False, pruned=pruned)
    p = encode(index, RankerConfig(), None, options)
    p.pairs.coarse_candidates()  # as the pruned candidate scoring does
    graph, _ = candidate_graph(p, p.cap_uk.copy(), p.cap_ab.copy())
    assert (p.pairs._coarse is not None) == (pruned is True)
    bonus = np.ones(len(p.uk_rows), np.int64)
    final, solution, certificate = certified_optimum(p, graph, p.cap_uk.copy(), p.cap_ab.copy(), bonus)
    assert certificate.certified
    reference = assign(index, options=AssignmentOptions(top_k=4, capacity=2, progress=False, explain=False))
    assert int(solution.chosen.sum()) == len(reference) > 0
    assert float(final.score[solution.chosen].astype(np.float64).sum()) == pytest.approx(
        reference.diagnostics.total_score, abs=1e-4
    )


def test_pruned_option_is_checked() -> None:
    from matching.errors import ConfigError

    with pytest.raises(ConfigError, match="pruned"):
        AssignmentOptions(pruned="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("pruned", [False, True])
def test_candidates_keep_their_best_uk_schools_when_blocks_are_single_rows(pruned: bool) -> None:
    """With one UK row per block every row is each candidate's block best: each candidate's column list is
    then its exact top k over every UK school (score descending, then position), found from every pair."""
    index = with_copies(60, 40, 5)
    pairs, uk = pair_scorer(index, forbidden=4, seed=5)
    open_ = np.ones(len(pairs.intl_rows), dtype=bool)
    k = 3
    graph = build_candidates(pairs, uk, open_, k, block_size=1, progress=False, pruned=pruned)
    allowed, _ = pairs.dense(uk)
    q = pairs.scorer.query_vectors(pairs.index.matrix[uk])
    i, j = np.nonzero(allowed)
    c = exact_pair_scores(q, pairs.cand_matrix, pairs.timezone(pairs.index.cols().tz_offset[uk]), i, j)
    edges = {(int(s), int(d)) for s, d in zip(graph.src, graph.dst, strict=True)}
    for cand in range(len(pairs.intl_rows)):
        sel = np.flatnonzero(j == cand)
        best = sel[np.lexsort((i[sel], -c[sel].astype(np.float64)))][:k]
        assert {(int(i[e]), cand) for e in best} <= edges


def test_block_plan_takes_blocks_the_members_share_exactly():
    """A group whose members share a block's values bounds it on full columns (no residual); a block where they
    differ in more columns than it has coarse dimensions stays coarse. The bounds stay valid either way."""
    index = with_copies(30, 40, 5)
    pairs, uk = pair_scorer(index)
    coarse, _ = pairs.coarse_candidates()
    plan = block_plan(pairs, coarse, uk)
    coarse_cols, exact_cols, coarse_blocks = plan
    names = list(coarse.blocks)
    country = coarse.blocks["country"]
    q = pairs.scorer.query_vectors(index.matrix[uk])
    varies = q.min(axis=0) != q.max(axis=0)
    for j, name in enumerate(names):
        block = coarse.blocks[name]
        exact = set(range(block.start, block.stop)) <= set(exact_cols.tolist())
        assert exact == (int(varies[block].sum()) <= coarse.bases[name].shape[1]), name
        assert exact != (j in coarse_blocks.tolist()), name
    assert set(range(country.start, country.stop)) <= set(exact_cols.tolist())  # every UK school is in GB
    width = sum(coarse.bases[names[j]].shape[1] for j in coarse_blocks.tolist()) + (coarse.width - sum(
        b.shape[1] for b in coarse.bases.values()))  # fmt: skip
    assert len(coarse_cols) == width


@pytest.mark.parametrize("seed", [0, 3])
def test_allowed_on_a_subset_of_candidates_matches_the_dense_mask(seed):
    """``PairScorer.allowed(rows, cand)`` (used to explain unmatched schools) is the dense mask's columns."""
    pairs, uk = pair_scorer(with_copies(20, 30, seed), forbidden=6, seed=seed)
    full, _ = pairs.dense(uk)
    cand = np.sort(np.random.default_rng(seed).choice(len(pairs.intl_rows), 17, replace=False))
    assert np.array_equal(pairs.allowed(uk, cand), full[:, cand])
    assert np.array_equal(pairs.allowed(uk), full)
    assert not full.all() and full.any()


@settings(max_examples=200, deadline=None)
@given(
    a=hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=9),
                 elements=st.floats(width=32, allow_nan=True, allow_infinity=True)),
    cut=st.integers(0, 3),
)  # fmt: skip
def test_finite_abs_max_is_the_largest_finite_magnitude(a, cut) -> None:
    """The bounds' rounding sizes: the largest finite |value| (0 when none), on views too; infinities (excluded
    pairs) and NaN never count."""
    view = a[..., cut:]
    finite = view[np.isfinite(view)]
    assert _finite_abs_max(view) == (float(np.abs(finite).max()) if finite.size else 0.0)
