"""The batch scores wishes and priorities as the ranker's Scorer does: the wishes term (schools stating
preferred countries, regions, phases) and each candidate's priority factor (``config.priorities``), in the
dense scores, the candidate graph (both bounds paths) and the pricing; the certified answer stays the dense
optimum."""

from __future__ import annotations

import numpy as np
import pytest

from matching.batch import AssignmentOptions, assign
from matching.batch.encode import encode
from matching.core.config import RankerConfig
from tests.support.factories import cohort
from tests.support.factories import hashing_index as build


def _index(seed: int, n_uk: int = 40, n_ab: int = 40):
    """A cohort where a third of the schools state wishes (countries abroad, or the UK)."""
    profiles = cohort(n_uk, n_ab, seed)
    countries = sorted({p.country for p in profiles if not p.school_id.startswith("uk")})
    rng = np.random.default_rng(seed)
    out = []
    for i, p in enumerate(profiles):
        if i % 3 == 0:
            wish = ("GB",) if not p.school_id.startswith("uk") else tuple(rng.choice(countries, 2, replace=False))
            p = p.model_copy(update={"preferred_countries": wish})
        out.append(p)
    return build(out), countries


def _config(countries: list[str]) -> RankerConfig:
    weights = {countries[0]: 2.0, countries[1]: 0.5}
    if len(countries) > 2:
        weights[countries[2]] = 0.0
    return RankerConfig.model_validate({"priorities": {"countries": weights}})


def _run(index, config, **options):
    return assign(index, config, options=AssignmentOptions(progress=False, explain=False, **options))


@pytest.mark.parametrize("seed", [0, 3])
def test_pair_scores_equal_the_scorers_with_wishes_and_priorities(seed) -> None:
    index, countries = _index(seed)
    config = _config(countries)
    p = encode(index, config, None, AssignmentOptions(progress=False))
    assert not p.pairs.plain and p.pairs.wish_weight > 0
    dense = p.pairs.scores(p.uk_rows)
    uu, vv = np.meshgrid(np.arange(len(p.uk_rows)), np.arange(len(p.ab_rows)), indexing="ij")
    want = p.scorer.pair_scores(p.uk_rows[uu.ravel()], p.ab_rows[vv.ravel()]).reshape(dense.shape)
    np.testing.assert_allclose(dense, want, atol=1e-5)
    # the terms matter here: neither is a no-op
    plain = encode(index, RankerConfig(), None, AssignmentOptions(progress=False)).pairs.scores(p.uk_rows)
    assert np.abs(plain - dense).max() > 0.05
    for pruned in (False, True):
        a = _run(index, config, top_k=3, certify=False, pruned=pruned)
        g = a.context.graph
        np.testing.assert_allclose(g.score, p.scorer.pair_scores(g.uk_rows[g.src], g.intl_rows[g.dst]), atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("pruned", [False, True])
def test_certified_answer_with_wishes_and_priorities_equals_the_dense_optimum(seed, pruned) -> None:
    index, countries = _index(seed)
    config = _config(countries)
    dense = _run(index, config, top_k=index.n_rows, certify=False, capacity=2)
    for top_k in (1, 3):
        certified = _run(index, config, top_k=top_k, capacity=2, pruned=pruned)
        d, e = certified.diagnostics, dense.diagnostics
        assert d.certified, d.certificate_note
        assert d.objective["covered_units"] == e.objective["covered_units"]
        assert d.total_score == pytest.approx(e.total_score, abs=1e-4)


def test_priorities_move_the_country_mix_and_the_summary_shows_it() -> None:
    index, countries = _index(5, 60, 60)
    config = _config(countries)
    before = _run(index, RankerConfig(), capacity=2)
    after = _run(index, config, capacity=2)
    mix_before = before.diagnostics.partnerships_per_country
    mix_after = after.diagnostics.partnerships_per_country
    assert mix_after.get(countries[0], 0) >= mix_before.get(countries[0], 0)
    assert mix_after != mix_before
    lines = after.summary()
    assert any(line.startswith("priorities:") and f"{countries[0]} x2" in line for line in lines)
    d = after.diagnostics
    assert d.priority_weights == {countries[0]: 2.0, countries[1]: 0.5, countries[2]: 0.0}
    plain_mix = d.partnerships_per_country_without_priorities  # the same graph, scored without priorities
    assert plain_mix.get(countries[0], 0) <= mix_after.get(countries[0], 0)
    assert plain_mix.get(countries[2], 0) >= mix_after.get(countries[2], 0)
    assert plain_mix != mix_after
    sheet = after.summary_frame()
    assert (sheet["figure"] == f"priority of {countries[0]}").any()
    assert not before.diagnostics.priority_weights
    assert not any(line.startswith("priorities:") for line in before.summary())
