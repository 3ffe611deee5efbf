"""The audit log (issue 14), on SQLite and PostgreSQL: every write leaves one row in its own transaction (a
refused or failed write leaves none); staff read it with filters and pages, as JSON or CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from service import db
from service.app import create_app
from service.auth import Principal, start_session
from tests.support.api import AUTH_TABLES, STAFF, WRITE, db_dump, make_settings, registry_records, seed, site


@pytest.fixture
def client(tmp_path, database_url):
    with TestClient(create_app(make_settings(tmp_path, database_url=database_url))) as c:
        seed(c, registry_records(8, seed=4))
        yield c


def audit(client: TestClient, **params) -> list[dict]:
    r = client.get("/v1/audit", params=params, headers=STAFF)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_refused_and_failed_writes_leave_no_audit_row(client, database_url):
    before = db_dump(database_url, AUTH_TABLES)["audit_log"]
    assert client.patch("/v1/schools/s0", json={"capacity": 4}, headers=site("s1")).status_code == 403
    assert client.patch("/v1/schools/s0", json={"capacity": 4}, headers=STAFF | {"If-Match": '"99"'}).status_code == 412
    bad = {"school_id": "s0", "candidate_id": "nobody", "decision": "accept"}
    assert client.post("/v1/feedback", json=bad, headers=STAFF).status_code == 404
    assert client.delete("/v1/schools/nobody", headers=STAFF).status_code == 404
    assert db_dump(database_url, AUTH_TABLES)["audit_log"] == before


def test_every_kind_of_write_is_recorded(client):
    partners = {f"s{i}": set(client.get(f"/v1/schools/s{i}").json()["current_partners"]) for i in range(7)}
    b = next(s for s in partners if s != "s0" and s not in partners["s0"] and "s0" not in partners[s])
    for school_id in (b, "s0"):  # room for one more partner each
        r = client.patch(f"/v1/schools/{school_id}", json={"capacity": 9, "active": True}, headers=STAFF)
        assert r.status_code == 200, r.text
    r = client.post("/v1/partnerships", json={"school_a": "s0", "school_b": b}, headers=STAFF)
    assert r.status_code == 201, r.text
    p = r.json()
    assert client.post(f"/v1/partnerships/{p['id']}/end", headers=STAFF).status_code == 200
    job = client.post("/v1/batch", json={"cohort": ["s0", "s1", "s2", "s3"]}, headers=STAFF).json()
    assert client.delete("/v1/schools/s7", headers=site("s7")).status_code == 204
    rows = audit(client)
    got = [(r["action"], r["targets"]) for r in rows]
    assert got[:5] == [
        ("school.delete", ["s7"]),
        ("batch.start", [job["id"]]),
        ("partnership.end", [str(p["id"]), "s0", b]),
        ("partnership.record", [str(p["id"]), "s0", b]),
        ("school.patch", ["s0"]),
    ]
    assert got[5] == ("school.patch", [b])
    assert got[6][0] == "school.import" and len(got[6][1]) == 8  # the seeding, with the old write key (staff)
    assert rows[0]["role"] == "site" and rows[0]["acting_for"] == "s7"
    assert all(r["address"] == "testclient" for r in rows)


def test_filters_pages_and_csv(client):
    for capacity in (3, 4, 5):
        assert client.patch("/v1/schools/s2", json={"capacity": capacity}, headers=site("s2")).status_code == 200
    assert client.patch("/v1/schools/s3", json={"capacity": 3}, headers=WRITE).status_code == 200
    assert [r["targets"] for r in audit(client, acting_for="s2")] == [["s2"]] * 3
    assert len(audit(client, action="school.patch")) == 4
    assert [r["targets"] for r in audit(client, target="s3", action="school.patch")] == [["s3"]]
    page = client.get("/v1/audit", params={"limit": 2, "offset": 1}, headers=STAFF).json()
    assert page["total"] == 5 and len(page["items"]) == 2 and page["items"][0]["action"] == "school.patch"
    future = (db.utcnow() + timedelta(minutes=5)).isoformat()
    assert audit(client, since=future) == [] and len(audit(client, until=future)) == 5
    r = client.get("/v1/audit", params={"format": "csv", "acting_for": "s2"}, headers=STAFF)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(r.text)))
    assert r.headers["X-Total-Count"] == "3" and len(table) == 3
    assert {row["action"] for row in table} == {"school.patch"} and table[0]["acting_for"] == "s2"
    assert table[0]["subject"].startswith("site key sha256:") and table[0]["targets"] == "s2"


def test_csv_cells_never_start_a_formula(client):
    """A subject comes from outside (the site's token names the user): it must not run in a spreadsheet."""
    registry = client.app.state.registry
    principal = Principal("school", "s4", '=HYPERLINK("http://evil.example")', "session")
    session_id, csrf = start_session(client.app.state.settings, registry.sessions, principal)
    headers = {"Cookie": f"pm_session={session_id}", "X-CSRF-Token": csrf}
    assert client.patch("/v1/schools/s4", json={"capacity": 4}, headers=headers).status_code == 200
    table = list(csv.DictReader(io.StringIO(client.get("/v1/audit", params={"format": "csv"}, headers=STAFF).text)))
    assert table[0]["subject"] == '\'=HYPERLINK("http://evil.example")'


def test_bad_filters_are_clear_errors(client):
    r = client.get("/v1/audit", params={"since": "yesterday"}, headers=STAFF)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "since"
    r = client.get("/v1/audit", params={"format": "xml"}, headers=STAFF)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "format"
