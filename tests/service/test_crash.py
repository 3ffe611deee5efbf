"""kill -9 of server processes (``serve --workers 2``) on SQLite and on PostgreSQL: a bulk import is all or
nothing, no acknowledged write is lost, and the service starts again on the non-empty database."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import httpx

from tests.support.polling import eventually
from tests.support.races import (
    imported,
    pair,
    pinned_clients,
    profile,
    school,
    sql,
    stored_partners,
    stored_profiles,
    worker_of,
    workers_server,
)

IMPORT_SIZE = 3000  # schools per bulk import: long enough to be killed in the middle


def count_like(database_url: str, prefix: str) -> int:
    """Schools stored whose id starts with ``prefix``."""
    return int(sql(database_url, "SELECT count(*) FROM schools WHERE school_id LIKE :p", p=f"{prefix}%")[0][0])


def batch(prefix: str, first: int) -> list[dict[str, Any]]:
    """``IMPORT_SIZE`` valid schools with ids ``<prefix><n>``."""
    return [{**school(first + n), "school_id": f"{prefix}{n}"} for n in range(IMPORT_SIZE)]


def posting(c: httpx.Client, path: str, body: object) -> tuple[threading.Thread, list[object]]:
    """POST ``body`` from a thread started now; the list gets its response or the connection's error."""
    answer: list[object] = []

    def post() -> None:
        try:
            answer.append(c.post(path, json=body))
        except httpx.TransportError as exc:
            answer.append(exc)

    thread = threading.Thread(target=post)
    thread.start()
    return thread, answer


def test_kill_9_during_a_bulk_import_keeps_all_or_nothing(tmp_path, database_url):
    with workers_server(tmp_path, database_url) as base, pair(base) as (a, b):
        started = time.monotonic()
        imported(a, batch("ref-", 0))  # how long one import takes here
        took = time.monotonic() - started
        killed: list[int] = []
        for n, (victim, fraction) in enumerate([(a, 0.5), (b, 0.8)]):
            prefix, pid = f"kill{n}-", worker_of(victim)
            thread, answer = posting(victim, "/schools/import", batch(prefix, 0))
            time.sleep(took * fraction)
            os.kill(pid, signal.SIGKILL)
            thread.join(60)
            assert answer, "the import's client did not return"
            stored = count_like(database_url, prefix)
            assert stored in (0, IMPORT_SIZE), f"kill -9 at {fraction:.0%} of an import left {stored} of its rows"
            if isinstance(answer[0], httpx.Response):  # the import finished before the kill
                assert answer[0].status_code == 200 and stored == IMPORT_SIZE, answer[0].text
            killed.append(pid)
        total = int(sql(database_url, "SELECT count(*) FROM schools")[0][0])
        assert count_like(database_url, "ref-") == IMPORT_SIZE
        with pinned_clients(base) as by_worker:  # the supervisor's replacements load what the database holds
            assert not set(by_worker) & set(killed)
            for (c,) in by_worker.values():
                assert c.get("/ready").json()["schools"] == total


def test_acknowledged_writes_survive_kill_9_and_a_restart_on_the_non_empty_database(tmp_path, database_url):
    hub, kept, gone = school(0, country="GB", capacity=50), school(1), school(2)
    hid = hub["school_id"]
    acked: dict[str, int] = {}  # school id -> last acknowledged capacity
    in_flight: dict[str, int] = {}  # school id -> the capacity of a write whose answer never came
    stop = threading.Event()

    def writer(c: httpx.Client, t: int) -> None:
        """Create schools and change each one's capacity; stop at the first connection lost to the kill."""
        try:
            for k in range(10_000):
                if stop.is_set():
                    return
                sid = f"w{t}-{k // 3}"
                if k % 3 == 0:
                    in_flight[sid] = 1
                    r = c.post("/schools", json={**school(100 * t + k), "school_id": sid, "capacity": 1})
                    assert r.status_code == 201, r.text
                else:
                    in_flight[sid] = 1 + k % 3
                    r = c.patch(f"/schools/{sid}", json={"capacity": in_flight[sid]})
                    assert r.status_code == 200, r.text
                acked[sid] = in_flight.pop(sid)
        except httpx.TransportError:
            return

    with workers_server(tmp_path, database_url) as base, pinned_clients(base, per_worker=2) as by_worker:
        a, b = (cs[0] for cs in by_worker.values())
        imported(a, [hub, kept, gone])
        assert a.post("/partnerships", json={"school_a": hid, "school_b": kept["school_id"]}).status_code == 201
        assert a.post("/partnerships", json={"school_a": hid, "school_b": gone["school_id"]}).status_code == 201
        assert b.delete(f"/schools/{gone['school_id']}").status_code == 204  # right after, on the other worker
        writers = [c for cs in by_worker.values() for c in cs]
        threads = [threading.Thread(target=writer, args=(c, t)) for t, c in enumerate(writers)]
        for thread in threads:
            thread.start()
        eventually(lambda: len(acked) >= 100, 60, 0.05, what="a stream of acknowledged writes")
        for pid in by_worker:
            os.kill(pid, signal.SIGKILL)
        stop.set()
        for thread in threads:
            thread.join(60)
    assert len(acked) >= 100
    with workers_server(tmp_path, database_url) as base, pinned_clients(base) as by_worker:  # a restart
        stored = stored_profiles(database_url)
        lost = sorted(set(acked) - set(stored))
        assert not lost, f"{len(lost)} acknowledged school(s) lost: {lost[:10]}"
        for sid, capacity in acked.items():
            now = stored[sid]["capacity"]
            assert now in (capacity, in_flight.get(sid)), f"{sid}: capacity {now}, acknowledged {capacity}"
        for (c,) in by_worker.values():
            assert c.get("/ready").json()["schools"] == len(stored)
            assert profile(c, hid)["current_partners"] == [kept["school_id"]]
            assert c.get(f"/schools/{gone['school_id']}").status_code == 404
            assert c.get(f"/schools/{hid}/suggestions").status_code == 200
            for sid in list(acked)[:: max(1, len(acked) // 20)]:
                assert profile(c, sid)["capacity"] in (acked[sid], in_flight.get(sid))
        assert stored_partners(database_url, hid) == [kept["school_id"]]
