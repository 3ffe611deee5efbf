"""SchoolIndex.copy (the service's second index copy), precomputed rows for add/update, the cols() cache."""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest

from features.text import HashingEncoder
from features.vectorizer import SchoolVectorizer
from matching.core.columns import ARRAY_FIELDS, LIST_FIELDS
from matching.core.config import RankerConfig
from matching.core.index import SchoolIndex
from matching.core.ranker import Ranker
from tests.support.factories import language_cover, varied_profile, varied_registry

BOUNDED = RankerConfig(search="bounded")  # the coarse first pass on any size: its copy is exercised too


@pytest.fixture(scope="module")
def vectorizer() -> SchoolVectorizer:
    return SchoolVectorizer(encoder=HashingEncoder(32), progress=False).fit(language_cover())


def state(index: SchoolIndex) -> dict[str, object]:
    """Everything a ranking reads, as plain values (arrays copied)."""
    cols = index.cols()
    coarse = index.coarse
    return {
        "matrix": index.matrix[: index.n_rows].copy(),
        **{f: getattr(cols, f).copy() for f in ARRAY_FIELDS},
        **{f: list(getattr(cols, f)) for f in LIST_FIELDS},
        "row_of": dict(index.row_of),
        "partner_of": {k: set(v) for k, v in index.partner_of.items() if v},
        "excluded_by": {k: set(v) for k, v in index.excluded_by.items() if v},
        "profiles": list(index.profiles),
        "coarse": None
        if coarse is None
        else [(s.data[:, : s.size].copy(), s.rows[: s.size].copy(), s.tz[: s.size].copy()) for s in coarse.segments],
    }


def assert_same(a: dict[str, object], b: dict[str, object]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if key == "coarse":
            assert (a[key] is None) == (b[key] is None), key
            for sa, sb in zip(a[key] or [], b[key] or [], strict=True):  # type: ignore[arg-type]
                for x, y in zip(sa, sb, strict=True):
                    np.testing.assert_array_equal(x, y, err_msg=key)
        elif isinstance(a[key], np.ndarray):
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)  # type: ignore[arg-type]
        else:
            assert a[key] == b[key], key


def rankings(index: SchoolIndex, queries: list[str]) -> list[tuple[list[str], list[float]]]:
    ranker = Ranker(index, BOUNDED)
    out = []
    for q in queries:
        r = ranker.suggest(q, k=8, diversity="none")
        out.append((list(r.ids), [round(float(s), 5) for s in r.scores]))
    return out


def changes(seed: int, ids: list[str], count: int) -> list[tuple[str, object]]:
    """A reproducible list of changes: ("update", profile), ("remove", id), ("add", [profiles])."""
    rng = random.Random(seed)
    present = list(ids)
    out: list[tuple[str, object]] = []
    fresh = 0
    for _ in range(count):
        op = rng.choice(["update", "update", "remove", "add"])
        if op == "update":
            out.append(("update", varied_profile(rng, rng.choice(present), ids)))
        elif op == "remove" and len(present) > 20:
            sid = present.pop(rng.randrange(len(present)))
            out.append(("remove", sid))
        else:
            new = [varied_profile(rng, f"new-{seed}-{fresh + i}", ids) for i in range(2)]
            fresh += 2
            present += [p.school_id for p in new]
            out.append(("add", new))
    return out


def apply(index: SchoolIndex, todo: list[tuple[str, object]], rows: list[np.ndarray] | None = None) -> list:
    """Apply changes; each change's rows are vectorized by ``index`` just before it (as the holder does on the
    front copy) and returned, or (``rows``: those of another copy) passed in."""
    used: list = []
    for i, (op, arg) in enumerate(todo):
        if op == "remove":
            index.remove(arg)  # type: ignore[arg-type]
            used.append(None)
            continue
        batch = [arg] if op == "update" else arg
        vectors = index.vectorize(batch) if rows is None else rows[i]  # type: ignore[arg-type]
        used.append(vectors)
        if op == "update":
            index.update(arg, vectors[0])  # type: ignore[arg-type]
        else:
            index.add(arg, vectors)  # type: ignore[arg-type]
    return used


@pytest.mark.parametrize("seed", [0, 1])
def test_a_copy_is_independent_and_takes_the_same_changes_alike(vectorizer: SchoolVectorizer, seed: int) -> None:
    profiles = varied_registry(60, seed)
    ids = [p.school_id for p in profiles]
    index = SchoolIndex(vectorizer, profiles)
    index.coarse_index(Ranker(index, BOUNDED).scorer.weights, min_rows=0)
    queries = ids[:12]
    before, ranked_before = state(index), rankings(index, queries)

    twin = index.copy()
    assert twin.vectorizer is index.vectorizer and twin.coarse is not index.coarse
    assert_same(state(twin), before)
    assert rankings(twin, queries) == ranked_before

    todo = changes(seed, ids, 25)
    rows = apply(twin, todo)
    assert_same(state(index), before)  # nothing of the original moved
    assert rankings(index, queries) == ranked_before
    assert twin.version > index.version

    apply(index, todo, rows)  # rows vectorized once by the other copy, as the holder does
    assert_same(state(index), state(twin))
    survivors = [q for q in queries if q in index]
    assert rankings(index, survivors) == rankings(twin, survivors)


def test_precomputed_rows_of_the_wrong_shape_are_refused(vectorizer: SchoolVectorizer) -> None:
    profiles = varied_registry(12, 3)
    index = SchoolIndex(vectorizer, profiles[:10])
    width = index.matrix.shape[1]
    with pytest.raises(ValueError, match=rf"expected \(2, {width}\)"):
        index.add(profiles[10:], np.zeros((1, width), np.float32))
    assert len(index) == 10 and profiles[10].school_id not in index  # nothing half-added
    with pytest.raises(ValueError, match=rf"expected \(1, {width}\)"):
        index.update(profiles[0], np.zeros(width + 1, np.float32))
    np.testing.assert_array_equal(index.matrix[0], index.vectorize([profiles[0]])[0])  # row untouched


def test_cols_are_made_once_per_version_and_follow_changes(vectorizer: SchoolVectorizer) -> None:
    profiles = varied_registry(20, 4)
    index = SchoolIndex(vectorizer, profiles)
    first = index.cols()
    assert index.cols() is first  # same version: the same views
    changed = profiles[0].model_copy(update={"capacity": profiles[0].capacity + 3})
    index.update(changed)
    now = index.cols()
    assert now is not first and now.free_capacity[0] == changed.free_capacity
    index.add([varied_profile(random.Random(1), "late-1", [])])
    assert len(index.cols().ids) == 21 and index.cols().ids[-1] == "late-1"


def test_deep_and_fast_copies_never_share_the_cols_views(vectorizer: SchoolVectorizer) -> None:
    index = SchoolIndex(vectorizer, varied_registry(15, 5))
    index.cols()  # cached views of the original's arrays
    for twin in (copy.deepcopy(index), index.copy()):
        cols = twin.cols()
        assert np.shares_memory(cols.free_capacity, twin.columns.free_capacity)
        assert not np.shares_memory(cols.free_capacity, index.columns.free_capacity)
