"""The page's sign-in, sessions and authorisation, in-process (no browser): who may mark candidates and see a
school's choices, CSRF and origin checks, sign-in links (neutral answers, single use), the site's tokens,
session cookies, sign-out, the private page. A real SMTP server on loopback receives the mail."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from matching.demo.generator import generate_registry
from service import db
from service.app import create_app
from service.config import Settings
from tests.support.smtp import Mailbox, sign_in_url, smtp_server
from tests.support.web import SITE_KEY, STAFF_KEY, SiteSigner

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FORM = re.compile(r'name="form_token" value="([^"]+)"')


@dataclass
class App:
    app: Any
    client: TestClient  # the one that ran the lifespan (anonymous: no cookies are kept on it)
    box: Mailbox
    site: SiteSigner
    owner: str  # a UK school with candidates
    other: str  # another school
    candidates: list[str]  # the owner's first candidates

    def browser(self, https: bool = False) -> TestClient:
        """A fresh browser: its own cookie jar, same app."""
        return TestClient(self.app, base_url="https://testserver" if https else "http://testserver")

    def signed_in(self, school_id: str) -> tuple[TestClient, str]:
        """A browser signed in for ``school_id`` through the site's token, and its session's CSRF token."""
        b = self.browser()
        r = b.post("/ui/session", data={"token": self.site.token(school_id)}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/ui/schools/{school_id}", r.text
        page = b.get(f"/ui/schools/{school_id}")
        found = CSRF.search(page.text)
        assert found, "no CSRF token on the signed-in page"
        return b, found.group(1)

    def choices(self, school_id: str) -> list[tuple[str, str]]:
        rows, _ = self.app.state.registry.feedback(school_id=school_id, limit=1000)
        return [(r.candidate_id, r.decision) for r in rows]

    def audit(self, action_prefix: str) -> list[db.AuditRecord]:
        with self.app.state.registry.sessions.read() as s:
            rows = s.scalars(select(db.AuditRecord).order_by(db.AuditRecord.id)).all()
        return [r for r in rows if r.action.startswith(action_prefix)]


def make_app(tmp: Path, box: Mailbox, site: SiteSigner, **overrides: Any) -> tuple[Any, TestClient]:
    values: dict[str, Any] = dict(
        data_dir=tmp, encoder="hashing", staff_keys=(STAFF_KEY,), site_keys=(SITE_KEY,),
        site_jwt_public_key=site.public_pem, site_jwt_issuer=site.env()["PARTNERMATCH_SITE_JWT_ISSUER"],
        site_jwt_audience=site.env()["PARTNERMATCH_SITE_JWT_AUDIENCE"], smtp_host=box.host, smtp_port=box.port,
        smtp_starttls=False, mail_sender="partnermatch@example.org", rate_writes="1000/minute",
        rate_sign_in="1000/minute",
    )  # fmt: skip
    values.update(overrides)
    app = create_app(Settings(**values))
    client = TestClient(app)
    client.__enter__()
    records = [json.loads(p.model_dump_json()) for p in generate_registry(60, seed=5, progress=False)]
    r = client.post("/v1/schools/import", json=records, headers={"X-API-Key": STAFF_KEY})
    assert r.status_code == 200, r.text
    return app, client


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    site = SiteSigner.new()
    with smtp_server() as box:
        app, client = make_app(tmp_path_factory.mktemp("web-auth"), box, site)
        listed = client.get("/v1/schools", params={"limit": 60, "country": "GB"}).json()["items"]
        owner = next(
            s["school_id"]
            for s in listed
            if len(client.get(f"/v1/schools/{s['school_id']}/suggestions", params={"k": 8}).json()["suggestions"]) >= 8
        )
        cands = [
            c["school_id"]
            for c in client.get(f"/v1/schools/{owner}/suggestions", params={"k": 8}).json()["suggestions"]
        ]
        other = next(s["school_id"] for s in listed if s["school_id"] != owner)
        yield App(app, client, box, site, owner, other, cands)
        client.__exit__(None, None, None)


def post_choice(b: TestClient, e: App, candidate: str, csrf: str | None, **headers: str) -> Any:
    data = {"candidate_id": candidate, "decision": "accept"} | ({"csrf_token": csrf} if csrf else {})
    return b.post(f"/ui/schools/{e.owner}/feedback", data=data, headers={"Accept": "application/json", **headers})


# ---------------------------------------------------------------- the authorisation matrix of the page
def test_marking_a_candidate_who_may_and_who_may_not(env: App) -> None:
    e = env
    before = e.choices(e.owner)
    owner, owner_csrf = e.signed_in(e.owner)
    stranger, stranger_csrf = e.signed_in(e.other)
    c = e.candidates[0]
    site_other = {"X-API-Key": SITE_KEY, "X-Acting-For": e.other}
    refused = [
        ("anonymous", post_choice(e.browser(), e, c, None), 401),
        ("another school", post_choice(stranger, e, c, stranger_csrf), 403),
        ("owner without CSRF token", post_choice(owner, e, c, None), 403),
        ("owner with another session's token", post_choice(owner, e, c, stranger_csrf), 403),
        ("owner, foreign Origin", post_choice(owner, e, c, owner_csrf, Origin="http://evil.example"), 403),
        ("owner, cross-site fetch", post_choice(owner, e, c, owner_csrf, **{"Sec-Fetch-Site": "cross-site"}), 403),
        ("site key for another school", post_choice(e.browser(), e, c, None, **site_other), 403),
        ("site key naming no school", post_choice(e.browser(), e, c, None, **{"X-API-Key": SITE_KEY}), 403),
    ]
    for who, r, status in refused:
        assert r.status_code == status, (who, r.status_code, r.text)
        assert r.json()["ok"] is False and r.json()["detail"], who
    assert e.choices(e.owner) == before, "a refused post changed something"

    # allowed: the owner (no Origin header: the CSRF token decides), staff by key, the site acting for the owner
    assert post_choice(owner, e, e.candidates[1], owner_csrf).status_code == 201
    ok = post_choice(owner, e, e.candidates[2], owner_csrf, Origin="http://testserver")
    assert ok.status_code == 201 and ok.json()["ok"] is True
    assert post_choice(e.browser(), e, e.candidates[3], None, **{"X-API-Key": STAFF_KEY}).status_code == 201
    site = post_choice(e.browser(), e, e.candidates[4], None, **{"X-API-Key": SITE_KEY, "X-Acting-For": e.owner})
    assert site.status_code == 201
    assert e.choices(e.owner)[:4] == [(c, "accept") for c in reversed(e.candidates[1:5])]

    # written as the signed-in principal, and audited with its address
    rows = [r for r in e.audit("feedback.") if f";{e.owner};" in r.targets][-4:]
    assert [(r.role, r.acting_for) for r in rows] == [
        ("school", e.owner), ("school", e.owner), ("staff", None), ("site", e.owner)
    ]  # fmt: skip
    assert rows[0].subject == "teacher@example.org" and rows[0].address
    assert STAFF_KEY not in rows[2].subject and SITE_KEY not in rows[3].subject


def test_a_schools_choices_are_shown_only_to_it_and_staff(env: App) -> None:
    e = env
    owner, csrf = e.signed_in(e.owner)
    declined = e.candidates[5]
    r = owner.post(
        f"/ui/schools/{e.owner}/feedback", data={"candidate_id": declined, "decision": "decline", "csrf_token": csrf}
    )
    assert r.status_code == 200 and f"Marked {e.app.state.registry.profile(declined).name}" in r.text

    mine = owner.get(f"/ui/schools/{e.owner}")
    assert f'id="card-{declined}"' not in mine.text and "hidden.</span>" in mine.text
    assert f'id="card-{declined}"' in owner.get(f"/ui/schools/{e.owner}", params={"show_declined": "1"}).text
    staff = e.browser().get(f"/ui/schools/{e.owner}", params={"show_declined": "1"}, headers={"X-API-Key": STAFF_KEY})
    assert staff.status_code == 200 and 'data-decision="decline"' in staff.text

    stranger, _ = e.signed_in(e.other)
    for who, b, status in (("anonymous", e.browser(), 401), ("another school", stranger, 403)):
        r = b.get(f"/ui/schools/{e.owner}", params={"show_declined": "1"})
        assert r.status_code == status, who
        assert 'class="card' not in r.text, who
        plain = b.get(f"/ui/schools/{e.owner}")  # the plain ranking: no hidden declines, no marks, no buttons
        assert plain.status_code == 200 and f'id="card-{declined}"' in plain.text, who
        assert 'data-decision="accept"' not in plain.text and 'data-decision="decline"' not in plain.text, who
        assert 'id="hidden-note"' not in plain.text and 'value="decline"' not in plain.text, who
        assert 'id="feedback-off"' in plain.text, who


def test_private_page_shows_nothing_until_sign_in(env: App, tmp_path: Path) -> None:
    app, client = make_app(tmp_path, env.box, env.site, private_page=True)
    try:
        e = App(app, client, env.box, env.site, env.owner, env.other, env.candidates)
        anon = e.browser()
        for path in ("/ui", "/ui?q=a", f"/ui/schools/{e.owner}", f"/ui/schools/{e.other}/profile"):
            r = anon.get(path)
            assert r.status_code == 401 and "Sign in to see this page" in r.text, path
            assert 'class="card' not in r.text and "result-link" not in r.text and e.owner not in r.text, path
        assert anon.get("/ui/sign-in").status_code == 200
        owner, _ = e.signed_in(e.owner)
        assert 'li class="card' in owner.get(f"/ui/schools/{e.owner}").text
    finally:
        client.__exit__(None, None, None)


# ---------------------------------------------------------------- sign-in links
def ask_for_link(b: TestClient, school: str) -> Any:
    form = FORM.search(b.get("/ui/sign-in").text)
    assert form, "no form token on the sign-in page"
    return b.post("/ui/sign-in", data={"school": school, "form_token": form.group(1)})


def follow_link(b: TestClient, url: str) -> Any:
    path = url.removeprefix("http://127.0.0.1:8000")
    page = b.get(path)
    assert page.status_code == 200 and "confirm-sign-in" in page.text
    form = FORM.search(page.text)
    assert form
    return b.post(path, data={"form_token": form.group(1)}, follow_redirects=False)


def test_sign_in_link_by_mail_is_single_use_and_answers_neutrally(env: App) -> None:
    e = env
    contact = f"office@{e.owner.lower()}.example.org"
    b = e.browser()
    known = ask_for_link(b, e.owner)
    unknown = ask_for_link(e.browser(), "NO-SUCH-SCHOOL")
    assert known.status_code == unknown.status_code == 200
    neutral = re.compile(r'<div class="status" role="status" id="sign-in-sent">.*?</div>', re.S)
    assert neutral.search(known.text).group(0).replace(e.owner, "X") == neutral.search(unknown.text).group(0).replace(  # type: ignore[union-attr]
        "NO-SUCH-SCHOOL", "X"
    )
    url = sign_in_url(e.box.wait_for(contact))
    assert not any("NO-SUCH-SCHOOL" in str(m["Subject"]) for m in e.box.messages)

    b.cookies.set("pm_session", "attacker-chosen-session-id-0123456789")  # fixation attempt
    r = follow_link(b, url)
    assert r.status_code == 303 and r.headers["location"] == f"/ui/schools/{e.owner}"
    cookie = r.headers["set-cookie"]
    assert "pm_session=" in cookie and "attacker-chosen" not in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax") and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; see the https test
    page = b.get(f"/ui/schools/{e.owner}")
    assert "Signed in for" in page.text and 'value="decline"' in page.text
    assert [r.acting_for for r in e.audit("session.start")][-1] == e.owner

    again = follow_link(e.browser(), url)  # replayed
    assert (
        again.status_code == 403
        and "used already" in again.text
        and "pm_session" not in again.headers.get("set-cookie", "")
    )
    forged = follow_link(e.browser(), url[:-4] + "AAAA")
    assert forged.status_code == 403 and "unknown" in forged.text


def test_sign_in_forms_need_their_token_and_this_site(env: App) -> None:
    e = env
    b = e.browser()
    n = len(e.box.messages)
    assert b.post("/ui/sign-in", data={"school": e.owner}).status_code == 403  # no form token, no cookie
    form = FORM.search(b.get("/ui/sign-in").text).group(1)  # type: ignore[union-attr]
    r = b.post("/ui/sign-in", data={"school": e.owner, "form_token": form}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = b.post("/ui/sign-in", data={"school": "", "form_token": form})
    assert r.status_code == 422 and "Type your school" in r.text and 'aria-invalid="true"' in r.text
    assert len(e.box.messages) == n


def test_https_cookie_is_secure(env: App) -> None:
    b = env.browser(https=True)
    r = b.post("/ui/session", data={"token": env.site.token(env.owner)}, follow_redirects=False)
    assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


# ---------------------------------------------------------------- the site's token
@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"lifetime": -60}, "expired"),
        ({"aud": "someone-else"}, "another audience"),
        ({"iss": "https://evil.example"}, "wrong issuer"),
        ({"lifetime": 3600}, "at most 300 s"),
    ],
)
def test_bad_site_tokens_are_refused_with_the_reason(env: App, claims: dict[str, Any], reason: str) -> None:
    b = env.browser()
    r = b.post("/ui/session", data={"token": env.site.token(env.owner, **claims)}, follow_redirects=False)
    assert r.status_code == 403 and reason in r.text
    assert "pm_session" not in r.headers.get("set-cookie", "")


def test_site_token_signed_by_another_key_or_unsigned(env: App) -> None:
    import jwt

    forged = SiteSigner.new().token(env.owner)
    unsigned = jwt.encode(jwt.decode(env.site.token(env.owner), options={"verify_signature": False}), None, "none")
    for token, reason in ((forged, "bad signature"), (unsigned, "algorithm")):
        r = env.browser().post("/ui/session", data={"token": token}, follow_redirects=False)
        assert r.status_code == 403 and reason in r.text
    r = env.browser().post("/ui/session", data={"token": env.site.token("NOT-REGISTERED")}, follow_redirects=False)
    assert r.status_code == 403 and "not registered" in r.text


# ---------------------------------------------------------------- sign-out
def test_sign_out_needs_the_csrf_token_and_ends_the_session(env: App) -> None:
    e = env
    b, csrf = e.signed_in(e.owner)
    cookie = b.cookies.get("pm_session")
    assert b.post("/ui/sign-out", data={}).status_code == 403  # a cross-site "sign-out" cannot end it
    assert "Signed in for" in b.get(f"/ui/schools/{e.owner}").text
    r = b.post("/ui/sign-out", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/sign-in?signed_out=1"
    assert "You have signed out" in b.get("/ui/sign-in?signed_out=1").text
    replay = e.browser()
    replay.cookies.set("pm_session", cookie or "")
    page = replay.get(f"/ui/schools/{e.owner}")
    assert "Signed in for" not in page.text and 'value="decline"' not in page.text
    assert post_choice(replay, e, e.candidates[6], csrf).status_code == 401


def test_sign_in_requests_are_rate_limited(env: App, tmp_path: Path) -> None:
    app, client = make_app(tmp_path, env.box, env.site, rate_sign_in="2/minute")
    try:
        b = TestClient(app)
        assert [ask_for_link(b, env.other).status_code for _ in range(2)] == [200, 200]
        r = ask_for_link(b, env.other)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0 and "too many" in r.text
    finally:
        client.__exit__(None, None, None)
