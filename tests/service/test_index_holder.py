"""The index holder: two copies from the start, each change vectorized once for both, failures recover."""

from __future__ import annotations

import random

import numpy as np
import pytest

from features.text import HashingEncoder
from features.vectorizer import SchoolVectorizer
from matching.core.index import SchoolIndex
from matching.core.ranker import Ranker
from matching.errors import UnknownSchoolError
from service.index_holder import IndexHolder, Snapshot
from tests.support.factories import language_cover, varied_profile, varied_registry


@pytest.fixture
def holder() -> IndexHolder:
    vectorizer = SchoolVectorizer(encoder=HashingEncoder(32), progress=False).fit(language_cover())
    index = SchoolIndex(vectorizer, varied_registry(40, 7))
    h = IndexHolder()
    h.swap(Snapshot(index, Ranker(index)))
    return h


def test_the_second_copy_exists_before_any_change(holder: IndexHolder) -> None:
    front, back = holder.indexes
    assert front is not back and front.matrix is not back.matrix and front.vectorizer is back.vectorizer
    np.testing.assert_array_equal(front.matrix[: front.n_rows], back.matrix[: back.n_rows])


def test_a_change_is_vectorized_once_for_both_copies(holder: IndexHolder, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = SchoolIndex.vectorize

    def counting(self: SchoolIndex, profiles):  # a spy: the real method, counted
        calls.append(len(profiles))
        return real(self, profiles)

    monkeypatch.setattr(SchoolIndex, "vectorize", counting)
    rng = random.Random(2)
    ids = holder.current.index.ids
    updated = varied_profile(rng, ids[0], ids)
    added = [varied_profile(rng, "fresh-1", ids), varied_profile(rng, "fresh-2", ids)]
    holder.apply(added=added, updated=[updated], removed=[ids[1]])
    assert calls == [3]  # one call, three profiles, not one per copy
    a, b = holder.indexes
    for index in (a, b):
        assert "fresh-2" in index and ids[1] not in index and index.profile(ids[0]) == updated
    np.testing.assert_array_equal(a.matrix[: a.n_rows], b.matrix[: b.n_rows])
    assert a.version == b.version


def test_a_refused_change_leaves_the_current_copy_serving(holder: IndexHolder) -> None:
    ids = holder.current.index.ids
    ghost = varied_profile(random.Random(3), "not-registered", ids)
    with pytest.raises(UnknownSchoolError):
        holder.apply(updated=[ghost])
    with holder.read() as snap:  # readers still get a complete copy
        assert len(snap.index) == 40 and "not-registered" not in snap.index
    changed = holder.current.index.profile(ids[2]).model_copy(update={"name": "Renamed School"})
    holder.apply(updated=[changed])  # the next change re-copies what was dropped and applies cleanly
    assert len(holder.indexes) == 2
    assert all(i.profile(ids[2]).name == "Renamed School" for i in holder.indexes)
