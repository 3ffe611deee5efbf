"""The school index: id <-> row mapping, aligned arrays, incremental changes equal a fresh build."""

from __future__ import annotations

import random
from typing import ClassVar

import numpy as np
import pytest

from features import vocab
from features.profiles import SchoolProfile
from features.text import CachedEncoder, HashingEncoder
from features.vectorizer import BLOCKS, SchoolVectorizer
from matching.core.constraints import ConstraintSet, Query
from matching.core.index import N_PAIR_COLUMNS, SchoolIndex, language_bits, readiness
from matching.core.ranker import Ranker
from matching.errors import DuplicateSchoolError, UnknownSchoolError
from tests.support.factories import language_cover, varied_profile, varied_registry


@pytest.fixture(scope="module")
def vectorizer() -> SchoolVectorizer:
    return SchoolVectorizer(encoder=HashingEncoder(32), progress=False).fit(language_cover())


def rankings(index: SchoolIndex, queries: list[str], k: int = 8) -> dict[str, tuple[list[str], np.ndarray]]:
    ranker = Ranker(index)
    out = {}
    for q in queries:
        r = ranker.suggest(q, k=k, diversity="none")
        out[q] = (list(r.ids), r.scores)
    return out


def scores_by_id(index: SchoolIndex, query: str) -> dict[str, tuple[float, bool]]:
    scores, mask = Ranker(index).score_all(query)
    return {
        sid: (float(scores[row]), bool(mask[row]))
        for row, sid in enumerate(index.cols().ids)
        if index.cols().present[row]
    }


# ---------------------------------------------------------------- lookup and layout


def test_ids_rows_and_profiles(vectorizer: SchoolVectorizer) -> None:
    profiles = varied_registry(30, 1)
    index = SchoolIndex(vectorizer, profiles)
    assert len(index) == index.n_rows == 30
    assert index.ids == [p.school_id for p in profiles]
    for row, p in enumerate(profiles):
        assert index.row(p.school_id) == row
        assert index.profile(p.school_id) is p
        assert p.school_id in index
    np.testing.assert_array_equal(index.rows([profiles[5].school_id, profiles[2].school_id]), [5, 2])
    assert "nope" not in index


@pytest.mark.parametrize("call", ["row", "profile", "remove", "rows"])
def test_unknown_id_raises_unknown_school_error(vectorizer: SchoolVectorizer, call: str) -> None:
    index = SchoolIndex(vectorizer, varied_registry(5, 2))
    with pytest.raises(UnknownSchoolError) as info:
        getattr(index, call)(["zz-9"] if call == "rows" else "zz-9")
    assert "unknown school_id 'zz-9'" in str(info.value)
    assert isinstance(info.value, KeyError)


def test_matrix_holds_features_then_the_pair_columns(vectorizer: SchoolVectorizer) -> None:
    from matching.core.columns import PAIR_SLICES

    profiles = varied_registry(25, 3)
    index = SchoolIndex(vectorizer, profiles)
    d = index.n_features
    assert index.matrix.shape[1] == d + N_PAIR_COLUMNS
    np.testing.assert_allclose(index.X, vectorizer.transform(profiles), atol=1e-6)
    at = {name: slice(d + s.start, d + s.stop) for name, s in PAIR_SLICES.items()}
    for row, p in enumerate(profiles):
        want = np.array(p.skills_want.as_tuple())
        np.testing.assert_allclose(index.matrix[row, at["offer"]], p.skills_offer.as_tuple(), atol=1e-6)
        np.testing.assert_allclose(index.matrix[row, at["offer_shared"]], p.skills_offer.as_tuple(), atol=1e-6)
        share = want / want.sum() if want.sum() else want
        np.testing.assert_allclose(index.matrix[row, at["want_share"]], share, atol=1e-6)
        assert index.matrix[row, at["readiness"]][0] == pytest.approx(readiness(p))
        assert index.matrix[row, at["ages"]].sum() == p.age_max - p.age_min + 1
        assert index.matrix[row, at["is_uk"]][0] == float(p.is_uk)
    fm = index.features()
    assert list(fm.ids) == index.ids and fm.blocks == index.blocks


@pytest.mark.parametrize(
    ("isa", "credits", "expected"),
    [("none", 0, 0.0), ("full", 150, 1.0), ("full", 0, 0.5), ("none", 150, 0.5), ("intermediate", 90, 2 / 6 + 0.25)],
)
def test_readiness_half_isa_half_cpd_badge(isa: str, credits: int, expected: float) -> None:
    p = varied_registry(1, 0)[0].model_copy(update={"isa_status": isa, "staff_cpd_credits": credits})
    assert readiness(p) == pytest.approx(expected)


def test_language_bits_are_a_set() -> None:
    en, ar, both = language_bits(["en"]), language_bits(["ar"]), language_bits(["en", "ar"])
    assert not (en & ar).any()
    np.testing.assert_array_equal(en | ar, both)
    assert not language_bits([]).any()


def test_columns_mirror_profiles(vectorizer: SchoolVectorizer) -> None:
    profiles = varied_registry(40, 4)
    cols = SchoolIndex(vectorizer, profiles).cols()
    for row, p in enumerate(profiles):
        assert cols.is_uk[row] == (p.country == "GB")
        assert cols.country[row] == p.country
        assert vocab.PHASES[cols.phase[row]] == p.phase
        assert (cols.age_min[row], cols.age_max[row]) == (p.age_min, p.age_max)
        assert cols.free_capacity[row] == p.free_capacity
        assert cols.active[row] == p.active
        assert cols.tz_offset[row].tolist() == pytest.approx(vocab.term_offsets(p.timezone))
        assert cols.partners[row] == frozenset(p.current_partners)


# ---------------------------------------------------------------- changes


def test_duplicate_add_is_rejected_and_nothing_is_half_added(vectorizer: SchoolVectorizer) -> None:
    profiles = varied_registry(20, 5)
    index = SchoolIndex(vectorizer, profiles[:10])
    before = (index.version, index.n_rows, index.ids, index.matrix[: index.n_rows].copy())
    with pytest.raises(DuplicateSchoolError, match="already in the registry"):
        index.add([*profiles[10:15], profiles[3]])
    with pytest.raises(DuplicateSchoolError):
        index.add([profiles[12], profiles[12]])
    assert (index.version, index.n_rows, index.ids) == before[:3]
    np.testing.assert_array_equal(index.matrix[: index.n_rows], before[3])


def test_remove_leaves_tombstone_until_compact(vectorizer: SchoolVectorizer) -> None:
    profiles = varied_registry(12, 6)
    index = SchoolIndex(vectorizer, profiles)
    index.remove(profiles[4].school_id)
    assert len(index) == 11 and index.n_rows == 12
    assert profiles[4].school_id not in index and profiles[4].school_id not in index.ids
    assert not index.cols().present[4]
    index.compact()
    assert len(index) == index.n_rows == 11
    assert index.ids == [p.school_id for p in profiles if p is not profiles[4]]
    assert index.row(profiles[5].school_id) == 4


def test_compact_keeps_version_increasing(vectorizer: SchoolVectorizer) -> None:
    """Regression: compact() reset ``version`` to 1, so a cache keyed by version could serve stale results."""
    profiles = varied_registry(10, 7)
    index = SchoolIndex(vectorizer, profiles[:6])
    seen = [index.version]
    index.add(profiles[6:8])
    seen.append(index.version)
    index.update(profiles[0].model_copy(update={"capacity": 0}))
    seen.append(index.version)
    index.remove(profiles[1].school_id)
    seen.append(index.version)
    index.upsert(profiles[8])
    seen.append(index.version)
    index.compact()
    seen.append(index.version)
    index.compact()
    seen.append(index.version)
    assert seen == sorted(set(seen)), seen


def test_update_changes_links_and_constraints(vectorizer: SchoolVectorizer) -> None:
    profiles = varied_registry(30, 8)
    index = SchoolIndex(vectorizer, profiles)
    a, b = profiles[0], profiles[1]
    linked = a.model_copy(update={"current_partners": (b.school_id,), "excluded": ()})
    index.update(linked)
    assert index.row(a.school_id) in index.partner_of[b.school_id]
    query = Query.registered(index, [index.row(b.school_id)])
    assert not ConstraintSet().allowed(index, query)[0, index.row(a.school_id)]  # b sees a as its partner
    index.update(linked.model_copy(update={"current_partners": ()}))
    assert index.row(a.school_id) not in index.partner_of.get(b.school_id, set())


def test_update_reencodes_only_a_changed_description(vectorizer: SchoolVectorizer) -> None:
    encoder = CachedEncoder(HashingEncoder(32))
    vec = SchoolVectorizer(encoder=encoder, progress=False).fit(language_cover())
    profiles = varied_registry(20, 9)
    index = SchoolIndex(vec, profiles)
    count = encoder.encoded_count
    index.update(profiles[3].model_copy(update={"capacity": 3}))
    assert encoder.encoded_count == count
    index.update(profiles[3].model_copy(update={"description": "an entirely new exchange on rivers"}))
    assert encoder.encoded_count == count + 1


class CountingVectorizer(SchoolVectorizer):
    """Records the blocks it computes, one entry per call."""

    computed: ClassVar[list[tuple[str, ...]]] = []

    def transform(self, schools):  # type: ignore[no-untyped-def]
        type(self).computed.append(BLOCKS)
        return super().transform(schools)

    def transform_blocks(self, schools, names):  # type: ignore[no-untyped-def]
        type(self).computed.append(tuple(names))
        return super().transform_blocks(schools, names)


@pytest.mark.parametrize(
    ("field", "value", "blocks"),
    [
        ("description", "an entirely new exchange on rivers", ("themes",)),
        ("themes", ("sdg6_clean_water_and_sanitation",), ("themes",)),
        ("languages", ("en", "fr", "sw"), ("country",)),
        ("timezone", "Africa/Nairobi", ("country",)),
        ("country", "KE", ("country",)),
        ("phase", "secondary", ("phase",)),
        ("age_max", 18, ("phase",)),
        ("isa_status", "full", ()),
        ("staff_cpd_credits", 500, ()),
        ("skills_offer", {"creativity": 1.0}, ("skills",)),
        ("skills_want", {"collaboration": 0.9}, ("skills",)),
    ],
)
def test_an_update_recomputes_only_the_parts_whose_inputs_changed(
    field: str, value: object, blocks: tuple[str, ...]
) -> None:
    vec = CountingVectorizer(encoder=HashingEncoder(32), progress=False).fit(language_cover())
    profiles = varied_registry(20, 9)
    index = SchoolIndex(vec, profiles)
    base = next(p for p in profiles if getattr(p, field) != value and p.age_min <= 11 and p.country != "GB")
    CountingVectorizer.computed.clear()
    same = base.model_copy(update={"capacity": base.capacity + 1, "name": "Renamed school"})
    np.testing.assert_array_equal(index.vectorize([same])[0], index.matrix[index.row(same.school_id)])
    assert CountingVectorizer.computed == []  # nothing computed: the row was reused
    changed = SchoolProfile.model_validate({**base.model_dump(), field: value})
    got = index.vectorize([changed])[0]
    assert CountingVectorizer.computed == ([blocks] if blocks else [])
    fresh = SchoolIndex(vec, [changed]).matrix[0]  # a fresh build of the changed profile alone
    np.testing.assert_array_equal(got, fresh)
    assert not np.array_equal(got, index.matrix[index.row(changed.school_id)]), field


def test_a_batch_of_updates_recomputes_each_part_once_for_the_rows_that_need_it() -> None:
    vec = CountingVectorizer(encoder=HashingEncoder(32), progress=False).fit(language_cover())
    profiles = varied_registry(30, 4)
    index = SchoolIndex(vec, profiles)
    newcomer = varied_registry(31, 5)[-1].model_copy(update={"school_id": "newcomer"})
    batch = [
        profiles[0].model_copy(update={"description": "rivers and wells"}),
        profiles[1].model_copy(update={"capacity": profiles[1].capacity + 2}),
        profiles[2].model_copy(update={"description": "a school garden", "isa_status": "full"}),
        profiles[3].model_copy(update={"description": "coding clubs"}),
        newcomer,
    ]
    CountingVectorizer.computed.clear()
    got = index.vectorize(batch)
    assert sorted(CountingVectorizer.computed) == [BLOCKS, ("themes",), ("themes",)]  # the newcomer; two groups
    fresh = SchoolIndex(vec, batch).matrix[: len(batch)]
    np.testing.assert_array_equal(got, fresh)


def test_growth_one_school_at_a_time(vectorizer: SchoolVectorizer) -> None:
    profiles = varied_registry(60, 10)
    grown = SchoolIndex(vectorizer)
    assert len(grown) == 0
    for p in profiles:
        grown.add([p])
    fresh = SchoolIndex(vectorizer, profiles)
    np.testing.assert_allclose(grown.matrix[: grown.n_rows], fresh.matrix[: fresh.n_rows], atol=1e-6)
    assert grown.ids == fresh.ids


@pytest.mark.parametrize("seed", [11, 12])
def test_incremental_changes_rank_like_a_fresh_build(vectorizer: SchoolVectorizer, seed: int) -> None:
    rng = random.Random(seed)
    profiles = varied_registry(90, seed)
    ids = [p.school_id for p in profiles]
    index = SchoolIndex(vectorizer, profiles[:50])
    current = {p.school_id: p for p in profiles[:50]}
    pending = list(profiles[50:])
    removed: list[SchoolProfile] = []
    for step in range(80):
        op = rng.choice(["add", "update", "remove", "upsert", "readd"] + (["compact"] if step % 20 == 19 else []))
        if op == "add" and pending:
            batch, pending = pending[:3], pending[3:]
            index.add(batch)
            current.update((p.school_id, p) for p in batch)
        elif op == "update" and current:
            sid = rng.choice(sorted(current))
            new = varied_profile(rng, sid, ids)
            index.update(new)
            current[sid] = new
        elif op == "remove" and len(current) > 20:
            sid = rng.choice(sorted(current))
            index.remove(sid)
            removed.append(current.pop(sid))
        elif op == "readd" and removed:
            back = removed.pop(0)
            index.add([back])
            current[back.school_id] = back
        elif op == "upsert":
            sid = rng.choice(ids)
            new = varied_profile(rng, sid, ids)
            index.upsert(new)
            current[sid] = new
            pending = [p for p in pending if p.school_id != sid]
            removed = [p for p in removed if p.school_id != sid]
        elif op == "compact":
            index.compact()
    present = index.present_profiles()
    assert {p.school_id for p in present} == set(current)
    assert all(current[p.school_id] == p for p in present)
    queries = sorted(current)[:25]
    # same profiles, same row order, same vectorizer: the same rankings and allowed pairs
    fresh = SchoolIndex(vectorizer, present)
    _same(index, fresh, queries)
    for q in queries:
        ours, theirs = scores_by_id(index, q), scores_by_id(fresh, q)
        assert {s: a for s, (_, a) in ours.items()} == {s: a for s, (_, a) in theirs.items()}
    # compacted, and rebuilt from scratch with a refitted vectorizer: the same scores and allowed pairs
    index.compact()
    rebuilt = SchoolIndex.build([*language_cover(), *present], HashingEncoder(32), progress=False)
    for sid in [p.school_id for p in language_cover()]:
        rebuilt.remove(sid)
    for q in queries:
        ours, theirs = scores_by_id(index, q), scores_by_id(rebuilt, q)
        assert ours.keys() == theirs.keys()
        for sid, (score, allowed) in ours.items():
            assert allowed == theirs[sid][1]
            assert score == pytest.approx(theirs[sid][0], abs=1e-5)
    _same(index, rebuilt, queries)


def _same(a: SchoolIndex, b: SchoolIndex, queries: list[str]) -> None:
    ra, rb = rankings(a, queries), rankings(b, queries)
    for q in queries:
        (ids_a, sc_a), (ids_b, sc_b) = ra[q], rb[q]
        np.testing.assert_allclose(sc_a, sc_b, atol=1e-5)
        for pos, (x, y) in enumerate(zip(ids_a, ids_b, strict=True)):
            # ids agree except where two candidates tie (rows encoded one by one or in a batch differ by ~1e-8)
            assert x == y or abs(sc_a[pos] - sc_b[pos]) < 1e-5, (q, pos, x, y)
        assert sorted(ids_a[: _untied(sc_a)]) == sorted(ids_b[: _untied(sc_b)])


def _untied(scores: np.ndarray) -> int:
    """How many leading scores are separated from the last one by more than float noise."""
    return int(np.sum(scores > scores[-1] + 1e-5)) if len(scores) else 0


def test_suggestions_never_include_removed_schools(vectorizer: SchoolVectorizer) -> None:
    profiles = varied_registry(80, 13)
    index = SchoolIndex(vectorizer, profiles)
    ranker = Ranker(index)
    query = max(profiles, key=lambda p: int(ranker.score_all(p.school_id)[1].sum())).school_id
    before = ranker.suggest(query, k=10, diversity="none")
    top = list(before.ids)
    assert len(top) >= 3
    for sid in top[:3]:
        index.remove(sid)
    after = ranker.suggest(query, k=10, diversity="none")
    assert not set(top[:3]) & set(after.ids)
    assert after.n_allowed == before.n_allowed - 3
    with pytest.raises(UnknownSchoolError):
        ranker.suggest(top[0])


@pytest.mark.parametrize("n", [1, 10, 17, 40])
def test_ids_when_arrays_have_spare_capacity(vectorizer: SchoolVectorizer, n: int) -> None:
    """Regression: ``SchoolIndex.ids`` raised "zip() argument 2 is longer" whenever the arrays had grown
    past the rows in use (an index of 10 schools holds 16 rows)."""
    profiles = varied_registry(n, 15)
    index = SchoolIndex(vectorizer, profiles)
    assert len(index.columns.present) >= n
    assert index.ids == [p.school_id for p in profiles]
    index.remove(profiles[0].school_id)
    assert index.ids == [p.school_id for p in profiles[1:]]
