"""Demand factors (``Scorer.demand``): schools shown less by a factor set from outside the index (the service's
exposure cap), with the bounded search still exact, the contributions adding up and a reason line."""

from __future__ import annotations

import numpy as np
import pytest

from features.text import HashingEncoder
from features.vectorizer import SchoolVectorizer
from matching.core.config import Exposure, RankerConfig
from matching.core.index import SchoolIndex
from matching.core.ranker import Ranker
from matching.core.scoring import Demand
from matching.errors import ConfigError
from tests.support.factories import language_cover, make_registry


@pytest.fixture(scope="module")
def index() -> SchoolIndex:
    vectorizer = SchoolVectorizer(encoder=HashingEncoder(32), progress=False).fit(language_cover())
    return SchoolIndex(vectorizer, make_registry(400, seed=13))


def rankers(index: SchoolIndex, demand: Demand, prior: float = 0.0) -> tuple[Ranker, Ranker]:
    out = []
    for search in ("exact", "bounded"):
        r = Ranker(index, RankerConfig(search=search, exposure=Exposure(prior=prior)))  # type: ignore[arg-type]
        r.scorer.demand = demand
        out.append(r)
    return out[0], out[1]


@pytest.mark.parametrize("prior", [0.0, 0.1])
def test_demand_lowers_the_busy_schools_and_the_bounded_search_stays_exact(index: SchoolIndex, prior: float) -> None:
    asker = next(p.school_id for p in index.present_profiles() if p.is_uk)
    plain_exact, _ = rankers(index, Demand(), prior)
    before = plain_exact.suggest(asker, k=10, diversity="none")
    busy = [str(s) for s in before.ids[:3]]
    demand = Demand({sid: 0.5 for sid in busy}, "many unanswered partnership requests: shown less")
    exact, bounded = rankers(index, demand, prior)
    e, b = exact.suggest(asker, k=10, diversity="none"), bounded.suggest(asker, k=10, diversity="none")
    assert list(e.ids) == list(b.ids) and np.allclose(e.scores, b.scores, atol=1e-6)
    assert not set(busy) & set(e.ids[:3])  # halved: no longer on top
    np.testing.assert_allclose(e.contributions.sum(axis=1), e.scores, atol=1e-5)
    notes = {str(sid): r.sentences()[-1] for sid, r in zip(e.ids, e.reasons, strict=True)}
    for sid, last in notes.items():
        assert (last == "Many unanswered partnership requests: shown less") == (sid in busy)
    for sid in busy:
        x0, x1 = plain_exact.explain(asker, sid), exact.explain(asker, sid)
        assert x1.score == pytest.approx(0.5 * x0.score, rel=1e-5, abs=1e-6)
        assert x1.reasons.as_dict(extended=True)["shown_less"] == demand.note


def test_demand_factors_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"demand factors \{'a': 0\.0\} must be in \(0, 1\]"):
        Demand({"a": 0.0})
    assert Demand({"a": 0.5}).factor("b") == 1.0
