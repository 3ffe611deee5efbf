"""API keys (every write refused without or with a wrong key, nothing changed) and privacy (no private
field in any read except the owner's keyed read)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from tests.support.api import (
    READ_KEY,
    WRITE,
    db_dump,
    find_key,
    finished_job,
    good_query_school,
    make_settings,
    registry_records,
    seed,
)

WRONG = "a-wrong-key-that-must-not-echo"


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("security")
    records = registry_records(80, seed=5)
    with TestClient(create_app(make_settings(data_dir)), raise_server_exceptions=False) as c:
        seed(c, records)
        sid = good_query_school(c, records, k=2)
        tops = [s["school_id"] for s in c.get(f"/schools/{sid}/suggestions", params={"k": 2}).json()["suggestions"]]
        r = c.patch(f"/schools/{sid}", json={"capacity": 9}, headers=WRITE)
        assert r.is_success, r.text
        r = c.post("/partnerships", json={"school_a": sid, "school_b": tops[0]}, headers=WRITE)
        assert r.is_success, r.text
        pid = r.json()["id"]
        r = c.post("/feedback", json={"school_id": sid, "candidate_id": tops[1], "decision": "decline"}, headers=WRITE)
        assert r.is_success, r.text
        job = c.post("/batch", json={"options": {"top_k": 5}}, headers=WRITE).json()["id"]
        finished = finished_job(c, job)
        assert finished["status"] == "done", finished  # its result is one of the keyed reads checked below
        yield {"client": c, "dir": data_dir, "records": records, "sid": sid, "other": tops[1], "pid": pid,
               "job": job}  # fmt: skip


def fill(path: str, st: dict) -> str:
    return (
        path.replace("{school_id}", st["sid"])
        .replace("{other_id}", st["other"])
        .replace("{partnership_id}", str(st["pid"]))
        .replace("{job_id}", st["job"])
    )


BODIES = {
    ("POST", "/schools"): {"school_id": "intruder", "name": "X", "country": "FR", "phase": "primary", "age_min": 5,
                           "age_max": 10, "languages": ["fr"]},
    ("POST", "/schools/import"): [{"school_id": "intruder", "name": "X", "country": "FR", "phase": "primary",
                                   "age_min": 5, "age_max": 10, "languages": ["fr"]}],
    ("PUT", "/schools/{school_id}"): {"name": "Hijacked", "country": "FR", "phase": "primary", "age_min": 5,
                                      "age_max": 10, "languages": ["fr"]},
    ("PATCH", "/schools/{school_id}"): {"name": "Hijacked"},
    ("POST", "/partnerships"): {"school_a": "{school_id}", "school_b": "{other_id}"},
    ("POST", "/feedback"): {"school_id": "{school_id}", "candidate_id": "{other_id}", "decision": "accept"},
    ("POST", "/batch"): {"options": {"top_k": 3}},
}  # fmt: skip
OPEN_POSTS = {"/suggestions"}  # a read: suggestions for a posted profile store nothing
KEYED_READS = {"/schools/{school_id}/private", "/feedback", "/batch", "/batch/{job_id}", "/batch/{job_id}/result"}


def keyed_operations(client) -> list[tuple[str, str]]:
    """Every operation of the schema that must need a write key: all non-GET ones and the keyed reads."""
    ops = []
    for path, item in client.get("/openapi.json").json()["paths"].items():
        route = path.removeprefix("/v1")  # every operation is under /v1
        for method in item:
            if (method != "get" and route not in OPEN_POSTS) or route in KEYED_READS:
                ops.append((method.upper(), path))
    return ops


def call(client, method: str, path: str, st: dict, headers: dict):
    body = BODIES.get((method, path.removeprefix("/v1")))
    if body is not None:
        import json

        body = json.loads(fill(json.dumps(body), st))
    return client.request(method, fill(path, st), json=body, headers=headers)


def test_every_write_is_refused_without_or_with_a_wrong_key(state):
    c = state["client"]
    ops = keyed_operations(c)
    assert len(ops) >= 14  # the schema's writes and keyed reads, all of them
    before = db_dump(state["dir"])
    version = c.app.state.registry.index.version
    for method, path in ops:
        for headers, status in (({}, 401), ({"X-API-Key": WRONG}, 403), ({"X-API-Key": READ_KEY}, 403)):
            r = call(c, method, path, state, headers)
            assert r.status_code == status, (method, path, headers, r.text)
            assert WRONG not in r.text and READ_KEY not in r.text
            if status == 401:
                assert r.headers["www-authenticate"] == "ApiKey"
    assert db_dump(state["dir"]) == before
    assert c.app.state.registry.index.version == version


def test_keys_never_come_back_in_errors(state):
    c = state["client"]
    for r in (
        c.post("/schools", json={"school_id": "!"}, headers={"X-API-Key": WRONG}),
        c.get("/schools/ghost", headers={"X-API-Key": WRONG}),
        c.get(f"/schools/{state['sid']}/suggestions", params={"k": -1}, headers={"X-API-Key": WRONG}),
        c.post("/schools", json={"school_id": "!"}, headers=WRITE),
    ):
        assert r.status_code in (401, 403, 404, 422)
        assert WRONG not in r.text and WRITE["X-API-Key"] not in r.text


def test_reads_can_be_closed_by_configuration(tmp_path):
    with TestClient(create_app(make_settings(tmp_path, open_reads=False))) as c:
        assert c.get("/schools").status_code == 401
        assert c.get("/schools", headers={"X-API-Key": WRONG}).status_code == 403
        assert c.get("/schools", headers={"X-API-Key": READ_KEY}).status_code == 200
        assert c.get("/schools", headers=WRITE).status_code == 200
        assert c.post("/schools", json=BODIES[("POST", "/schools")], headers={"X-API-Key": READ_KEY}).status_code == 403
        assert c.get("/health").status_code == 200  # probes stay open


def test_no_private_field_in_any_read(state):
    c = state["client"]
    emails = {r["contact_email"] for r in state["records"] if r.get("contact_email")}
    assert emails
    pattern = re.compile("|".join(map(re.escape, emails)))
    schema = c.get("/openapi.json").json()
    responses = []
    for path, item in schema["paths"].items():
        if "get" in item and not path.endswith("/private"):
            for headers in ({}, WRITE):
                for params in ({}, {"limit": 500}) if "{" not in path else ({},):
                    responses.append((path, c.get(fill(path, state), params=params, headers=headers)))
    profile = {**state["records"][0], "school_id": "visitor"}
    responses.append(("/suggestions", c.post("/suggestions", json={"profile": profile, "k": 20})))
    responses.append(("csv", c.get(f"/batch/{state['job']}/result", params={"format": "csv"}, headers=WRITE)))
    assert sum(r.status_code == 200 for _, r in responses) >= 15
    for path, r in responses:
        assert r.status_code < 500, (path, r.text)
        assert "contact_email" not in r.text and not pattern.search(r.text), path
        if r.headers.get("content-type", "").startswith("application/json"):
            assert find_key(r.json(), "contact_email") == []
    # the batch result really was read (it holds partnerships)
    assert c.get(f"/batch/{state['job']}/result", headers=WRITE).json()["partnerships"]


def test_only_the_owner_read_with_a_write_key_shows_the_contact(state):
    c = state["client"]
    sid = state["sid"]
    expected = next(r["contact_email"] for r in state["records"] if r["school_id"] == sid)
    r = c.get(f"/schools/{sid}/private", headers=WRITE)
    assert r.status_code == 200 and r.json()["contact_email"] == expected
    assert c.get(f"/schools/{sid}/private", headers={"X-API-Key": READ_KEY}).status_code == 403
    assert "contact_email" not in c.get(f"/schools/{sid}", headers=WRITE).json()
