"""The API's authorisation matrix (issue 14): every school-scoped operation tried as the owner's session,
another school's session, a staff key, the site key naming the owner, naming another school and naming
nobody, a read key, an admin key, the old write key and anonymously, on SQLite and PostgreSQL. Exactly the
allowed ones succeed (and are audited as who did them); the others get 401/403 and the database is unchanged."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy
from fastapi.testclient import TestClient
from pydantic import BaseModel

from service.app import create_app
from service.auth import Principal, start_session
from service.schemas import SchoolCreate, SchoolWrite
from tests.support.api import (
    ADMIN,
    AUTH_TABLES,
    READ_KEY,
    REGISTRY_TABLES,
    STAFF,
    WRITE,
    db_dump,
    make_settings,
    profile_json,
    registry_records,
    seed,
    site,
)
from tests.support.factories import make_registry

OTHER = "s1"  # another registered school
CANDIDATE = "s2"  # a registered candidate for feedback


@dataclass(frozen=True)
class Op:
    """One operation on school ``target``: its request and the roles that may do it."""

    name: str
    allowed: frozenset[str]
    call: Callable[[TestClient, str, dict[str, str]], httpx.Response]
    writes: bool = True


OWNER_OPS = frozenset({"owner", "staff", "admin", "legacy", "site_owner"})
SITE_STAFF = frozenset({"staff", "admin", "legacy", "site_owner"})
STAFF_ONLY = frozenset({"staff", "admin", "legacy"})


def api_body(seed: int, model: type[BaseModel] = SchoolCreate, **changes: Any) -> dict[str, Any]:
    """A random valid profile as a body of ``model`` (only the fields it declares)."""
    body = profile_json(make_registry(1, seed=seed)[0]) | changes
    return {k: v for k, v in body.items() if k in model.model_fields}


def full_body(target: str) -> dict[str, Any]:
    return api_body(11, SchoolWrite, name=f"Replaced {target}")


OPS = [
    Op("PATCH school", OWNER_OPS, lambda c, t, h: c.patch(f"/v1/schools/{t}", json={"capacity": 7}, headers=h)),
    Op("PUT school", OWNER_OPS, lambda c, t, h: c.put(f"/v1/schools/{t}", json=full_body(t), headers=h)),
    Op("GET private", OWNER_OPS, lambda c, t, h: c.get(f"/v1/schools/{t}/private", headers=h), writes=False),
    Op(
        "POST feedback",
        OWNER_OPS,
        lambda c, t, h: c.post(
            "/v1/feedback", json={"school_id": t, "candidate_id": CANDIDATE, "decision": "decline"}, headers=h
        ),
    ),
    Op("GET feedback", OWNER_OPS, lambda c, t, h: c.get("/v1/feedback", params={"school_id": t}, headers=h), False),
    Op("GET all feedback", STAFF_ONLY, lambda c, t, h: c.get("/v1/feedback", headers=h), writes=False),
    Op("DELETE school", SITE_STAFF, lambda c, t, h: c.delete(f"/v1/schools/{t}", headers=h)),
    Op(
        "POST partnership",
        STAFF_ONLY,
        lambda c, t, h: c.post("/v1/partnerships", json={"school_a": t, "school_b": f"{t}-partner"}, headers=h),
    ),
    Op("GET audit", STAFF_ONLY, lambda c, t, h: c.get("/v1/audit", headers=h), writes=False),
    Op("GET batch jobs", STAFF_ONLY, lambda c, t, h: c.get("/v1/batch", headers=h), writes=False),
    Op("POST import", STAFF_ONLY, lambda c, t, h: c.post("/v1/schools/import", json=[], headers=h)),
]


def session_headers(client: TestClient, school_id: str) -> dict[str, str]:
    """A real session for a user of ``school_id`` (as the page's sign-in makes one): cookie and CSRF header."""
    registry = client.app.state.registry
    principal = Principal("school", school_id, f"head@{school_id}.example", "session")
    session_id, csrf = start_session(client.app.state.settings, registry.sessions, principal)
    return {"Cookie": f"pm_session={session_id}", "X-CSRF-Token": csrf}


def headers_of(client: TestClient, who: str, target: str) -> dict[str, str]:
    return {
        "owner": lambda: session_headers(client, target),
        "other_school": lambda: session_headers(client, OTHER),
        "staff": lambda: STAFF,
        "admin": lambda: ADMIN,
        "legacy": lambda: WRITE,
        "site_owner": lambda: site(target),
        "site_other": lambda: site(OTHER),
        "site_nobody": lambda: site(None),
        "read_key": lambda: {"X-API-Key": READ_KEY},
        "anonymous": lambda: {},
    }[who]()


WHO = ["owner", "other_school", "staff", "admin", "legacy", "site_owner", "site_other", "site_nobody", "read_key"]
WHO += ["anonymous"]


@pytest.fixture
def client(tmp_path, database_url):
    with TestClient(create_app(make_settings(tmp_path, database_url=database_url))) as c:
        seed(c, registry_records(12, seed=5))
        yield c


def new_target(client: TestClient, n: int) -> str:
    """A fresh registered school (and a partner-to-be), registered by staff, so every attempt starts alike."""
    for school_id in (f"t{n}", f"t{n}-partner"):
        p = api_body(100 + n, school_id=school_id, capacity=3, active=True)
        r = client.post("/v1/schools", json=p, headers=STAFF)
        assert r.status_code == 201, r.text
    return f"t{n}"


def test_exactly_the_allowed_roles_succeed_and_refusals_change_nothing(client, database_url):
    wrong: list[str] = []
    n = 0
    for op in OPS:
        for who in WHO:
            n += 1
            target = new_target(client, n)
            headers = headers_of(client, who, target)  # the owner's session exists before the snapshot
            before = db_dump(database_url, REGISTRY_TABLES + AUTH_TABLES)
            r = op.call(client, target, headers)
            if who in op.allowed:
                if r.status_code not in (200, 201, 204) and not (op.name == "POST import" and r.status_code == 422):
                    wrong.append(f"{op.name} as {who}: expected success, got {r.status_code} {r.text[:200]}")
                continue
            expected = 401 if who == "anonymous" else 403
            after = db_dump(database_url, REGISTRY_TABLES + AUTH_TABLES)
            if r.status_code != expected:
                wrong.append(f"{op.name} as {who}: expected {expected}, got {r.status_code} {r.text[:200]}")
            elif not r.json()["detail"] or r.headers["content-type"] != "application/problem+json":
                wrong.append(f"{op.name} as {who}: the refusal is not a problem with a detail")
            if after != before:
                changed = [t for t in before if before[t] != after[t]]
                wrong.append(f"{op.name} as {who}: refused, but tables {changed} changed")
    assert not wrong, "\n".join(wrong)


def test_writes_are_audited_as_who_made_them_acting_for_whom(client):
    target = new_target(client, 1)
    owner = session_headers(client, target)
    assert client.patch(f"/v1/schools/{target}", json={"capacity": 5}, headers=owner).status_code == 200
    assert client.patch(f"/v1/schools/{target}", json={"capacity": 6}, headers=site(target)).status_code == 200
    feedback = {"school_id": target, "candidate_id": CANDIDATE, "decision": "accept"}
    fid = client.post("/v1/feedback", json=feedback, headers=STAFF).json()["id"]
    rows = client.get("/v1/audit", params={"target": target}, headers=STAFF).json()["items"]
    got = [(r["action"], r["role"], r["acting_for"], r["subject"]) for r in rows]
    assert got[0] == ("feedback.accept", "staff", None, got[0][3]) and got[0][3].startswith("staff key sha256:")
    assert got[1][:3] == ("school.patch", "site", target) and got[1][3].startswith("site key sha256:")
    assert got[2] == ("school.patch", "school", target, f"head@{target}.example")
    assert got[3][:2] == ("school.create", "staff")
    assert rows[0]["targets"] == [target, CANDIDATE, f"feedback:{fid}"]
    assert all(r["address"] == "testclient" for r in rows)
    assert all("key-for-tests" not in str(r) for r in rows)  # a key's label, never the key


def test_a_session_write_without_the_csrf_token_is_refused(client, database_url):
    target = new_target(client, 1)
    headers = session_headers(client, target)
    before = db_dump(database_url)
    for token in (None, "forged-token", headers["X-CSRF-Token"][:-1]):
        h = {"Cookie": headers["Cookie"]} | ({"X-CSRF-Token": token} if token else {})
        r = client.patch(f"/v1/schools/{target}", json={"capacity": 5}, headers=h)
        assert r.status_code == 403 and "X-CSRF-Token" in r.json()["detail"], r.text
    assert db_dump(database_url) == before
    assert client.get(f"/v1/schools/{target}/private", headers={"Cookie": headers["Cookie"]}).status_code == 200


def test_unknown_key_and_acting_for_on_a_non_site_key_are_clear_errors(client):
    r = client.patch("/v1/schools/s0", json={"capacity": 5}, headers={"X-API-Key": "no-such-key-at-all"})
    assert r.status_code == 403 and "not one this service knows" in r.json()["detail"]
    r = client.patch("/v1/schools/s0", json={"capacity": 5}, headers=STAFF | {"X-Acting-For": "s0"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "X-Acting-For"
    r = client.patch("/v1/schools/s0", json={"capacity": 5}, headers=site("x" * 65))
    assert r.status_code == 422 and "1 to 64" in r.json()["errors"][0]["message"]
    r = client.patch("/v1/schools/s0", json={"capacity": 5}, headers=site(None))
    assert r.status_code == 403 and "X-Acting-For" in r.json()["detail"]


def test_a_site_key_registers_only_the_school_it_acts_for(client):
    p = api_body(77, school_id="new-site-school")
    assert client.post("/v1/schools", json=p, headers=site("someone-else")).status_code == 403
    assert client.get("/v1/schools/new-site-school").status_code == 404
    assert client.post("/v1/schools", json=p, headers=site("new-site-school")).status_code == 201


BACKGROUND_THREADS = {"registry-sync", "registry-listen", "outbox-sender", "requests-clock", "exposure-cap"}


def test_resolving_a_key_or_nobody_never_touches_the_database(client):
    """The hot path: suggestions asked anonymously or with a key run no SQL statement (only a cookie does)."""
    statements: list[str] = []
    engine = client.app.state.registry.engine

    def listener(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if threading.current_thread().name not in BACKGROUND_THREADS:  # their polling is not the request's
            statements.append(statement)

    sqlalchemy.event.listen(engine, "before_cursor_execute", listener)
    try:
        for headers in ({}, STAFF, site("s0"), {"X-API-Key": READ_KEY}):
            assert client.get("/v1/schools/s0/suggestions", params={"k": 3}, headers=headers).status_code == 200
        assert statements == []
        cookie = session_headers(client, "s0")["Cookie"]
        statements.clear()
        assert client.get("/v1/schools/s0/private", headers={"Cookie": cookie}).status_code == 200
        assert any("FROM sessions" in s for s in statements)  # a cookie is looked up: the listener does see SQL
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", listener)


# --------------------------------------------------------------------------- keys (only the admin manages them)
KEY_TABLES = ("api_keys",)
KEY_WHO = [*WHO, "made_staff", "made_school", "made_site", "made_reader"]  # keys the admin made, with those roles
KEY_OPS: list[tuple[str, bool, Callable[[TestClient, str, dict[str, str]], httpx.Response]]] = [
    ("POST keys", True, lambda c, k, h: c.post("/v1/keys", json={"name": "new", "role": "staff"}, headers=h)),
    ("GET keys", False, lambda c, k, h: c.get("/v1/keys", params={"include_revoked": True}, headers=h)),
    ("GET key", False, lambda c, k, h: c.get(f"/v1/keys/{k}", headers=h)),
    ("DELETE key", True, lambda c, k, h: c.delete(f"/v1/keys/{k}", headers=h)),
    ("POST rotate", True, lambda c, k, h: c.post(f"/v1/keys/{k}/rotate", json={"grace_minutes": 5}, headers=h)),
]


def made_keys(client: TestClient) -> dict[str, dict[str, str]]:
    """Keys the admin made, one per role, each used once (so a later use records nothing new for a minute)."""
    out = {}
    for role, extra in (("staff", {}), ("school", {"school_id": "s0"}), ("site", {}), ("reader", {})):
        body = {"name": f"matrix {role}", "role": role} | extra
        r = client.post("/v1/keys", json=body, headers=ADMIN)
        assert r.status_code == 201, r.text
        out[f"made_{role}"] = {"X-API-Key": r.json()["key"]} | ({"X-Acting-For": "s0"} if role == "site" else {})
        assert client.get("/v1/keys", headers=out[f"made_{role}"]).status_code == 403  # resolves the key: a use
    return out


def test_only_the_admin_manages_keys_and_refusals_change_nothing(client, database_url):
    made = made_keys(client)
    wrong: list[str] = []
    for name, writes, call in KEY_OPS:
        for who in KEY_WHO:
            victim = client.post("/v1/keys", json={"name": "victim", "role": "reader"}, headers=ADMIN).json()
            headers = made[who] if who in made else headers_of(client, who, "s0")
            tables = REGISTRY_TABLES + AUTH_TABLES + KEY_TABLES
            before = db_dump(database_url, tables)
            r = call(client, victim["id"], headers)
            after = db_dump(database_url, tables)
            if victim["key"] in r.text:
                wrong.append(f"{name} as {who}: the victim key is in the response")
            if who == "admin":
                if r.status_code not in (200, 201):
                    wrong.append(f"{name} as admin: expected success, got {r.status_code} {r.text[:200]}")
                elif writes and after == before:
                    wrong.append(f"{name} as admin: succeeded but changed nothing")
                continue
            expected = 401 if who == "anonymous" else 403
            if r.status_code != expected:
                wrong.append(f"{name} as {who}: expected {expected}, got {r.status_code} {r.text[:200]}")
            if after != before:
                changed = [t for t in before if before[t] != after[t]]
                wrong.append(f"{name} as {who}: refused, but tables {changed} changed")
    assert not wrong, "\n".join(wrong)
    listed = client.get("/v1/keys", params={"include_revoked": True, "limit": 500}, headers=ADMIN).text
    assert not [who for who, h in made.items() if h["X-API-Key"] in listed]  # lists never show a key


# --------------------------------------------------------------------------- every form post of the page
NO_CSRF_TOKEN = {"/ui/session"}  # the site's token exchange: the JWT, signed by the site and short-lived, is the proof
FORM_FIELDS = {"candidate_id": CANDIDATE, "decision": "decline", "school": "s0", "to_school": OTHER, "message": "Hi"}
PATH_VALUES = {"school_id": "s0", "request_id": "1", "action": "accept", "token": "A" * 43}


def page_form_posts(client: TestClient) -> list[str]:
    """The paths of every POST route of the page (``/ui``), path parameters filled in."""
    from fastapi.routing import iter_route_contexts

    paths = set()
    for route in iter_route_contexts(client.app.routes):
        path = route.path_format or ""
        if path.startswith("/ui/") and "POST" in (getattr(route, "methods", None) or ()):
            paths.add(path)
    return sorted(paths)


def test_every_form_post_of_the_page_needs_its_token_and_refusals_change_nothing(client, database_url):
    """Issue 14 item 3: every form post carries a CSRF token (the session's, or the sign-in form's before a
    session exists). A signed-in school's post without it is refused (403) and changes nothing."""
    posts = page_form_posts(client)
    assert {"/ui/schools/{school_id}/feedback", "/ui/sign-out", "/ui/sign-in"} <= set(posts)
    assert set(posts) >= NO_CSRF_TOKEN  # the exception still exists (if it goes, drop it here)
    owner = session_headers(client, "s0")
    wrong = []
    for template in posts:
        if template in NO_CSRF_TOKEN:
            continue
        path = template.format(**PATH_VALUES)
        before = db_dump(database_url, REGISTRY_TABLES + AUTH_TABLES)
        r = client.post(path, data=FORM_FIELDS, headers={"Cookie": owner["Cookie"]}, follow_redirects=False)
        if r.status_code != 403:
            wrong.append(f"POST {template} without a token: expected 403, got {r.status_code}")
        if db_dump(database_url, REGISTRY_TABLES + AUTH_TABLES) != before:
            wrong.append(f"POST {template} without a token changed the database")
    assert not wrong, "\n".join(wrong)
    # the control: the same session with its token may post (so the refusals above were about the token)
    data = FORM_FIELDS | {"csrf_token": owner["X-CSRF-Token"]}
    r = client.post("/ui/schools/s0/feedback", data=data, headers={"Cookie": owner["Cookie"]}, follow_redirects=False)
    assert r.status_code in (200, 303), r.text[:300]
