"""The bounded (coarse first pass) search returns exactly what the exact scan returns."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.text import HashingEncoder
from matching.core.coarse import _Segment, nonzero_spans
from matching.core.config import RankerConfig
from matching.core.constraints import RequestFilters
from matching.core.index import SchoolIndex
from matching.core.ranker import Ranker
from tests.support.factories import make_profile, make_registry


def check_same_rankings(index: SchoolIndex, queries: list[str], **kwargs: object) -> None:
    exact = Ranker(index, RankerConfig(search="exact"))
    bounded = Ranker(index, RankerConfig(search="bounded"))
    bounded.prepare()
    for q in queries:
        a = exact.suggest(q, **kwargs)
        b = bounded.suggest(q, **kwargs)
        assert list(a.ids) == list(b.ids), q
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
        np.testing.assert_allclose(b.contributions.sum(axis=1), b.scores, atol=1e-5)


@pytest.fixture
def index() -> SchoolIndex:
    return SchoolIndex.build(make_registry(400, seed=3), HashingEncoder(48), progress=False)


@pytest.mark.parametrize("diversity", ["none", "country_cap", "mmr"])
def test_bounded_search_equals_exact_scan(index: SchoolIndex, diversity: str) -> None:
    check_same_rankings(index, [f"s{i}" for i in range(0, 400, 13)], k=10, diversity=diversity)


def test_bounded_search_equals_exact_scan_with_filters(index: SchoolIndex) -> None:
    filters = RequestFilters(countries=("IQ", "KE", "GB"), max_timezone_difference=4)
    check_same_rankings(index, [f"s{i}" for i in range(0, 400, 29)], k=5, filters=filters)


def test_bounded_search_stays_exact_after_incremental_changes(index: SchoolIndex) -> None:
    import random

    rng = random.Random(11)
    bounded = Ranker(index, RankerConfig(search="bounded"))
    bounded.prepare()
    index.add([make_profile(rng, 1000 + i) for i in range(30)])
    moved = index.profile("s5").model_copy(update={"country": "GB" if index.profile("s5").country != "GB" else "KE"})
    index.update(moved)
    index.remove("s7")
    index.remove("s1003")
    check_same_rankings(index, ["s5", "s9", "s1001", "s20", "s33"], k=10, diversity="none")
    index.compact()
    check_same_rankings(index, ["s5", "s9", "s1001", "s20", "s33"], k=10, diversity="none")


def test_bounded_search_stays_exact_as_schools_stop_and_start_taking_partners(index: SchoolIndex) -> None:
    """A school without a free place (or inactive) lives in a coarse segment that queries skip while
    ``candidate_available`` is on; it moves there and back as its places and activity change."""
    import random

    from matching.core.coarse import available, segment_id
    from matching.core.config import Constraints

    rng = random.Random(4)
    bounded = Ranker(index, RankerConfig(search="bounded"))
    bounded.prepare()
    changed = rng.sample([f"s{i}" for i in range(400)], 80)
    for n, school_id in enumerate(changed):
        p = index.profile(school_id)
        index.update(p.model_copy(update={"capacity": 0} if n % 2 else {"active": not p.active}))
    coarse = index.coarse_index(min_rows=0)
    assert coarse is not None
    rows = index.rows(changed)
    c = index.columns
    assert np.array_equal(coarse.side_of[rows], segment_id(c.is_uk[rows], c.phase[rows], available(index, rows)))
    assert not available(index, rows[1::2]).any()  # capacity 0: out of the scanned segments
    queries = rng.sample([f"s{i}" for i in range(400)], 20) + changed[:6]
    check_same_rankings(index, queries, k=10, diversity="none")
    switched_off = RankerConfig(search="bounded", constraints=Constraints(candidate_available=False))
    exact_off = RankerConfig(search="exact", constraints=Constraints(candidate_available=False))
    for q in queries[:10]:  # the rule off: the unavailable schools' segments are scanned too
        a, b = Ranker(index, exact_off).suggest(q, k=10), Ranker(index, switched_off).suggest(q, k=10)
        assert list(a.ids) == list(b.ids), q
    assert set(changed[1::2]) & {s for q in queries[:10] for s in Ranker(index, switched_off).suggest(q, k=10).ids}
    for school_id in changed:  # back to taking partners: back in the scanned segments
        p = index.profile(school_id)
        index.update(p.model_copy(update={"capacity": 5, "active": True}))
    assert available(index, index.rows(changed)).all()
    check_same_rankings(index, queries, k=10, diversity="none")


def test_dead_slots_outnumbering_the_live_rows_refit_the_coarse_index(index: SchoolIndex) -> None:
    coarse = index.coarse_index(min_rows=0)
    assert coarse is not None
    moving = [s for s in index.ids if index.profile(s).free_capacity > 0]  # (in)activity moves these
    for _ in range(3):
        for school_id in moving:
            p = index.profile(school_id)
            index.update(p.model_copy(update={"active": not p.active}))
    assert coarse.slots == len(coarse) + 3 * len(moving) > 2 * len(coarse)
    refitted = index.coarse_index(min_rows=0)
    assert refitted is not None and refitted is not coarse and refitted.slots == len(refitted) == len(index)
    check_same_rankings(index, [f"s{i}" for i in range(0, 400, 37)], k=10, diversity="none")


def test_an_update_that_keeps_the_row_keeps_its_coarse_projection(index: SchoolIndex) -> None:
    """Capacity, name...: the coarse row is not projected again; a new time zone is (its codes change)."""
    coarse = index.coarse_index(min_rows=0)
    assert coarse is not None
    sid = next(s for s in index.ids if index.profile(s).free_capacity > 0 and index.profile(s).active)
    row = index.row(sid)
    seg, pos = int(coarse.side_of[row]), int(coarse.pos_of[row])
    projected = coarse.segments[seg].data[:, pos].copy()
    coarse.segments[seg].data[:, pos] = 7.0  # a mark: projecting the row again would overwrite it
    p = index.profile(sid)
    index.update(p.model_copy(update={"capacity": p.capacity + 1, "name": "Renamed School"}))
    assert index.coarse_index(min_rows=0) is coarse and (coarse.side_of[row], coarse.pos_of[row]) == (seg, pos)
    assert (coarse.segments[seg].data[:, pos] == 7.0).all()
    coarse.segments[seg].data[:, pos] = projected
    zone = "Asia/Tokyo" if p.timezone != "Asia/Tokyo" else "Europe/London"
    index.update(index.profile(sid).model_copy(update={"timezone": zone}))
    assert np.array_equal(coarse.tz_values[coarse.segments[seg].tz[pos]], index.columns.tz_offset[row])
    check_same_rankings(index, [sid, *(f"s{i}" for i in range(0, 400, 41))], k=10, diversity="none")


def test_bounded_search_for_posted_profile(index: SchoolIndex) -> None:
    import random

    posted = make_profile(random.Random(5), 9999)
    exact = Ranker(index, RankerConfig(search="exact")).suggest(posted, k=10)
    bounded_ranker = Ranker(index, RankerConfig(search="bounded"))
    bounded_ranker.prepare()
    bounded = bounded_ranker.suggest(posted, k=10)
    assert list(exact.ids) == list(bounded.ids)


def test_the_coarse_index_gives_its_dimensions_only_to_blocks_the_query_vectors_read(index: SchoolIndex) -> None:
    ranker = Ranker(index, RankerConfig(search="bounded"))
    scorer = ranker.scorer
    queries = scorer.query_vectors(index.matrix[: index.n_rows])
    for name, s in index.blocks.items():
        read = bool(np.any(queries[:, s]))
        assert read == (scorer.block_weights[name] > 0), name  # the weights say which blocks the queries read
    ranker.prepare()
    coarse = index.coarse_index(min_rows=0)  # the one prepare() built
    assert coarse is not None
    for name, basis in coarse.bases.items():
        assert (basis.shape[1] > 0) == (scorer.block_weights[name] > 0), name
    check_same_rankings(index, [f"s{i}" for i in range(0, 400, 29)], k=10, diversity="none")


@settings(max_examples=200, deadline=None)
@given(
    zeros=st.lists(st.booleans(), min_size=1, max_size=40),
    n=st.integers(0, 50),
    seed=st.integers(0, 2**32 - 1),
    min_gap=st.integers(1, 6),
)
def test_the_first_pass_reads_only_the_columns_a_query_weights(
    zeros: list[bool], n: int, seed: int, min_gap: int
) -> None:
    rng = np.random.default_rng(seed)
    qc = rng.normal(size=len(zeros)).astype(np.float32)
    qc[np.array(zeros)] = 0.0
    spans = nonzero_spans(qc, min_gap)
    covered = np.zeros(len(qc), dtype=bool)
    for a, b in spans:
        assert a < b and not covered[a:b].any()
        covered[a:b] = True
    assert covered[qc != 0].all()  # every weighted column is read
    assert all(b1 + min_gap <= a2 for (_, b1), (a2, _) in pairwise(spans))  # in order, gaps of min_gap or more
    seg = _Segment.empty(len(qc), 1)
    rows = rng.normal(size=(n, len(qc))).astype(np.float32)
    seg.append({"data": rows, "residual": np.zeros((n, 1), np.float32), "tz": np.zeros(n, np.int16),
                "rows": np.arange(n)})  # fmt: skip
    np.testing.assert_allclose(seg.product(qc, spans), rows @ qc, rtol=1e-5, atol=1e-5)


def test_a_query_skips_the_age_columns_outside_its_range(index: SchoolIndex) -> None:
    ranker = Ranker(index, RankerConfig(search="bounded"))
    ranker.prepare()
    coarse = index.coarse_index(ranker.scorer.block_weights, min_rows=0)
    assert coarse is not None
    queries = ranker.scorer.query_vectors(index.matrix[: index.n_rows])
    read = [sum(b - a for a, b in nonzero_spans(coarse.project_query(q)[0])) for q in queries]
    assert max(read) < coarse.width  # no school teaches every age: some columns are skipped by every query
