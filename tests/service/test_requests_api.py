"""Partnership requests through the API (issue 15): the journey, the errors, who may do what, the clock,
mutual interest and staff's export, on a real app (SQLite; the journey and the matrix on PostgreSQL too)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy
from fastapi.testclient import TestClient

from service import db, introductions
from service.app import create_app
from tests.service.requests_support import V1, ask, school, seed, session
from tests.support.api import STAFF, WRITE, make_settings, site


def outbox(client: TestClient) -> list[tuple[str, str, str, str]]:
    """(kind, to, subject, text) of every queued mail, oldest first."""
    engine = client.app.state.registry.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(sqlalchemy.text("SELECT kind, to_addr, subject, body_text FROM outbox ORDER BY id"))
        return [tuple(r) for r in rows]  # type: ignore[misc]


@pytest.fixture
def client(tmp_path, database_url):
    with TestClient(create_app(make_settings(tmp_path, database_url=database_url, outbox_poll_seconds=0))) as c:
        seed(c, [school("u0", "GB"), school("u1", "GB"), school("k0"), school("k1")])
        yield c


@pytest.fixture
def lite(tmp_path):
    settings = make_settings(tmp_path, outbox_poll_seconds=0, max_open_requests=2)
    with TestClient(create_app(settings)) as c:
        seed(c, [school("u0", "GB", capacity=3), school("u1", "GB"), *(school(f"k{i}") for i in range(4))])
        yield c


def test_the_journey_from_request_to_partnership_and_contacts(client):
    made = ask(client, "u0", "k0", "We love <b>music</b> & climate")
    assert made.status_code == 201, made.text
    req = made.json()
    assert req["state"] == "open" and req["from_name"] == "School u0" and req["message"].startswith("We love <b>")
    rid = req["id"]
    assert [m[:2] for m in outbox(client)] == [("request.new", "head-k0@school.example")]

    inbox = client.get(V1, params={"school_id": "k0"}, headers=site("k0"))
    assert inbox.status_code == 200, inbox.text
    [item] = inbox.json()["items"]
    assert item["rank"] == 1 and item["request"]["id"] == rid and item["allowed"] and item["score"] > 0
    assert "music" in item["reasons"]["shared_themes"] and item["reasons"]["text"]
    assert item["school"]["school_id"] == "u0" and "contact_email" not in item["school"]
    out = client.get(V1, params={"school_id": "u0", "box": "outgoing"}, headers=site("u0")).json()
    assert [r["id"] for r in out["items"]] == [rid]

    before = client.get(f"{V1}/{rid}/contact", headers=site("u0"))
    assert before.status_code == 403 and "only after both agreed" in before.json()["detail"]
    assert "head-k0" not in before.text

    accepted = client.post(f"{V1}/{rid}/accept", headers=site("k0"))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["state"] == "accepted" and accepted.json()["partnership_id"]
    assert client.get("/v1/schools/u0").json()["current_partners"] == ["k0"]
    assert client.get("/v1/schools/k0").json()["current_partners"] == ["u0"]
    for me, other in (("u0", "k0"), ("k0", "u0")):
        c = client.get(f"{V1}/{rid}/contact", headers=site(me))
        assert c.status_code == 200 and c.json()["contact_email"] == f"head-{other}@school.example"
    mails = {m[1]: m for m in outbox(client) if m[0] == "request.accepted"}
    assert set(mails) == {"head-u0@school.example", "head-k0@school.example"}
    assert "head-k0@school.example" in mails["head-u0@school.example"][3]  # the other's contact
    assert "Shared themes" in mails["head-k0@school.example"][3]  # and why they were matched

    again = client.post(f"{V1}/{rid}/accept", headers=site("k0"))
    assert again.status_code == 409 and "accepted" in again.json()["detail"]
    for action in ("decline", "withdraw"):
        who = "k0" if action == "decline" else "u0"
        r = client.post(f"{V1}/{rid}/{action}", headers=site(who))
        assert r.status_code == 409 and "'accepted' is final" in r.json()["detail"], r.text


def test_requests_that_are_refused_say_why(lite):
    blocked = ask(lite, "u0", "u1")
    assert blocked.status_code == 409
    assert "cross_border" in blocked.json()["detail"] and blocked.json()["errors"][0]["field"] == "to_school"
    long = ask(lite, "u0", "k0", "x" * 1001)
    assert long.status_code == 422 and long.json()["errors"][0]["field"] == "message"
    control = ask(lite, "u0", "k0", "bell\x07")
    assert control.status_code == 422 and "U+0007" in control.json()["detail"]
    assert ask(lite, "u0", "u0").status_code == 422
    unknown = ask(lite, "u0", "nowhere")
    assert unknown.status_code == 404 and "nowhere" in unknown.json()["detail"]

    assert ask(lite, "u0", "k0").status_code == 201
    dup = ask(lite, "k0", "u0")  # either way round
    assert dup.status_code == 409 and "already links" in dup.json()["detail"]
    assert ask(lite, "u0", "k1").status_code == 201
    third = ask(lite, "u0", "k2")
    assert third.status_code == 409 and "max_open_requests=2" in third.json()["detail"]

    rid = lite.get(V1, params={"school_id": "k0"}, headers=site("k0")).json()["items"][0]["request"]["id"]
    bad = lite.post(f"{V1}/{rid}/decline", json={"reason": "busy"}, headers=site("k0"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].endswith("reason")
    ok = lite.post(f"{V1}/{rid}/decline", json={"reason": "no_places"}, headers=site("k0"))
    assert ok.status_code == 200 and ok.json()["decline_reason"] == "no_places"
    assert ask(lite, "u0", "k2").status_code == 201  # a place among the open ones is free again


def test_accept_without_a_free_place_names_the_school(lite):
    rid = ask(lite, "u1", "k0").json()["id"]
    r = lite.post("/v1/partnerships", json={"school_a": "u1", "school_b": "k3"}, headers=WRITE)
    assert r.status_code == 201, r.text  # u1's only place is taken meanwhile
    full = lite.post(f"{V1}/{rid}/accept", headers=site("k0"))
    assert full.status_code == 409 and "school 'u1' has no free place" in full.json()["detail"]
    assert lite.get(f"{V1}/{rid}", headers=site("k0")).json()["state"] == "open"
    assert lite.get("/v1/schools/k0").json()["current_partners"] == []


ROLES = ("sender", "receiver", "other", "staff", "site_sender", "site_receiver", "site_other", "site_none", "anon")


def headers_of(client: TestClient, role: str) -> dict[str, str]:
    return {
        "sender": lambda: session(client, "u0"), "receiver": lambda: session(client, "k0"),
        "other": lambda: session(client, "k1"), "staff": lambda: STAFF, "site_sender": lambda: site("u0"),
        "site_receiver": lambda: site("k0"), "site_other": lambda: site("k1"), "site_none": lambda: site(None),
        "anon": lambda: {},
    }[role]()  # fmt: skip


ALLOWED = {
    "create": {"sender", "site_sender"},
    "read": {"sender", "receiver", "staff", "site_sender", "site_receiver"},
    "incoming": {"receiver", "staff", "site_receiver"},
    "accept": {"receiver", "site_receiver"},
    "decline": {"receiver", "site_receiver"},
    "withdraw": {"sender", "site_sender"},
    "export": {"staff"},
}


def call(client: TestClient, op: str, rid: int | None, h: dict[str, str]):
    return {
        "create": lambda: ask(client, "u0", "k0", headers=h),
        "read": lambda: client.get(f"{V1}/{rid}", headers=h),
        "incoming": lambda: client.get(V1, params={"school_id": "k0"}, headers=h),
        "accept": lambda: client.post(f"{V1}/{rid}/accept", headers=h),
        "decline": lambda: client.post(f"{V1}/{rid}/decline", json={}, headers=h),
        "withdraw": lambda: client.post(f"{V1}/{rid}/withdraw", headers=h),
        "export": lambda: client.get(f"{V1}/export.csv", headers=h),
    }[op]()


@pytest.mark.parametrize("op", sorted(ALLOWED))
def test_who_may_do_what(client, op):
    for role in ROLES:
        # a fresh open request u0 -> k0 for each try (the one before is withdrawn by the sender)
        for r in client.get(V1, params={"school_id": "u0", "box": "outgoing", "state": "open"}, headers=STAFF).json()[
            "items"
        ]:
            assert client.post(f"{V1}/{r['id']}/withdraw", headers=site("u0")).status_code == 200
        rid = None if op == "create" else ask(client, "u0", "k0").json()["id"]
        r = call(client, op, rid, headers_of(client, role))
        if role in ALLOWED[op]:
            assert r.status_code in (200, 201), f"{op} as {role}: {r.status_code} {r.text}"
            if op == "accept":  # undo, so the next role finds both places free
                pid = r.json()["partnership_id"]
                assert client.post(f"/v1/partnerships/{pid}/end", headers=STAFF).status_code == 200
        else:
            want = 401 if role == "anon" else 403
            assert r.status_code == want, f"{op} as {role}: {r.status_code} {r.text}"
            assert "head-" not in r.text  # no contact leaks in a refusal
        if op == "create" and r.status_code == 201:
            assert client.post(f"{V1}/{r.json()['id']}/withdraw", headers=site("u0")).status_code == 200


def test_contacts_only_for_the_two_schools_after_consent(lite):
    rid = ask(lite, "u0", "k0").json()["id"]
    assert lite.post(f"{V1}/{rid}/accept", headers=site("k0")).status_code == 200
    for h, want in ((site("k1"), 403), ({}, 401), (site("u0"), 200), (STAFF, 200)):
        assert lite.get(f"{V1}/{rid}/contact", headers=h).status_code == want
    registry = lite.app.state.registry
    from service.auth import Principal

    k1 = Principal(role="site", school_id="k1", subject="site", via="api_key")
    with pytest.raises(Exception, match="only after both agreed"):
        introductions.contact_of(registry, k1, "k1", "u0")
    u0 = Principal(role="school", school_id="u0", subject="u", via="session")
    assert [c.school_id for c in introductions.partner_contacts(registry, u0, "u0")] == ["k0"]


def test_requests_expire_once_and_remind_once(lite):
    registry = lite.app.state.registry
    rid = ask(lite, "u0", "k0").json()["id"]
    now = db.utcnow()
    assert introductions.expire_and_remind(registry, now) == (0, 0)
    assert introductions.expire_and_remind(registry, now + timedelta(days=15)) == (0, 1)
    assert introductions.expire_and_remind(registry, now + timedelta(days=16)) == (0, 0)  # one reminder only
    assert introductions.expire_and_remind(registry, now + timedelta(days=22)) == (1, 0)
    assert introductions.expire_and_remind(registry, now + timedelta(days=23)) == (0, 0)
    assert lite.get(f"{V1}/{rid}", headers=site("u0")).json()["state"] == "expired"
    kinds = [(m[0], m[1]) for m in outbox(lite)]
    assert kinds == [("request.new", "head-k0@school.example"), ("request.reminder", "head-k0@school.example"),
                     ("request.expired", "head-u0@school.example")]  # fmt: skip
    r = lite.post(f"{V1}/{rid}/accept", headers=site("k0"))
    assert r.status_code == 409 and "expired" in r.json()["detail"]


def test_exposure_counts_unanswered_incoming_requests(lite):
    registry = lite.app.state.registry
    ask(lite, "u0", "k0")
    ask(lite, "u1", "k0")
    rid = ask(lite, "u0", "k1").json()["id"]
    lite.post(f"{V1}/{rid}/decline", json={}, headers=site("k1"))
    assert introductions.exposure(registry) == {"k0": 2}


def test_mutual_interest_tells_both_once(lite):
    for a, b in (("u0", "k0"), ("k0", "u0"), ("u0", "k0")):
        body = {"school_id": a, "candidate_id": b, "decision": "accept"}
        assert lite.post("/v1/feedback", json=body, headers=site(a)).status_code in (200, 201)
    mutual = [m for m in outbox(lite) if m[0] == "mutual"]
    assert sorted(m[1] for m in mutual) == ["head-k0@school.example", "head-u0@school.example"]


def test_staff_export_has_states_response_times_and_rates(lite):
    a = ask(lite, "u0", "k0").json()["id"]
    b = ask(lite, "u1", "k1").json()["id"]
    ask(lite, "u1", "k2")
    lite.post(f"{V1}/{a}/accept", headers=site("k0"))
    lite.post(f"{V1}/{b}/decline", json={"reason": "language"}, headers=site("k1"))
    rows = lite.get(f"{V1}/export.csv", headers=STAFF)
    assert rows.status_code == 200 and rows.headers["content-type"].startswith("text/csv")
    lines = rows.text.strip().splitlines()
    assert lines[0].startswith("id,from_school,from_country,to_school,to_country,state,decline_reason")
    assert len(lines) == 4 and ",declined,language," in lines[2]
    rates = lite.get(f"{V1}/rates.csv", headers=STAFF).text.strip().splitlines()
    assert rates[1].startswith("GB,KE,3,1,1,0,0,1,0.5,")
    assert lite.get(f"{V1}/rates.csv", headers=site("u0")).status_code == 403


def test_answers_are_outcomes_that_learn_weights_reads(lite):
    from matching.evaluation.loaders import load_feedback_db, load_requests_db

    registry = lite.app.state.registry
    yes = ask(lite, "u0", "k0").json()["id"]
    no = ask(lite, "u1", "k1").json()["id"]
    assert ask(lite, "u0", "k2").status_code == 201
    lite.post(f"{V1}/{yes}/accept", headers=site("k0"))
    lite.post(f"{V1}/{no}/decline", json={"reason": "language"}, headers=site("k1"))
    introductions.expire_and_remind(registry, db.utcnow() + timedelta(days=30))  # k2's expires
    alone = load_requests_db(registry.settings.sqlalchemy_url)
    assert sorted(alone["outcome"]) == ["accepted"] * 4 + ["declined", "expired"]
    found = load_feedback_db(registry.settings.sqlalchemy_url)
    got = set(map(tuple, found[["school_id", "candidate_id", "outcome"]].to_numpy().tolist()))
    assert {("k0", "u0", "accepted"), ("k1", "u1", "declined"), ("k2", "u0", "expired"),
            ("u0", "k0", "partnership"), ("u1", "k1", "accepted")} <= got  # fmt: skip


def test_request_lists_page_like_every_list(tmp_path):
    settings = make_settings(tmp_path, outbox_poll_seconds=0, max_page_size=2)
    with TestClient(create_app(settings)) as c:
        seed(c, [school("u0", "GB", capacity=3), *(school(f"k{i}") for i in range(3))])
        for i in range(3):
            assert ask(c, "u0", f"k{i}").status_code == 201
        op = c.get("/openapi.json").json()["paths"][V1]["get"]
        assert next(p for p in op["parameters"] if p["name"] == "limit")["schema"]["maximum"] == 2
        page = c.get(V1, params={"school_id": "u0", "box": "outgoing", "limit": 2, "offset": 1}, headers=STAFF).json()
        assert (page["total"], page["offset"], page["limit"], len(page["items"])) == (3, 1, 2, 2)
        too_many = c.get(V1, params={"school_id": "u0", "limit": 3}, headers=STAFF)
        assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "limit"
        missing = c.get(V1, headers=STAFF)
        assert missing.status_code == 422 and "school_id" in str(missing.json()["errors"][0]["field"])
        bad_state = c.get(V1, params={"school_id": "u0", "state": "lost"}, headers=STAFF)
        assert bad_state.status_code == 422 and "state" in str(bad_state.json()["errors"][0]["field"])
