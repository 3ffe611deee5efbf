"""Helpers of the service's API tests: settings, seeding through the API, database dumps, a keyed real server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy
import sqlalchemy.pool

from features.profiles import SchoolProfile
from service.config import Settings
from tests.support import servers
from tests.support.factories import make_registry
from tests.support.polling import eventually

WRITE_KEY = "write-key-for-tests-0001"  # an ``api_keys`` key: staff powers (the single write key of before)
READ_KEY = "read-key-for-tests-0001"
STAFF_KEY = "staff-key-for-tests-0001"
SITE_KEY = "site-key-for-tests-0001"
ADMIN_KEY = "admin-key-for-tests-0001"
TEST_RATE_WRITES = "100000/minute"  # tests write in bursts; tests/service/test_rate_limits.py checks the limits
WRITE = {"X-API-Key": WRITE_KEY}
STAFF = {"X-API-Key": STAFF_KEY}
ADMIN = {"X-API-Key": ADMIN_KEY}


def site(acting_for: str | None) -> dict[str, str]:
    """Headers of the site key acting for ``acting_for`` (None: naming no school)."""
    return {"X-API-Key": SITE_KEY} | ({"X-Acting-For": acting_for} if acting_for is not None else {})


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test app: hashing encoder, a key of each role (``api_keys``: ``WRITE_KEY``), a data dir of
    its own."""
    values: dict[str, Any] = dict(
        data_dir=data_dir,
        encoder="hashing",
        api_keys=(WRITE_KEY,),
        read_api_keys=(READ_KEY,),
        staff_keys=(STAFF_KEY,),
        site_keys=(SITE_KEY,),
        admin_keys=(ADMIN_KEY,),
        rate_writes=TEST_RATE_WRITES,
        load_demo=False,
    )
    values.update(overrides)
    return Settings(**values)


def registry_records(n: int = 120, seed: int = 3) -> list[dict[str, Any]]:
    """A random valid registry as JSON records (private fields included)."""
    return [p.model_dump(mode="json") for p in make_registry(n, seed)]


def seed(client: httpx.Client, records: list[dict[str, Any]]) -> None:
    """Bulk-import records through the API."""
    r = client.post("/v1/schools/import", json=records, headers=WRITE)
    assert r.status_code == 200, r.text
    assert len(r.json()["created"]) == len(records)


def good_query_school(client: httpx.Client, records: list[dict[str, Any]], k: int = 5) -> str:
    """A registered school with at least ``k`` suggestions."""
    for rec in records:
        r = client.get(f"/v1/schools/{rec['school_id']}/suggestions", params={"k": k, "diversity": "none"})
        if r.status_code == 200 and len(r.json()["suggestions"]) >= k:
            return rec["school_id"]
    raise AssertionError("no school in the test registry has enough suggestions")


def finished_job(client: httpx.Client, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """A batch job once it has finished (done, failed or cancelled); its progress stays within [0, 1] meanwhile."""

    def finished() -> dict[str, Any] | None:
        r = client.get(f"/batch/{job_id}", headers=WRITE)
        assert r.status_code == 200, r.text
        job = r.json()
        assert 0.0 <= job["progress"] <= 1.0, job
        return None if job["status"] in ("queued", "running") else job

    return eventually(finished, timeout, what=f"batch job {job_id} to finish")


REGISTRY_TABLES = ("schools", "partnerships", "feedback", "batch_jobs")
AUTH_TABLES = ("sessions", "sign_in_links", "audit_log", "api_keys")


def db_dump(where: Path | str, tables: tuple[str, ...] = REGISTRY_TABLES) -> dict[str, list[tuple]]:
    """Every row of the registry tables (or ``tables``), read with plain SQL (independent of the service code).

    ``where``: a data dir (its SQLite ``registry.sqlite``) or a database URL (SQLite or PostgreSQL).
    """
    url = f"sqlite:///{Path(where) / 'registry.sqlite'}" if isinstance(where, Path) else where
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            return {
                table: sorted(map(tuple, conn.execute(sqlalchemy.text(f"SELECT * FROM {table}")).all()), key=repr)
                for table in tables
            }
    finally:
        engine.dispose()


def find_key(obj: Any, key: str, path: str = "$") -> list[str]:
    """Paths of every occurrence of ``key`` anywhere in a JSON value."""
    found = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                found.append(f"{path}.{k}")
            found += find_key(v, key, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            found += find_key(v, key, f"{path}[{i}]")
    return found


@contextmanager
def server_process(
    data_dir: Path,
    encoder: str = "hashing",
    timeout: float = 90.0,
    workers: int = 1,
    database_url: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[str]:
    """``servers.server_process`` with this module's keys of every role (and ``database_url``, default the
    SQLite file in ``data_dir``; ``extra_env``: more settings); yields its base URL."""
    env = {
        "PARTNERMATCH_API_KEYS": WRITE_KEY,
        "PARTNERMATCH_READ_API_KEYS": READ_KEY,
        "PARTNERMATCH_STAFF_KEYS": STAFF_KEY,
        "PARTNERMATCH_SITE_KEYS": SITE_KEY,
        "PARTNERMATCH_ADMIN_KEYS": ADMIN_KEY,
        "PARTNERMATCH_RATE_WRITES": TEST_RATE_WRITES,
    }
    if database_url is not None:
        env["PARTNERMATCH_DATABASE_URL"] = database_url
    env.update(extra_env or {})
    with servers.server_process(data_dir, env, encoder=encoder, timeout=timeout, workers=workers) as base:
        yield base


def profile_json(p: SchoolProfile) -> dict[str, Any]:
    """A profile as a POST /schools body."""
    return json.loads(p.model_dump_json())
