"""The database decides (issue 12): versions and If-Match, merges inside the transaction, invariants held by
the database even when the in-memory index of the process is stale, the change feed, read-your-writes.

Two apps on one database with ``sync_interval=0`` stand for two worker processes whose indexes lag behind
(the multi-process race suite with real servers is tests/service/test_store_races*.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy
from fastapi.testclient import TestClient

from service.app import create_app
from service.store import changes
from tests.support.api import WRITE, make_settings, registry_records, seed


@contextmanager
def two_workers(tmp_path, database_url: str, n: int = 40) -> Iterator[tuple[TestClient, TestClient, list[dict]]]:
    """Two apps on one database, neither syncing in the background; ``a`` seeded with ``n`` schools first."""
    records = registry_records(n, seed=11)
    for r in records:
        r.update(current_partners=[], capacity=3, active=True)
    settings = make_settings(tmp_path, workers=2, sync_interval=0, database_url=database_url)
    primary = make_settings(tmp_path, workers=1, sync_interval=0, database_url=database_url)
    with TestClient(create_app(primary)) as a:
        seed(a, records)
        with TestClient(create_app(settings)) as b:
            yield a, b, records


def pick(records: list[dict], uk: bool, skip: tuple[str, ...] = ()) -> str:
    return next(r["school_id"] for r in records if (r["country"] == "GB") == uk and r["school_id"] not in skip)


def test_etag_and_if_match(tmp_path, database_url):
    with TestClient(create_app(make_settings(tmp_path, database_url=database_url))) as c:
        records = registry_records(10, seed=2)
        seed(c, records)
        sid = records[0]["school_id"]
        r = c.get(f"/schools/{sid}")
        assert r.status_code == 200 and r.headers["ETag"] == '"1"'
        assert c.get(f"/schools/{sid}/private", headers=WRITE).headers["ETag"] == '"1"'

        r = c.patch(f"/schools/{sid}", json={"capacity": 5}, headers={**WRITE, "If-Match": '"1"'})
        assert r.status_code == 200 and r.headers["ETag"] == '"2"' and r.json()["capacity"] == 5
        stale = c.patch(f"/schools/{sid}", json={"capacity": 6}, headers={**WRITE, "If-Match": '"1"'})
        assert stale.status_code == 412 and stale.headers["ETag"] == '"2"'
        body = stale.json()
        assert "nothing was changed" in body["detail"] and body["errors"][0]["field"] == "If-Match"
        assert c.get(f"/schools/{sid}").json()["capacity"] == 5
        weak = c.patch(f"/schools/{sid}", json={"capacity": 6}, headers={**WRITE, "If-Match": 'W/"2"'})
        assert weak.status_code == 412  # If-Match compares strongly
        listed = c.patch(f"/schools/{sid}", json={"capacity": 6}, headers={**WRITE, "If-Match": '"7", "2"'})
        assert listed.status_code == 200 and listed.headers["ETag"] == '"3"'
        star = c.patch(f"/schools/{sid}", json={"capacity": 4}, headers={**WRITE, "If-Match": "*"})
        assert star.status_code == 200 and star.headers["ETag"] == '"4"'

        body = {k: v for k, v in records[0].items() if k != "school_id"}
        assert c.put(f"/schools/{sid}", json=body, headers={**WRITE, "If-Match": '"3"'}).status_code == 412
        r = c.put(f"/schools/{sid}", json=body, headers={**WRITE, "If-Match": '"4"'})
        assert r.status_code == 200 and r.headers["ETag"] == '"5"'
        assert c.put(f"/schools/{sid}", json=body, headers=WRITE).headers["ETag"] == '"6"'  # no If-Match: applies
        assert c.patch("/schools/nope", json={"capacity": 1}, headers={**WRITE, "If-Match": "*"}).status_code == 404
        new = {**records[1], "school_id": "new-school-1"}
        assert c.post("/schools", json=new, headers=WRITE).headers["ETag"] == '"1"'


def test_patches_of_different_fields_merge_in_the_database(tmp_path, database_url):
    """Worker b's index never saw a's change: its PATCH still keeps it (the merge reads the row)."""
    with two_workers(tmp_path, database_url) as (a, b, records):
        sid = records[0]["school_id"]
        assert a.patch(f"/schools/{sid}", json={"capacity": 7}, headers=WRITE).status_code == 200
        r = b.patch(f"/schools/{sid}", json={"description": "A school by the sea"}, headers=WRITE)
        assert r.status_code == 200, r.text
        assert r.json()["capacity"] == 7 and r.headers["ETag"] == '"3"'
        for client in (a, b):
            client.app.state.registry.sync()
            got = client.get(f"/schools/{sid}").json()
            assert got["capacity"] == 7 and got["description"] == "A school by the sea"


def test_invariants_hold_when_the_index_is_stale(tmp_path, database_url):
    with two_workers(tmp_path, database_url) as (a, b, records):
        abroad = pick(records, uk=False)
        uk1, uk2 = pick(records, uk=True), pick(records, uk=True, skip=(pick(records, uk=True),))
        # no false 404: b never synced, yet it sees a's new school (existence is read in the database)
        fresh = {**next(r for r in records if r["school_id"] == abroad), "school_id": "created-on-a"}
        assert a.post("/schools", json=fresh, headers=WRITE).status_code == 201
        r = b.post("/partnerships", json={"school_a": uk1, "school_b": "created-on-a"}, headers=WRITE)
        assert r.status_code == 201, r.text
        assert b.get("/schools/created-on-a").status_code == 200  # read-your-writes on b

        # the last place is taken once: a fills it, b (stale) is refused
        assert a.patch(f"/schools/{abroad}", json={"capacity": 1, "active": True}, headers=WRITE).status_code == 200
        assert a.post("/partnerships", json={"school_a": uk1, "school_b": abroad}, headers=WRITE).status_code == 201
        r = b.post("/partnerships", json={"school_a": uk2, "school_b": abroad}, headers=WRITE)
        assert r.status_code == 409 and "no free capacity" in r.json()["detail"]
        r = b.post("/partnerships", json={"school_a": abroad, "school_b": uk1}, headers=WRITE)
        assert r.status_code == 409 and "already partners" in r.json()["detail"]

        # deleting on b (stale: it does not know uk1 lists abroad) leaves no dangling partner
        assert b.delete(f"/schools/{abroad}", headers=WRITE).status_code == 204
        a.app.state.registry.sync()
        for client in (a, b):
            assert abroad not in client.get(f"/schools/{uk1}").json()["current_partners"]
        listed = a.get("/partnerships", params={"school_id": abroad, "active": True}).json()
        assert listed["total"] == 0


def test_concurrent_last_place_in_one_process(tmp_path, database_url):
    with TestClient(create_app(make_settings(tmp_path, sync_interval=0, database_url=database_url))) as c:
        records = registry_records(60, seed=4)
        for r in records:
            r["current_partners"] = []
        seed(c, records)
        abroad = pick(records, uk=False)
        c.patch(f"/schools/{abroad}", json={"capacity": 1, "active": True}, headers=WRITE)
        uks = [r["school_id"] for r in records if r["country"] == "GB"][:12]
        for sid in uks:
            c.patch(f"/schools/{sid}", json={"capacity": 3, "active": True}, headers=WRITE)
        registry = c.app.state.registry
        outcomes: list[str] = []

        def attempt(uk: str) -> None:
            try:
                registry.record_partnership(uk, abroad)
                outcomes.append("ok")
            except Exception as exc:  # the losers get ConflictError
                outcomes.append(type(exc).__name__)

        threads = [threading.Thread(target=attempt, args=(sid,)) for sid in uks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes.count("ok") == 1 and set(outcomes) == {"ok", "ConflictError"}, outcomes
        assert len(c.get(f"/schools/{abroad}").json()["current_partners"]) == 1


def test_the_writer_applies_its_own_writes_from_the_feed(tmp_path, database_url):
    with two_workers(tmp_path, database_url) as (a, b, records):
        registry_a, registry_b = a.app.state.registry, b.app.state.registry
        sid = records[3]["school_id"]
        assert b.patch(f"/schools/{sid}", json={"capacity": 9}, headers=WRITE).status_code == 200
        with registry_b.engine.connect() as conn:
            last = changes.last_seq(conn)
        assert registry_b.applied_seq == last  # answered after its own index applied the feed up to its write
        assert registry_b.profile(sid).capacity == 9
        assert registry_a.profile(sid).capacity != 9  # a has not synced yet
        assert registry_a.sync() == 1 and registry_a.applied_seq == last
        assert registry_a.profile(sid).capacity == 9
        assert registry_a.sync() == 0 and registry_b.sync() == 0


def test_readers_never_wait_for_a_change_being_applied(tmp_path, database_url):
    """A reader holding a snapshot does not block a change: the change lands in the other copy and readers
    taking the snapshot afterwards see it; the old reader's snapshot does not move under it."""
    with TestClient(create_app(make_settings(tmp_path, sync_interval=0, database_url=database_url))) as c:
        records = registry_records(30, seed=6)
        seed(c, records)
        registry = c.app.state.registry
        sid = records[0]["school_id"]
        with registry.holder.read() as old:
            before = old.index.profile(sid).capacity
            done = threading.Event()

            def write() -> None:
                registry.patch(sid, {"capacity": before + 1})
                done.set()

            writer = threading.Thread(target=write)
            writer.start()
            eventually_seen = False
            for _ in range(200):  # the new snapshot is the front one while we still hold the old
                with registry.holder.read() as now:
                    if now.index.profile(sid).capacity == before + 1:
                        eventually_seen = True
                        break
                threading.Event().wait(0.02)
            assert eventually_seen, "the change never became visible while an old reader was active"
            assert old.index.profile(sid).capacity == before  # the old snapshot is untouched
            assert not done.is_set()  # the writer waits (off the loop) to bring the old copy up to date
        writer.join(10)
        assert done.is_set()
        with registry.holder.read() as now:
            assert now.index.profile(sid).capacity == before + 1
        registry.patch(sid, {"capacity": before + 2})  # both copies in step: the next change applies cleanly
        assert registry.profile(sid).capacity == before + 2


@pytest.mark.parametrize("what", ["cache", "database"])
def test_storage_failures_are_503_and_change_nothing(tmp_path, what):
    """A full disk (simulated with SQLite's max_page_count) under the embedding cache or the database: 503
    naming what failed, nothing changed, and the next request works. (SQLite only: the page limit is how a
    full disk is simulated without root; PostgreSQL failures take the same DBAPIError path.)"""
    with TestClient(create_app(make_settings(tmp_path, sync_interval=0))) as c:
        seed(c, registry_records(10, seed=5))
        registry = c.app.state.registry
        if what == "cache":
            conn = registry.encoder.cached.cache._conn
            conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
        else:
            registry.engine.dispose()

            @sqlalchemy.event.listens_for(registry.engine, "connect")
            def full(dbapi_conn, _record) -> None:
                pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
                dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

        more = registry_records(300, seed=77)
        for i, r in enumerate(more):
            r["school_id"], r["description"] = f"more-{i}", f"school number {i} " + "words " * 200
        before = c.get("/schools", params={"limit": 1}).json()["total"]
        r = c.post("/schools/import", json=more, headers=WRITE)
        assert r.status_code == 503, r.text
        expected = "the embedding cache" if what == "cache" else "the database"
        assert r.json()["detail"].startswith(f"{expected} failed") and "nothing was changed" in r.json()["detail"]
        assert r.headers["Retry-After"]
        if what == "cache":
            assert c.get("/schools", params={"limit": 1}).json()["total"] == before
        assert len(registry.index) == before
        assert c.get("/health").status_code == 200
