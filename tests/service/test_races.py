"""Races between server processes on one database (``serve --workers 2``), on SQLite and on PostgreSQL.

Every test runs real server processes and pins keep-alive clients to each worker, so the two sides of a race
are decided by different processes: only the database can keep the invariants (issue 12).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import NamedTuple

import httpx
import pytest

from tests.support.races import (
    active_partnerships,
    at_once,
    converged,
    imported,
    pair,
    pinned_clients,
    profile,
    school,
    stored_partners,
    stored_profile,
    stored_profiles,
    workers_server,
)

ROUNDS = 10  # races per test, as in the issue
CONTENDERS = 20  # concurrent requests for the last place


class Served(NamedTuple):
    base: str
    database_url: str


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One ``serve --workers 2`` per backend for this module (each test uses school ids of its own)."""
    data_dir = tmp_path_factory.mktemp(f"races-{request.param}")
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_server").create_database("races")
    else:
        database_url = f"sqlite:///{data_dir / 'registry.sqlite'}"
    with workers_server(data_dir, database_url) as base:
        yield Served(base, database_url)


def test_the_last_place_is_taken_exactly_once(served):
    base, database_url = served
    uk = [school(i, country="GB", capacity=ROUNDS) for i in range(CONTENDERS)]
    abroad = [school(100 + r, capacity=1) for r in range(ROUNDS)]
    with pinned_clients(base, per_worker=CONTENDERS // 2) as by_worker:
        clients = [c for cs in by_worker.values() for c in cs]  # half on each worker
        views = [cs[0] for cs in by_worker.values()]
        imported(clients[0], uk + abroad)
        for r, target in enumerate(abroad):
            tid = target["school_id"]
            results = at_once(
                [
                    partial(c.post, "/partnerships", json={"school_a": u["school_id"], "school_b": tid})
                    for c, u in zip(clients, uk, strict=True)
                ]
            )
            codes = [res.status_code for res in results]
            assert sorted(codes) == [201] + [409] * (CONTENDERS - 1), f"round {r}: {codes}"
            winner = uk[codes.index(201)]["school_id"]
            assert active_partnerships(database_url, tid) == sorted([(winner, tid)])
            stored = stored_profiles(database_url)
            assert stored[tid].get("current_partners") == [winner]
            holding = [u["school_id"] for u in uk if tid in stored[u["school_id"]].get("current_partners", [])]
            assert holding == [winner], f"round {r}: {holding} list {tid} as a partner, only {winner} should"

            def both_sides_agree(c: httpx.Client, tid: str = tid, winner: str = winner) -> bool:
                return profile(c, tid)["current_partners"] == [winner] and tid in profile(c, winner)["current_partners"]

            converged(views, both_sides_agree, f"both workers to show {winner} <-> {tid}")


def test_concurrent_patches_of_different_fields_are_both_kept(served):
    base, database_url = served
    target = school(200, capacity=1)
    sid = target["school_id"]
    with pair(base) as (a, b):
        imported(a, [target])
        for r in range(ROUNDS):
            capacity, description = 2 + r, f"Round {r}: our pupils keep bees and sell honey at the market."
            ra, rb = at_once(
                [
                    partial(a.patch, f"/schools/{sid}", json={"capacity": capacity}),
                    partial(b.patch, f"/schools/{sid}", json={"description": description}),
                ]
            )
            assert (ra.status_code, rb.status_code) == (200, 200), (ra.text, rb.text)
            assert ra.headers["ETag"] != rb.headers["ETag"], "two acknowledged changes share one version"
            stored = stored_profile(database_url, sid)
            assert (stored["capacity"], stored["description"]) == (capacity, description), f"round {r}: {stored}"
            assert f'"{stored["version"]}"' in (ra.headers["ETag"], rb.headers["ETag"])

            def both_values(c: httpx.Client, capacity: int = capacity, description: str = description) -> bool:
                p = profile(c, sid)
                return (p["capacity"], p["description"]) == (capacity, description)

            converged([a, b], both_values, f"both workers to show round {r}'s capacity and description")

        # a stale If-Match: a's change went first, so b's version is out of date (and nothing changes)
        etag = a.get(f"/schools/{sid}").headers["ETag"]
        fresh = a.patch(f"/schools/{sid}", json={"capacity": 50}, headers={"If-Match": etag})
        assert fresh.status_code == 200, fresh.text
        stale = b.patch(f"/schools/{sid}", json={"description": "Stale"}, headers={"If-Match": etag})
        assert stale.status_code == 412, stale.text
        assert stale.headers["ETag"] == fresh.headers["ETag"]
        replaced = {k: v for k, v in profile(b, sid).items() if k in target and k != "school_id"}
        stale_put = b.put(f"/schools/{sid}", json={**replaced, "description": "Stale"}, headers={"If-Match": etag})
        assert stale_put.status_code == 412, stale_put.text
        kept = stored_profile(database_url, sid)
        assert kept["description"] == f"Round {ROUNDS - 1}: our pupils keep bees and sell honey at the market."
        assert f'"{kept["version"]}"' == fresh.headers["ETag"]

        # the same version sent by both workers at once: exactly one applies
        for r in range(ROUNDS):
            etag = a.get(f"/schools/{sid}").headers["ETag"]
            ra, rb = at_once(
                [
                    partial(a.patch, f"/schools/{sid}", json={"capacity": 3}, headers={"If-Match": etag}),
                    partial(b.patch, f"/schools/{sid}", json={"capacity": 4}, headers={"If-Match": etag}),
                ]
            )
            assert sorted((ra.status_code, rb.status_code)) == [200, 412], f"round {r}: {ra.text} {rb.text}"


def test_a_deleted_school_is_never_left_as_a_partner(served):
    """(After a restart, too: tests/service/test_crash.py restarts on a database where this happened.)"""
    base, database_url = served
    hub = school(300, country="GB", capacity=2 * ROUNDS + 1)
    kept = school(301)
    victims = [school(310 + t) for t in range(ROUNDS)]
    hid = hub["school_id"]
    with pair(base) as (a, b):
        imported(a, [hub, kept, *victims])
        assert a.post("/partnerships", json={"school_a": hid, "school_b": kept["school_id"]}).status_code == 201
        for t, victim in enumerate(victims):
            vid = victim["school_id"]

            def record(vid: str = vid) -> httpx.Response:
                return a.post("/partnerships", json={"school_a": hid, "school_b": vid})

            def delete(vid: str = vid) -> httpx.Response:
                return b.delete(f"/schools/{vid}")

            if t % 2:  # the case: the partnership is acknowledged, then the other worker deletes at once
                made, gone = record(), delete()
                assert made.status_code == 201, made.text
            else:  # both at once: either order is fine, but never a dangling partner
                made, gone = at_once([record, delete])
                assert made.status_code in (201, 404), made.text
            assert gone.status_code == 204, gone.text
            assert vid not in stored_partners(database_url, hid), f"try {t}: {hid} still lists deleted {vid}"
            assert active_partnerships(database_url, vid) == [], f"try {t}"

            def forgotten(c: httpx.Client, vid: str = vid) -> bool:
                return c.get(f"/schools/{vid}").status_code == 404 and vid not in profile(c, hid)["current_partners"]

            converged([a, b], forgotten, f"both workers to forget {vid}")
        assert stored_partners(database_url, hid) == [kept["school_id"]]


def test_writes_naming_a_school_just_created_on_the_other_worker_find_it(served):
    base, database_url = served
    n = 2 * ROUNDS
    hub = school(400, country="GB", capacity=n)
    hid = hub["school_id"]
    with pair(base) as (a, b):
        imported(a, [hub])
        answers: list[str] = []
        for i in range(n):
            maker, other = (a, b) if i % 2 == 0 else (b, a)
            new = school(1000 + i, capacity=2)
            sid = new["school_id"]
            created = maker.post("/schools", json=new)
            assert created.status_code == 201, created.text
            writes = [
                other.patch(f"/schools/{sid}", json={"capacity": 3}),
                other.post("/partnerships", json={"school_a": hid, "school_b": sid}),
                other.post("/feedback", json={"school_id": hid, "candidate_id": sid, "decision": "accept"}),
            ]
            answers += [f"{sid} {w.request.method} {w.request.url.path}: {w.status_code}" for w in writes]
            assert [w.status_code for w in writes] == [200, 201, 201], answers[-3:]
        assert len(stored_partners(database_url, hid)) == n
