"""The API's contract with its developers (issue 13): no 500 on a lone UTF-16 surrogate, errors as RFC 9457
problem details, readable operation ids, one way of paging, 405 with every allowed method, open reads declared
open, and every route under ``/v1`` with the old paths still answering."""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException

from features.errors import EncoderError, FeaturesError, FieldError, ProfileFormatError, ProfileValidationError
from matching.errors import ConfigError, DuplicateSchoolError, InfeasibleError, MatchingError, UnknownSchoolError
from service.app import create_app
from service.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    RequestError,
    ServiceError,
    StorageError,
    UnsupportedMediaTypeError,
    install_error_handlers,
)
from service.problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPES
from tests.support.api import (
    ADMIN,
    READ_KEY,
    WRITE,
    good_query_school,
    make_settings,
    registry_records,
    seed,
    site,
)

PAGE_MAX = 37  # a configured max_page_size: the schema must say it, not a hard-coded number
LONE = "\ud800"
JSON = {"content-type": "application/json"}
PROBLEM_KEYS = {"type", "title", "status", "detail", "errors"}


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("contract")
    records = registry_records(60, seed=7)
    settings = make_settings(data_dir, max_page_size=PAGE_MAX, max_body_bytes=64_000)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        seed(c, records)
        sid = good_query_school(c, records, k=2)
        tops = [s["school_id"] for s in c.get(f"/v1/schools/{sid}/suggestions", params={"k": 2}).json()["suggestions"]]
        assert c.patch(f"/v1/schools/{sid}", json={"capacity": 9}, headers=WRITE).is_success
        r = c.post("/v1/partnerships", json={"school_a": sid, "school_b": tops[0]}, headers=WRITE)
        assert r.status_code == 201, r.text
        feedback = {"school_id": sid, "candidate_id": tops[1], "decision": "decline"}
        assert c.post("/v1/feedback", json=feedback, headers=WRITE).status_code == 201
        job = c.post("/v1/batch", json={"options": {"top_k": 3}}, headers=WRITE).json()["id"]
        key_id = c.post("/v1/keys", json={"name": "contract", "role": "reader"}, headers=ADMIN).json()["id"]
        schema = c.get("/openapi.json").json()
        params = {
            "school_id": sid, "other_id": tops[1], "partnership_id": str(r.json()["id"]), "job_id": job,
            "key_id": key_id, "request_id": "1",
        }  # fmt: skip
        yield {"client": c, "records": records, "schema": schema, "params": {**params, "slug": "not-found"}}


def fill(path: str, params: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: params[m.group(1)], path)


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, item in schema["paths"].items() for m, op in item.items()]


def assert_problem(r, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE), r.headers
    body = r.json()
    assert set(body) >= PROBLEM_KEYS and body["status"] == status, body
    assert isinstance(body["title"], str) and body["title"] and isinstance(body["detail"], str) and body["detail"]
    return body


# --- 1. lone UTF-16 surrogates -------------------------------------------------------------------------------


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in node:  # Optional[X]: the non-null branch
        branches = [resolve(schema, b) for b in node["anyOf"] if b.get("type") != "null"]
        node = branches[0] if branches else node
    return node


def surrogate_bodies(schema: dict[str, Any], body: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(field, body) for every string-holding field of an object body (one level of nesting): the field holds
    a lone surrogate, as a string or as the string in a list."""
    out: list[tuple[str, Any]] = []
    node = resolve(schema, body)
    for name, prop in node.get("properties", {}).items():
        prop = resolve(schema, prop)
        field = prefix + name
        if prop.get("type") == "string":
            out.append((field, {name: LONE}))
        elif prop.get("type") == "array" and resolve(schema, prop.get("items", {})).get("type") in ("string", "array"):
            inner = resolve(schema, prop["items"])
            out.append((field, {name: [LONE] if inner.get("type") == "string" else [[LONE, "x"]]}))
        elif prop.get("type") == "object" and "properties" in prop and not prefix:
            out += [(f, {name: b}) for f, b in surrogate_bodies(schema, prop, field + ".")]
    return out


def auth_for(path: str, school_id: str) -> dict[str, str]:
    """Who may call ``path``: keys are the admin's, requests the schools' own (the site acting for one)."""
    if path.startswith("/v1/keys"):
        return ADMIN
    return site(school_id) if path.startswith("/v1/partnership-requests") else WRITE


def test_lone_utf16_surrogate_is_a_422_naming_the_field_on_every_route(state):
    c, schema = state["client"], state["schema"]
    sent = set()
    for method, path, op in operations(schema):
        content = op.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        body_schema = content["application/json"]["schema"]
        array = resolve(schema, body_schema).get("type") == "array"  # the bulk import: a list of schools
        cases = surrogate_bodies(schema, body_schema["items"] if array else body_schema)
        assert cases, (method, path)
        url = fill(path, state["params"])
        for field, body in cases:
            bodies = [("application/json", json.dumps([body] if array else body))]
            if array:  # the same rows as JSON lines
                bodies.append(("application/x-ndjson", json.dumps(body) + "\n"))
            for media_type, text in bodies:
                assert "\\ud800" in text  # json.dumps writes the surrogate as an escape, as a client would
                auth = auth_for(path, state["params"]["school_id"])
                r = c.request(method, url, content=text, headers={**auth, "content-type": media_type})
                problem = assert_problem(r, 422)
                fields = [e["field"] for e in problem["errors"]]
                name = field.rsplit(".", 1)[-1]
                assert any(f == field or f.startswith(field + ".") or f.endswith(name) for f in fields), (
                    method, path, field, problem)  # fmt: skip
                assert all("\ud800" not in e["field"] + e["message"] + (e["value"] or "") for e in problem["errors"])
                sent.add((method, path))
    assert {("POST", "/v1/schools"), ("PATCH", "/v1/schools/{school_id}"), ("PUT", "/v1/schools/{school_id}"),
            ("POST", "/v1/schools/import"), ("POST", "/v1/feedback"), ("POST", "/v1/partnerships"),
            ("POST", "/v1/batch"), ("POST", "/v1/suggestions")} <= sent  # fmt: skip


def test_lone_surrogate_in_a_keyless_suggestion_request_names_the_city(state):
    profile = {**state["records"][0], "school_id": "visitor", "city": "\udfff"}
    r = state["client"].post("/v1/suggestions", content=json.dumps({"profile": profile}), headers=JSON)
    problem = assert_problem(r, 422)
    assert [e["field"] for e in problem["errors"]] == ["profile.city"] and problem["errors"][0]["value"] == "\\udfff"


def test_lone_surrogate_as_an_unknown_key_is_a_422(state):
    r = state["client"].post(
        "/v1/feedback", content='{"\\ud800": 1}', headers={**WRITE, "content-type": "application/json"}
    )
    problem = assert_problem(r, 422)
    assert [(e["field"], e["value"]) for e in problem["errors"]] == [("body", "\\ud800")]  # the key itself


def test_json_syntax_error_names_the_body_not_a_character_offset(state):
    r = state["client"].post("/v1/schools", content=b'{"name": ', headers={**WRITE, "content-type": "application/json"})
    problem = assert_problem(r, 422)
    assert [e["field"] for e in problem["errors"]] == ["body"]
    assert "not valid JSON at character 9" in problem["errors"][0]["message"]


# --- 2. problem details ----------------------------------------------------------------------------------------


def test_errors_are_problem_details_for_every_status_the_service_returns(state):
    c, p = state["client"], state["params"]
    sid = p["school_id"]
    school = next(r for r in state["records"] if r["school_id"] == sid)
    assert_problem(c.post("/v1/schools", json=school), 401)
    assert_problem(c.post("/v1/schools", json=school, headers={"X-API-Key": READ_KEY}), 403)
    body = assert_problem(c.get("/v1/schools/ghost"), 404)
    assert body["errors"][0]["field"] == "school_id" and body["errors"][0]["value"] == "ghost"
    assert_problem(c.get("/v1/nowhere"), 404)
    assert_problem(c.delete("/v1/schools", headers=WRITE), 405)
    assert_problem(c.post("/v1/schools", json=school, headers=WRITE), 409)
    assert_problem(
        c.post("/v1/schools", content=b"x" * 70_000, headers={**WRITE, "content-type": "application/json"}), 413
    )
    body = assert_problem(
        c.post("/v1/schools/import", content=b"<xml/>", headers={**WRITE, "content-type": "text/xml"}), 415
    )
    assert body["errors"][0]["field"] == "content-type" and body["errors"][0]["value"] == "text/xml"
    body = assert_problem(c.get(f"/v1/schools/{sid}/suggestions", params={"k": "many"}), 422)
    assert body["errors"][0]["field"] == "k" and body["type"] == "/v1/problems/invalid-request"
    r = c.put(f"/v1/schools/{sid}", json={k: v for k, v in school.items() if k != "school_id"},
              headers={**WRITE, "If-Match": '"999999"'})  # fmt: skip
    if r.status_code != 200:  # a stale If-Match (issue 12) is refused with 412
        assert_problem(r, 412)


ROOTS: list[tuple[Exception, int]] = [
    (ServiceError("a bad request"), 400),
    (AuthError(401, "no key"), 401),
    (AuthError(403, "wrong key"), 403),
    (NotFoundError("gone"), 404),
    (UnknownSchoolError("ghost"), 404),
    (ConflictError("taken"), 409),
    (DuplicateSchoolError("twice"), 409),
    (IntegrityError("INSERT", {}, Exception("UNIQUE")), 409),
    (UnsupportedMediaTypeError(("text/csv",), "text/xml"), 415),
    (RequestError("k", "must be at most 5", 6), 422),
    (ConfigError("mode: unknown"), 422),
    (InfeasibleError("no pair"), 422),
    (MatchingError("cannot"), 422),
    (FeaturesError("bad"), 422),
    (ProfileFormatError("upload: not JSON"), 422),
    (ProfileValidationError([FieldError("city", "bad \ud800", "\udfff", 1, "s1")]), 422),
    (HTTPException(429, "slow down", headers={"Retry-After": "3"}), 429),
    (EncoderError("model gone"), 503),
    (StorageError("the database", OSError("disk full")), 503),
    (OperationalError("SELECT", {}, Exception("locked")), 503),
    (sqlite3.OperationalError("database is locked"), 503),
    (OSError(28, "No space left on device"), 503),
    (RuntimeError("a bug"), 500),
]


def test_every_error_root_maps_to_problem_details_in_one_place(state):
    """Every error root raised in a route answers as problem details whose type describes itself."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/raise/{i}")
    def raise_it(i: int) -> None:
        raise ROOTS[i][0]

    with TestClient(app, raise_server_exceptions=False) as c:
        for i, (exc, status) in enumerate(ROOTS):
            body = assert_problem(c.get(f"/raise/{i}"), status)
            assert all("\ud800" not in json.dumps(e, ensure_ascii=False) for e in body["errors"]), exc
            if status in {t.status for t in PROBLEM_TYPES.values()}:
                described = state["client"].get(body["type"])  # the type URI answers with what it means
                assert described.status_code == 200 and described.json()["status"] == status, (exc, body)
                assert described.json()["title"] == body["title"]
    assert {s for _, s in ROOTS} >= {400, 401, 403, 404, 409, 415, 422, 429, 500, 503}


def test_error_responses_are_declared_as_problem_details_in_the_schema(state):
    for method, path, op in operations(state["schema"]):
        for code, response in op["responses"].items():
            if int(code) >= 400 and path != "/v1/ready":  # readiness answers 503 with its own body
                assert list(response.get("content", {})) == [PROBLEM_MEDIA_TYPE], (method, path, code)


# --- 3. operation ids ------------------------------------------------------------------------------------------


def test_operation_ids_are_the_route_function_names_and_unique(state):
    ids = [op["operationId"] for _, _, op in operations(state["schema"])]
    assert len(ids) == len(set(ids)) >= 25
    assert all(re.fullmatch(r"[a-z][a-z_]*[a-z]", i) for i in ids), ids
    by_path = {(m, p): op["operationId"] for m, p, op in operations(state["schema"])}
    assert by_path[("GET", "/v1/schools/{school_id}/suggestions")] == "suggest_for_school"
    assert by_path[("POST", "/v1/suggestions")] == "suggest_for_profile"


# --- 4. one way of paging --------------------------------------------------------------------------------------


def paged(op: dict[str, Any]) -> bool:
    return {"limit", "offset"} <= {x["name"] for x in op.get("parameters", [])}


def test_every_list_pages_alike_and_its_schema_maximum_is_what_the_server_accepts(state):
    c, schema = state["client"], state["schema"]
    # the requests list needs the school whose requests it lists: its paging is tested in test_requests_api
    lists = [(p, op) for m, p, op in operations(schema) if m == "GET" and paged(op) and p != "/v1/partnership-requests"]
    assert {p for p, _ in lists} == {
        "/v1/schools", "/v1/partnerships", "/v1/feedback", "/v1/batch", "/v1/audit", "/v1/keys",
    }  # fmt: skip
    for path, op in lists:
        limit = next(x for x in op["parameters"] if x["name"] == "limit")
        assert limit["schema"]["maximum"] == PAGE_MAX, path
        h = ADMIN if path == "/v1/keys" else WRITE
        ok = c.get(path, params={"limit": PAGE_MAX, "offset": 0}, headers=h)
        assert ok.status_code == 200, (path, ok.text)
        page = ok.json()
        assert {"items", "total", "offset", "limit"} <= set(page) and (page["offset"], page["limit"]) == (0, PAGE_MAX)
        assert page["total"] >= len(page["items"]) >= 1, path
        body = resolve(schema, op["responses"]["200"]["content"]["application/json"]["schema"])
        assert {"items", "total", "offset", "limit"} <= set(body["required"]), path
        problem = assert_problem(c.get(path, params={"limit": PAGE_MAX + 1}, headers=h), 422)
        assert problem["errors"][0]["field"] == "limit" and str(PAGE_MAX) in problem["errors"][0]["message"]
    assert c.get("/v1/schools", params={"limit": 5, "offset": 3}).json()["offset"] == 3
    assert c.get("/v1/schools").json()["limit"] == limit["schema"]["default"] == min(50, PAGE_MAX)  # default fits


def test_k_maximum_in_the_schema_is_the_configured_max_k(state):
    c, schema = state["client"], state["schema"]
    op = schema["paths"]["/v1/schools/{school_id}/suggestions"]["get"]
    max_k = next(x for x in op["parameters"] if x["name"] == "k")["schema"]["maximum"]
    assert max_k == c.app.state.settings.max_k
    sid = state["params"]["school_id"]
    assert c.get(f"/v1/schools/{sid}/suggestions", params={"k": max_k}).status_code == 200
    assert_problem(c.get(f"/v1/schools/{sid}/suggestions", params={"k": max_k + 1}), 422)
    assert schema["components"]["schemas"]["ProfileSuggestRequest"]["properties"]["k"]["maximum"] == max_k


# --- 5. 405 and open reads -------------------------------------------------------------------------------------


def template_regex(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)) + "$")


def test_405_allow_lists_every_method_of_the_path(state):
    c, schema = state["client"], state["schema"]
    for path in schema["paths"]:
        url = fill(path, state["params"])
        allowed = {m.upper() for p, item in schema["paths"].items() if template_regex(p).match(url) for m in item}
        for old in (False, True):
            r = c.request("TRACE", url.removeprefix("/v1") if old else url, headers=WRITE)
            assert_problem(r, 405)
            assert set(r.headers["allow"].split(", ")) == allowed, (url, r.headers["allow"])
            assert all(m in r.json()["detail"] for m in allowed)


READS = {"list_schools", "read_school", "suggest_for_school", "suggest_for_profile", "explain_pair",
         "list_partnerships", "read_partnership", "health", "ready", "vocabulary", "problem_type"}  # fmt: skip


def test_reads_are_declared_open_when_open_reads_are_on(state, tmp_path):
    ops = {op["operationId"]: op for _, _, op in operations(state["schema"])}
    assert set(ops) >= READS
    for op_id, op in ops.items():
        assert ("security" not in op) == (op_id in READS), op_id
    with TestClient(create_app(make_settings(tmp_path, open_reads=False))) as closed:
        keyed = {op["operationId"]: op for _, _, op in operations(closed.get("/openapi.json").json())}
        assert all("security" in keyed[o] for o in READS - {"health", "ready", "vocabulary", "problem_type"})
        assert closed.get("/v1/schools").status_code == 401


# --- 6. /v1 ----------------------------------------------------------------------------------------------------


def test_every_api_route_is_under_v1(state):
    paths = list(state["schema"]["paths"])
    assert paths and all(p.startswith("/v1/") for p in paths), paths
    c = state["client"]
    assert c.get("/docs").status_code == 200 and c.get("/v1/docs").status_code == 404
    assert c.get("/ui").status_code in (200, 307) and c.get("/v1/ui").status_code == 404


def test_old_unversioned_paths_still_answer_marked_deprecated(state):
    c, p = state["client"], state["params"]
    sid = p["school_id"]
    reads = [("/schools", {"limit": 3}), (f"/schools/{sid}", {}), (f"/schools/{sid}/suggestions", {"k": 2}),
             ("/partnerships", {}), (f"/partnerships/{p['partnership_id']}", {}), ("/vocabulary", {})]  # fmt: skip
    for path, params in reads:
        old, new = c.get(path, params=params), c.get("/v1" + path, params=params)
        assert old.status_code == new.status_code == 200, (path, old.text)
        assert old.json() == new.json() or path.endswith("/suggestions")  # suggestions carry a fresh query id
        assert old.headers["deprecation"].startswith("@") and "deprecation" not in new.headers
        assert old.headers["link"] == f'</v1{path}>; rel="successor-version"'
    r = c.post("/feedback", json={"school_id": sid, "candidate_id": p["other_id"], "decision": "accept"}, headers=WRITE)
    assert r.status_code == 201 and "deprecation" in r.headers
    assert_problem(c.get("/schools/ghost"), 404)
    for probe in ("/health", "/ready"):  # load balancers' probes stay at the root, not deprecated
        r = c.get(probe)
        assert r.status_code == 200 and "deprecation" not in r.headers
