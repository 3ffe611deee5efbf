"""The popularity prior across index snapshots (issue 16 item 4): fitted when a snapshot is built (off the request
path), shared by its second copy and kept while changes are applied; demand factors applied like a change."""

from __future__ import annotations

import numpy as np
import pytest

from features.text import CachedEncoder, HashingEncoder
from matching.core.config import Exposure, RankerConfig
from matching.core.scoring import Demand
from service.encoder import ServiceEncoder
from service.index_holder import IndexHolder, build_snapshot, clone_snapshot
from tests.support.factories import make_registry


@pytest.fixture(scope="module")
def profiles():
    return make_registry(120, seed=5)


def snapshot_of(profiles, prior: float):
    encoder = ServiceEncoder(CachedEncoder(HashingEncoder(16)), threads=1)
    config = RankerConfig(exposure=Exposure(prior=prior))
    return build_snapshot(profiles[:100], sorted({lang for p in profiles for lang in p.languages}), encoder, config)


def test_build_fits_the_prior_and_the_clone_shares_it(profiles):
    snap = snapshot_of(profiles, 0.1)
    shown = snap.ranker.scorer.shown
    assert shown is not None and shown.sum() > 0  # fitted at build, not by the first request
    clone = clone_snapshot(snap)
    assert clone.index is not snap.index and clone.ranker.scorer.shown is shown
    a = snap.ranker.suggest(profiles[0].school_id, k=5)
    b = clone.ranker.suggest(profiles[0].school_id, k=5)
    assert list(a.ids) == list(b.ids) and np.allclose(a.scores, b.scores)
    assert clone.ranker.scorer.shown is shown  # ranking did not refit it


def test_no_prior_nothing_fitted(profiles):
    assert snapshot_of(profiles, 0.0).ranker.scorer.shown is None


def test_changes_keep_the_counts_and_new_schools_count_zero(profiles):
    holder = IndexHolder()
    holder.swap(snapshot_of(profiles, 0.1))
    shown = holder.current.ranker.scorer.shown
    new = profiles[100:103]
    holder.apply(added=new, removed=[profiles[1].school_id])
    holder.apply(updated=[profiles[2].model_copy(update={"name": "Renamed"})])
    for index in holder.indexes:
        assert len(index) == 102
    with holder.read() as snap:
        assert snap.ranker.scorer.shown is shown  # never refitted on a change
        priority = snap.ranker.scorer.priority()
        rows = snap.index.rows([p.school_id for p in new])
        assert len(priority) == snap.index.n_rows and np.all(priority[rows] == 1.0)  # shown 0: factor 1
        busiest = int(np.argmax(shown))
        assert priority[busiest] < 1.0  # the popular school keeps its prior after the changes
        ranking = snap.ranker.suggest(profiles[0].school_id, k=5)
    assert 0 < len(ranking) <= ranking.n_allowed


def test_demand_is_applied_to_both_copies_and_kept_by_a_rebuild(profiles):
    holder = IndexHolder()
    holder.swap(snapshot_of(profiles, 0.0))
    sid = profiles[3].school_id
    demand = Demand({sid: 0.5}, "busy")
    holder.set_demand(demand)
    for index in holder.indexes:
        assert index is not None
    with holder.read() as snap:
        assert snap.ranker.scorer.demand is demand
        assert snap.ranker.scorer.priority()[snap.index.row(sid)] == pytest.approx(0.5)
        assert snap.ranker.explain(profiles[0].school_id, sid).reasons.sentences()[-1] == "Busy"
    holder.apply(updated=[profiles[4].model_copy(update={"name": "Renamed"})])  # swaps: the other copy now
    with holder.read() as snap:
        assert snap.ranker.scorer.demand is demand
    holder.swap(snapshot_of(profiles, 0.0))  # a rebuild
    assert holder.demand is demand
    with pytest.raises(Exception, match=r"must be in \(0, 1\]"):
        Demand({sid: 1.5})


def test_a_batch_job_with_the_prior_on_reuses_the_snapshots_counts(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from matching.core.ranker import Ranker
    from service.app import create_app
    from tests.support.api import WRITE, finished_job, make_settings, registry_records, seed

    config = RankerConfig(exposure=Exposure(prior=0.1)).save(tmp_path / "prior.json")
    with TestClient(create_app(make_settings(tmp_path, ranker_config=config))) as c:
        seed(c, registry_records(150, seed=11))
        registry = c.app.state.registry
        registry.load_index()  # a rebuild: the prior is fitted on the 150 schools
        assert registry.ranker.scorer.shown is not None and registry.ranker.scorer.shown.sum() > 0
        fits: list[int] = []
        fit = Ranker.fit_exposure
        monkeypatch.setattr(Ranker, "fit_exposure", lambda self, seed=0: fits.append(1) or fit(self, seed))
        job = c.post("/batch", json={"options": {"mode": "greedy"}}, headers=WRITE).json()
        done = finished_job(c, job["id"])
        assert done["status"] == "done", done
        assert c.get(f"/batch/{job['id']}/result", headers=WRITE).json()["partnerships"]
        assert fits == []  # the batch scored with the snapshot's fitted counts, not a refit
