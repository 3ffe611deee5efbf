"""Two server processes on one database (``serve --workers 2``): each replays the other's writes
(``Registry.sync`` over the change log), and a batch job can be cancelled from either."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.app import create_app
from tests.support.api import WRITE, finished_job, good_query_school, make_settings, registry_records, seed
from tests.support.polling import eventually


def test_writes_in_one_process_reach_the_other(tmp_path):
    records = registry_records(90, seed=8)
    settings = make_settings(tmp_path, workers=2, sync_interval=0)  # syncs driven by hand below
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        seed(a, records)
        registry_b = b.app.state.registry
        assert b.get("/ready").json()["schools"] == 0
        assert registry_b.sync() == len(records)
        sid = good_query_school(b, records, k=3)
        assert a.get(f"/schools/{sid}/suggestions").json() == b.get(f"/schools/{sid}/suggestions").json()

        a.patch(f"/schools/{sid}", json={"capacity": 6}, headers=WRITE)
        top = a.get(f"/schools/{sid}/suggestions").json()["suggestions"][0]["school_id"]
        assert a.post("/partnerships", json={"school_a": sid, "school_b": top}, headers=WRITE).status_code == 201
        victim = next(r["school_id"] for r in records if r["school_id"] not in (sid, top))
        assert a.delete(f"/schools/{victim}", headers=WRITE).status_code == 204
        encoded = registry_b.encoder.cached.encoded_count
        assert registry_b.sync() >= 3
        assert registry_b.encoder.cached.encoded_count == encoded  # texts come from the shared cache
        assert registry_b.sync() == 0  # idempotent
        assert b.get(f"/schools/{victim}").status_code == 404
        assert top in b.get(f"/schools/{sid}").json()["current_partners"]
        assert a.get(f"/schools/{sid}/suggestions").json() == b.get(f"/schools/{sid}/suggestions").json()
        assert registry_b.sync() == 0 and a.app.state.registry.sync() == 0  # a's own writes are already in a


def test_background_sync_and_cross_process_cancel(tmp_path):
    records = registry_records(90, seed=9)
    settings = make_settings(tmp_path, workers=2, sync_interval=0.05)
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        seed(a, records)
        eventually(lambda: b.get("/ready").json()["schools"] == len(records), 10, what="the background sync")
        with a.app.state.registry.lock.write():  # a's job waits for its snapshot
            job = a.post("/batch", json={"options": {"top_k": 5}}, headers=WRITE).json()["id"]
            r = b.post(f"/batch/{job}/cancel", headers=WRITE)  # b does not run it: it sets the flag
            assert r.status_code == 200
        assert finished_job(b, job, timeout=20)["status"] == "cancelled"


def test_a_process_never_replays_its_own_writes(tmp_path):
    settings = make_settings(tmp_path, sync_interval=0)
    with TestClient(create_app(settings)) as c:
        seed(c, registry_records(40, seed=1))
        registry = c.app.state.registry
        version = registry.index.version
        assert registry.sync() == 0 and registry.index.version == version  # nothing re-read or re-applied
        assert registry.applied_seq >= 40
