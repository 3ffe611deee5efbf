"""Per-row caches that follow in-place updates (``SchoolIndex.updated_rows_since``): after any mix of changes the
scorer's cached rows (who states a wish, each row's priority factor) equal a fresh computation, and a read after
an update recomputes only the rows it changed."""

from __future__ import annotations

import random

import numpy as np
import pytest

from features import vocab
from matching.core.config import RankerConfig
from matching.core.index import UPDATE_LOG, SchoolIndex
from matching.core.ranker import Ranker
from matching.core.scoring import Demand, Scorer
from tests.support.factories import hashing_index, varied_registry


def _config(countries: list[str], priorities: bool) -> RankerConfig:
    data: dict = {"exposure": {"prior": 0.1}}
    if priorities:
        data["priorities"] = {"countries": {countries[0]: 2.0, countries[1]: 0.5}}
    return RankerConfig.model_validate(data)


def _change(rng: random.Random, index: SchoolIndex, spare: list, countries: list[str]) -> str:
    """One random change: mostly in-place updates (wishes, country, capacity), sometimes an add or a remove."""
    live = index.present_profiles()
    p = rng.choice(live)
    u = rng.random()
    if u < 0.25:
        wish = () if p.preferred_countries else (rng.choice(countries),)
        index.update(p.model_copy(update={"preferred_countries": wish}))
        return "update"
    if u < 0.45:
        index.update(p.model_copy(update={"country": rng.choice(countries)}))
        return "update"
    if u < 0.7:
        index.update(p.model_copy(update={"capacity": rng.randint(0, 4), "kinds_of_work": ()}))
        return "update"
    if u < 0.85 and spare:
        index.add([spare.pop()])
        return "add"
    if len(live) > 10:
        index.remove(p.school_id)
        return "remove"
    return "none"


@pytest.mark.parametrize("priorities", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cached_rows_after_any_changes_equal_a_fresh_computation(seed: int, priorities: bool) -> None:
    profiles = varied_registry(70, seed)
    index = hashing_index(profiles[:55])
    spare = profiles[55:]
    countries = sorted({p.country for p in profiles} | {vocab.UK})
    config = _config(countries, priorities)
    ranker = Ranker(index, config)
    ranker.fit_exposure()
    scorer = ranker.scorer
    scorer.demand = Demand({profiles[1].school_id: 0.5, profiles[2].school_id: 0.25})
    rng = random.Random(seed)
    kinds = set()
    for _ in range(60):
        kinds.add(_change(rng, index, spare, countries))
        fresh = Scorer(index, config)
        fresh.shown, fresh.demand = scorer.shown, scorer.demand
        np.testing.assert_array_equal(scorer.wishers(), fresh.wishers())
        assert scorer.any_wisher() == fresh.any_wisher()
        np.testing.assert_array_equal(scorer.priority(), fresh.priority())
    assert {"update", "add", "remove"} <= kinds


def test_updated_rows_since_lists_in_place_updates_only_while_no_row_came_or_went() -> None:
    profiles = varied_registry(30, 5)
    index = hashing_index(profiles[:20])
    v0 = index.version
    assert index.updated_rows_since(v0) == []
    a, b = index.present_profiles()[3], index.present_profiles()[7]
    index.update(a.model_copy(update={"capacity": a.capacity + 1}))
    v1 = index.version
    index.update(b.model_copy(update={"capacity": b.capacity + 1}))
    assert index.updated_rows_since(v0) == [index.row(a.school_id), index.row(b.school_id)]
    assert index.updated_rows_since(v1) == [index.row(b.school_id)]
    index.add([profiles[20]])
    assert index.updated_rows_since(v1) is None  # a row came: whole caches rebuild
    v2 = index.version
    index.remove(profiles[0].school_id)
    assert index.updated_rows_since(v2) is None
    v3 = index.version
    for i in range(2 * UPDATE_LOG + 1):
        p = index.present_profiles()[i % 10]
        index.update(p.model_copy(update={"capacity": i % 5}))
    assert index.updated_rows_since(v3) is None  # older than the record of updates
    assert index.updated_rows_since(index.version - 3) is not None
    twin = index.copy()
    index.update(profiles[5].model_copy(update={"capacity": 9}))
    assert twin.updated_rows_since(twin.version) == [] and twin.version == index.version - 1  # copies keep their own


def test_a_read_after_an_update_recomputes_only_the_changed_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    import matching.core.scoring as scoring

    index = hashing_index(varied_registry(40, 8))
    scorer = Scorer(index, RankerConfig())
    scorer.wishers()
    sizes: list[int] = []
    real = scoring.has_wishes
    monkeypatch.setattr(scoring, "has_wishes", lambda cols: sizes.append(len(cols)) or real(cols))
    p = index.present_profiles()[4]
    index.update(p.model_copy(update={"preferred_countries": ("FR",)}))
    assert scorer.wishers()[index.row(p.school_id)]
    assert sizes == [1]
