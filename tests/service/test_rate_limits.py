"""Rate limits (issue 14): writes per key, session or address, and sign-in requests per address and per
school: over the limit, 429 with ``Retry-After`` and nothing changed."""

from __future__ import annotations

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from service.app import create_app
from service.auth import limit_jwt_exchange, limit_sign_in
from tests.support.api import STAFF, WRITE, db_dump, make_settings, registry_records, seed


@pytest.fixture
def client(tmp_path):
    settings = make_settings(tmp_path, rate_writes="3/minute", rate_sign_in="2/minute")
    app = create_app(settings)

    @app.post("/test-only/sign-in/{school_id}")
    async def sign_in(request: Request, school_id: str) -> dict[str, str]:
        limit_sign_in(request, settings, school_id)
        return {"ok": school_id}

    @app.post("/test-only/exchange")
    async def exchange(request: Request) -> dict[str, str]:
        limit_jwt_exchange(request, settings)
        return {"ok": "exchange"}

    with TestClient(app) as c:
        yield c


def assert_429(r) -> int:
    assert r.status_code == 429, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/too-many-requests")
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= 60
    return retry


def test_writes_over_the_limit_get_429_with_retry_after_and_change_nothing(client, tmp_path):
    seed(client, registry_records(4, seed=1))  # one write by the old write key
    for capacity in (2, 3):
        assert client.patch("/v1/schools/s0", json={"capacity": capacity}, headers=WRITE).status_code == 200
    before = db_dump(tmp_path)
    r = client.patch("/v1/schools/s0", json={"capacity": 9}, headers=WRITE)
    assert_429(r)
    assert "writes" in r.json()["detail"] and "3/minute" in r.json()["detail"]
    assert db_dump(tmp_path) == before
    # counted per key: the staff key still writes; reads are not limited
    assert client.patch("/v1/schools/s0", json={"capacity": 4}, headers=STAFF).status_code == 200
    assert all(client.get("/v1/schools/s0").status_code == 200 for _ in range(10))


def test_anonymous_writes_count_per_address(client):
    for _ in range(3):
        assert client.patch("/v1/schools/s0", json={"capacity": 2}).status_code == 401
    assert_429(client.patch("/v1/schools/s0", json={"capacity": 2}))


def test_sign_in_requests_are_limited_per_address_and_per_school(client):
    assert client.post("/test-only/sign-in/s0").status_code == 200
    assert client.post("/test-only/sign-in/s1").status_code == 200
    r = client.post("/test-only/sign-in/s2")  # a third from this address
    assert_429(r)
    assert "from this address" in r.json()["detail"]


def test_sign_in_requests_for_one_school_are_limited_from_any_address(client):
    for address in ("10.0.0.1", "10.0.0.2"):  # clients from other addresses (no second start-up: no `with`)
        assert TestClient(client.app, client=(address, 5000)).post("/test-only/sign-in/s0").status_code == 200
    r = TestClient(client.app, client=("10.0.0.3", 5000)).post("/test-only/sign-in/s0")
    assert_429(r)
    assert "for this school" in r.json()["detail"]


def test_site_token_exchanges_are_limited_per_address(client):
    for _ in range(2):
        assert client.post("/test-only/exchange").status_code == 200
    assert_429(client.post("/test-only/exchange"))
