"""Helpers of the multi-process race and crash tests: a ``serve --workers 2`` server on a given database,
keep-alive clients pinned to each worker, requests fired at once, and schools made to order."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import sqlalchemy
import sqlalchemy.pool

from tests.support import servers
from tests.support.api import TEST_RATE_WRITES, WRITE, WRITE_KEY
from tests.support.factories import make_profile
from tests.support.polling import eventually

T = TypeVar("T")
V1 = "/v1"


@contextmanager
def workers_server(data_dir: Path, database_url: str, workers: int = 2) -> Iterator[str]:
    """A real ``serve --workers N`` (hashing encoder) on ``database_url``; yields its base URL."""
    env = {
        "PARTNERMATCH_API_KEYS": WRITE_KEY,
        "PARTNERMATCH_DATABASE_URL": database_url,
        "PARTNERMATCH_RATE_WRITES": TEST_RATE_WRITES,  # the races write in bursts; test_rate_limits checks limits
    }
    with servers.server_process(data_dir, env, workers=workers) as base:
        yield base


def client(base: str) -> httpx.Client:
    """A keep-alive client with the write key (its connection stays on the worker that accepted it)."""
    return httpx.Client(base_url=base + V1, headers=WRITE, timeout=60)


def worker_of(c: httpx.Client) -> int:
    """The process id of the worker holding this client's connection."""
    r = c.get("/ready")
    assert r.status_code == 200, r.text
    return int(r.json()["process"])


@contextmanager
def pinned_clients(base: str, per_worker: int = 1, workers: int = 2) -> Iterator[dict[int, list[httpx.Client]]]:
    """``per_worker`` keep-alive clients on each worker process: ``{pid: [client, ...]}``.

    New connections spread over the workers at random (``SO_REUSEPORT``), so clients are opened until each
    worker holds enough; the surplus is closed. Waits (up to 2 min) for workers that are not listening yet.
    """
    with ExitStack() as stack:
        by_worker: dict[int, list[httpx.Client]] = {}

        def enough() -> bool:
            c = client(base)
            pid = worker_of(c)
            if len(by_worker.setdefault(pid, [])) < per_worker:
                stack.callback(c.close)
                by_worker[pid].append(c)
            else:
                c.close()
            return len(by_worker) == workers and all(len(cs) == per_worker for cs in by_worker.values())

        # a TransportError: no worker listens right now (a killed one's replacement is still loading)
        what = f"{per_worker} connection(s) on each of {workers} workers"
        eventually(enough, 120, 0.01, what=what, ignore=(httpx.TransportError,))
        yield by_worker


@contextmanager
def pair(base: str) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two keep-alive clients on two different workers."""
    with pinned_clients(base) as by_worker:
        one, two = (cs[0] for cs in by_worker.values())
        yield one, two


def at_once(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run every call in its own thread, released together by a barrier; their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def school(i: int, **overrides: Any) -> dict[str, Any]:
    """A valid school as a JSON body: abroad (Kenya) unless ``country`` says otherwise; active, no partners."""
    fields: dict[str, Any] = {"school_id": f"s{i}", "country": "KE", "languages": ["en"], "active": True,
                              "current_partners": [], "excluded": [], "capacity": 1}  # fmt: skip
    fields.update(overrides)
    if fields["country"] == "GB":
        fields.setdefault("uk_nation", "england")
    return json.loads(make_profile(random.Random(i), i, **fields).model_dump_json())


def imported(c: httpx.Client, records: Sequence[dict[str, Any]]) -> None:
    """Bulk-import ``records`` (all of them created)."""
    r = c.post("/schools/import", json=list(records))
    assert r.status_code == 200, r.text
    assert len(r.json()["created"]) == len(records)


def profile(c: httpx.Client, school_id: str) -> dict[str, Any]:
    """A school's public profile as one worker serves it (200 expected)."""
    r = c.get(f"/schools/{school_id}")
    assert r.status_code == 200, f"{school_id}: {r.status_code} {r.text}"
    return dict(r.json())


def converged(clients: Sequence[httpx.Client], check: Callable[[httpx.Client], bool], what: str) -> None:
    """Wait until ``check`` holds on every worker (other processes converge within the sync bound)."""
    eventually(lambda: all(check(c) for c in clients), 15, 0.05, what=what)


def sql(database_url: str, query: str, **params: Any) -> list[tuple[Any, ...]]:
    """Rows of a plain SQL query, read independently of the service code."""
    engine = sqlalchemy.create_engine(database_url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sqlalchemy.text(query), params)]
    finally:
        engine.dispose()


def stored_profile(database_url: str, school_id: str) -> dict[str, Any]:
    """A school's profile as stored in the database, with its ``version``."""
    rows = sql(database_url, "SELECT profile, version FROM schools WHERE school_id = :sid", sid=school_id)
    assert rows, f"{school_id} is not in the database"
    data, version = rows[0]
    return {**(json.loads(data) if isinstance(data, str) else data), "version": version}


def stored_profiles(database_url: str) -> dict[str, dict[str, Any]]:
    """Every stored profile by school id."""
    rows = sql(database_url, "SELECT school_id, profile FROM schools")
    return {sid: json.loads(data) if isinstance(data, str) else data for sid, data in rows}


def stored_partners(database_url: str, school_id: str) -> list[str]:
    """A school's ``current_partners`` as stored in the database (its profile JSON)."""
    return list(stored_profile(database_url, school_id).get("current_partners", []))


def active_partnerships(database_url: str, school_id: str) -> list[tuple[str, str]]:
    """The active partnership rows naming a school, as (school_a, school_b)."""
    query = "SELECT school_a, school_b FROM partnerships WHERE ended_at IS NULL AND (school_a = :s OR school_b = :s)"
    return sorted((a, b) for a, b in sql(database_url, query, s=school_id))
