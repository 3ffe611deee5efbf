"""Partnership requests on the page (issue 15), in Chromium against the real server and a loopback SMTP server:

- the whole journey: two schools sign in through links read from the mail server; A finds B in its list and
  sends a request; B sees it ranked by fit with the score parts and why A would suit it, and accepts; both
  see the other's contact details (never before); both e-mails arrive with the other's contact;
- a blocked pair cannot be requested, and the page names the rule;
- page-level authorisation: anonymous visitors and other schools cannot see a school's requests or act on them;
- axe-core finds no violation on the new pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.polling import eventually
from tests.support.smtp import sign_in_url, text_of
from tests.support.web import SITE_KEY, WRITE_KEY, WebServer
from tests.web.test_web_page import AXE_MUST_CHECK, DESKTOP, PHONE, axe_violations, card_ids

# the inbox has no text field ("label" does not apply): its reason menus are checked by "select-name"
INBOX_AXE = (AXE_MUST_CHECK - {"label"}) | {"select-name"}
MESSAGE = 'Hello from our Year 8 <b>science</b> club & "friends" — shall we?\nSecond line'


@pytest.fixture
def contexts(browser: Any) -> Iterator[Any]:
    """New browser contexts (own cookies each), closed after the test."""
    made: list[Any] = []

    def new() -> Any:
        ctx = browser.new_context(viewport=DESKTOP)
        ctx.set_default_timeout(15_000)
        made.append(ctx)
        return ctx

    yield new
    for ctx in made:
        ctx.close()


def fresh_pair(server: WebServer, skip: int = 8) -> tuple[str, str]:
    """A UK school (from the ``skip``-th in id order: none of the other browser tests use it) with free places,
    and its best candidate with free places and a contact address."""
    uk = sorted(r["school_id"] for r in server.records if r["country"] == "GB" and r.get("contact_email"))
    for a in uk[skip:]:
        rec = server.by_id[a]
        if rec.get("capacity", 1) - len(rec.get("current_partners", ())) < 1:
            continue
        for s in server.suggestions(a, k=5)["suggestions"]:
            b = server.by_id[s["school_id"]]
            if b.get("contact_email") and b.get("capacity", 1) - len(b.get("current_partners", ())) >= 2:
                return a, b["school_id"]
    raise AssertionError("the test registry has no fresh pair of schools with free places")


def sign_in_by_mail(page: Any, server: WebServer, school_id: str) -> None:
    """Ask for a link on the page, read it from the loopback SMTP server, open it and press "Sign in"."""
    assert server.mailbox is not None
    contact = server.by_id[school_id]["contact_email"]
    before = len(server.mailbox.to(contact))
    page.goto(f"{server.base}/ui/sign-in")
    page.get_by_label("Your school’s id").fill(school_id)
    page.get_by_role("button", name="E-mail me a sign-in link").click()
    page.locator("#sign-in-sent").wait_for()
    page.goto(sign_in_url(server.mailbox.wait_for(contact, before + 1)))
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{server.base}/ui/schools/{school_id}")


def mails_about(server: WebServer, address: str, subject: str) -> list[tuple[str, str]]:
    """(subject, text) of the messages to ``address`` whose subject starts with ``subject`` (waits for one)."""
    assert server.mailbox is not None

    def found() -> list[tuple[str, str]]:
        return [(str(m["Subject"]), text_of(m)) for m in server.mailbox.to(address)
                if str(m["Subject"]).startswith(subject)]  # fmt: skip

    assert eventually(lambda: bool(found()), 30.0, 0.1, what=f"{subject!r} to {address}")
    return found()


def test_request_accept_and_contacts_journey(
    web_server: WebServer, contexts: Any, axe_source: str, artifacts: Path
) -> None:
    a, b = fresh_pair(web_server)
    rec_a, rec_b = web_server.by_id[a], web_server.by_id[b]
    violations: dict[str, list[dict[str, Any]]] = {}

    # A signs in, finds B in its list and asks, with a message that looks like markup
    page_a = contexts().new_page()
    sign_in_by_mail(page_a, web_server, a)
    assert b in card_ids(page_a)
    card = page_a.locator(f"#card-{b}")
    card.get_by_text("Request partnership").click()
    card.get_by_label(re.compile("^Message to")).fill(MESSAGE)
    violations["card form"] = axe_violations(page_a, axe_source)
    card.screenshot(path=str(artifacts / "requests-card.png"))
    card.get_by_role("button", name=re.compile("^Send request")).click()
    page_a.wait_for_url(re.compile(rf"/ui/schools/{a}/requests\?"))
    assert rec_b["name"] in page_a.locator("#status").inner_text()
    sent = page_a.locator(f"#outgoing-table tr[data-school-id='{b}']")
    assert sent.get_attribute("data-state") == "open"
    assert sent.locator(".sent-message").inner_text() == MESSAGE
    assert rec_b["contact_email"] not in page_a.content()  # no contact before consent
    violations["inbox (sender)"] = axe_violations(page_a, axe_source, AXE_MUST_CHECK - {"label"})
    page_a.goto(f"{web_server.base}/ui/schools/{a}")
    assert page_a.locator(f"#card-{b} [data-role=request-state]").get_attribute("data-state") == "open"
    # B is told by mail, with a link to its requests page and A's message, but not A's contact
    [(_, told)] = mails_about(web_server, rec_b["contact_email"], f"Partnership request from {rec_a['name']}")
    assert f"/ui/schools/{b}/requests" in told and "<b>science</b>" in told
    assert rec_a["contact_email"] not in told

    # a third school also asks B, through the API as the site acting for it: B's inbox ranks both by fit
    c = next(s["school_id"] for s in web_server.suggestions(b, k=40)["suggestions"]
             if s["school_id"] != a and s["school"]["country"] == "GB")  # fmt: skip
    r = httpx.post(
        f"{web_server.base}/v1/partnership-requests",
        json={"from_school": c, "to_school": b, "message": "From the API"},
        headers={"X-API-Key": SITE_KEY, "X-Acting-For": c},
    )
    assert r.status_code == 201, r.text

    # B signs in, opens its requests from the header, sees A's request ranked with its reasons
    page_b = contexts().new_page()
    sign_in_by_mail(page_b, web_server, b)
    page_b.get_by_role("link", name="Partnership requests").click()
    page_b.wait_for_url(f"{web_server.base}/ui/schools/{b}/requests")
    cards = page_b.locator("#incoming-list > li")
    assert cards.count() == 2
    scores = [float(cards.nth(i).get_attribute("data-score")) for i in range(2)]
    assert scores == sorted(scores, reverse=True)
    item = page_b.locator(f"#incoming-list > li[data-school-id='{a}']")
    explained = web_server.api.get(f"/v1/schools/{b}/explain/{a}").json()
    assert float(item.get_attribute("data-score")) == pytest.approx(explained["score"], abs=1e-6)
    quote = item.locator("[data-role=message]")
    assert quote.inner_text() == MESSAGE and quote.locator("b").count() == 0  # shown escaped, as typed
    assert item.get_by_text("Why they would suit you").is_visible()
    why_a = item.locator(".suit-sentences li").all_inner_texts()
    assert why_a
    assert item.locator("svg.bar").count() == 1 and item.locator(".breakdown tbody tr").count() >= 5
    assert rec_a["contact_email"] not in page_b.content()
    violations["inbox (receiver)"] = axe_violations(page_b, axe_source, INBOX_AXE)
    page_b.screenshot(path=str(artifacts / "requests-inbox.png"), full_page=True)

    # B accepts: both schools see the other's contact, and both e-mails arrive
    item.get_by_role("button", name=re.compile("^Accept")).click()
    page_b.wait_for_url(re.compile(rf"/ui/schools/{b}/requests\?done=accepted"))
    assert "partners now" in page_b.locator("#status").inner_text()
    assert page_b.locator(f"#contact-{a} [data-role=email]").inner_text() == rec_a["contact_email"]
    assert page_b.locator(f"#contact-{c}").count() == 0  # C's request is still open: no contact
    violations["inbox (accepted)"] = axe_violations(page_b, axe_source, INBOX_AXE)

    page_a.goto(f"{web_server.base}/ui/schools/{a}/requests")
    assert page_a.locator(f"#contact-{b} [data-role=email]").inner_text() == rec_b["contact_email"]
    assert page_a.locator(f"#outgoing-table tr[data-school-id='{b}']").get_attribute("data-state") == "accepted"

    # both e-mails: the other's name and contact, and why they were matched (as B's page showed it)
    to_a = mails_about(web_server, rec_a["contact_email"], "Partnership agreed")
    to_b = mails_about(web_server, rec_b["contact_email"], "Partnership agreed")
    assert [s for s, _ in to_a] == [f"Partnership agreed: {rec_b['name']}"]  # one each, never doubled
    assert [s for s, _ in to_b] == [f"Partnership agreed: {rec_a['name']}"]
    assert f"Contact: {rec_b['contact_email']}" in to_a[0][1] and f"Contact: {rec_a['contact_email']}" in to_b[0][1]
    assert "Why you were matched:" in to_a[0][1] and all(f"- {w}" in to_b[0][1] for w in why_a)
    assert violations == {k: [] for k in violations}


def test_blocked_pair_names_the_rule(web_server: WebServer, contexts: Any) -> None:
    """Another UK school is blocked (cross-border rule): the why-not panel says a request cannot be sent and why,
    and a forged post is refused with the rule named."""
    a, _ = fresh_pair(web_server)
    other = next(r["school_id"] for r in web_server.records
                 if r["country"] == "GB" and r["school_id"] != a)  # fmt: skip
    ctx = contexts()
    web_server.sign_in(ctx, a)
    page = ctx.new_page()
    page.goto(f"{web_server.base}/ui/schools/{a}?why={other}#why-not")
    blocked = page.locator("#why-result [data-role=request-blocked]")
    assert "cannot be sent" in blocked.inner_text()
    rule_text = page.locator("#why-result .blockers li").first.inner_text().lower()
    assert rule_text[:20] in blocked.inner_text().lower()
    assert page.locator("#why-result .request-form").count() == 0

    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    r = ctx.request.post(f"{web_server.base}/ui/schools/{a}/requests",
                         form={"to_school": other, "message": "hi", "csrf_token": csrf}, max_redirects=0)  # fmt: skip
    assert r.status == 409
    assert "cross" in r.text().lower() or rule_text[:20] in r.text().lower()


def test_only_the_school_sees_and_acts_on_its_requests(web_server: WebServer, contexts: Any) -> None:
    a, b = fresh_pair(web_server)
    owner = contexts()
    web_server.sign_in(owner, b)
    inbox = f"{web_server.base}/ui/schools/{b}/requests"
    page = owner.new_page()
    page.goto(inbox)
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert csrf

    # anonymous: 401 with a sign-in prompt; nothing of the inbox
    anon = contexts()
    r = anon.request.get(inbox)
    assert r.status == 401 and "incoming-list" not in r.text()
    r = anon.request.post(f"{inbox}", form={"to_school": a, "message": "x"}, max_redirects=0)
    assert r.status == 401

    # another school: 403 on reading, and on acting, even with its own valid token
    stranger = contexts()
    web_server.sign_in(stranger, a)
    spage = stranger.new_page()
    spage.goto(f"{web_server.base}/ui/schools/{a}")
    own_csrf = spage.locator("input[name=csrf_token]").first.get_attribute("value")
    r = stranger.request.get(inbox)
    assert r.status == 403 and "Only this school" in r.text()
    r = stranger.request.post(f"{inbox}/1/accept", form={"csrf_token": own_csrf}, max_redirects=0)
    assert r.status == 403
    r = stranger.request.post(inbox, form={"to_school": a, "csrf_token": own_csrf}, max_redirects=0)
    assert r.status == 403

    # programme staff (with the staff key) may read the requests, but see no contact and cannot answer
    staff = httpx.get(inbox, headers={"X-API-Key": WRITE_KEY})
    assert staff.status_code == 200 and 'id="incoming-heading"' in staff.text
    assert "contact-card" not in staff.text and "accept-form" not in staff.text and "withdraw-form" not in staff.text

    # the owner without the CSRF token, or with a cross-site origin: refused, nothing sent
    r = owner.request.post(inbox, form={"to_school": a, "message": "x"}, max_redirects=0)
    assert r.status == 403 and "security token" in r.text()
    r = owner.request.post(inbox, form={"to_school": a, "csrf_token": csrf}, max_redirects=0,
                           headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})  # fmt: skip
    assert r.status == 403
    page.goto(inbox)
    assert page.locator(f"#outgoing-table tr[data-school-id='{a}']").count() == 0

    # a message over 1,000 characters is refused with the field, the length and the limit
    r = owner.request.post(inbox, form={"to_school": a, "message": "x" * 1001, "csrf_token": csrf}, max_redirects=0)
    assert r.status == 422 and "1001" in r.text() and "1000" in r.text()


def test_withdraw_then_decline_with_a_reason(web_server: WebServer, contexts: Any, axe_source: str) -> None:
    a, b = fresh_pair(web_server, skip=30)
    rec_a, rec_b = web_server.by_id[a], web_server.by_id[b]
    ctx_a, ctx_b = contexts(), contexts()
    web_server.sign_in(ctx_a, a)
    web_server.sign_in(ctx_b, b)
    page_a, page_b = ctx_a.new_page(), ctx_b.new_page()

    def ask() -> None:
        page_a.goto(f"{web_server.base}/ui/schools/{a}")
        card = page_a.locator(f"#card-{b}")
        card.get_by_text("Request partnership").click()
        card.get_by_label(re.compile("^Message to")).fill("Shall we?")
        card.get_by_role("button", name=re.compile("^Send request")).click()
        page_a.wait_for_url(re.compile(r"done=sent"))

    # A asks, thinks better of it and withdraws: B has nothing to answer, and A's card offers the form again
    ask()
    page_a.get_by_role("button", name=f"Withdraw the request to {rec_b['name']}").click()
    page_a.wait_for_url(re.compile(r"done=withdrawn"))
    assert page_a.locator(f"#outgoing-table tr[data-school-id='{b}']").first.get_attribute("data-state") == "withdrawn"
    page_b.goto(f"{web_server.base}/ui/schools/{b}/requests")
    assert page_b.locator(f"#incoming-list > li[data-school-id='{a}']").count() == 0

    # A asks again; B declines, giving "Language" as the reason; A sees it, and is told by mail
    ask()
    page_b.goto(f"{web_server.base}/ui/schools/{b}/requests")
    item = page_b.locator(f"#incoming-list > li[data-school-id='{a}']")
    item.get_by_label(re.compile("^Reason")).select_option("language")
    item.get_by_role("button", name=re.compile("^Decline")).click()
    page_b.wait_for_url(re.compile(r"done=declined"))
    assert rec_a["name"] in page_b.locator("#status").inner_text()
    row = page_b.locator("#answered-table tr[data-state=declined]").filter(has_text=rec_a["name"])
    assert "Language" in row.inner_text()
    assert page_b.locator(f"#contact-{a}").count() == 0  # declined: no contact, ever
    declined_axe = axe_violations(page_b, axe_source, AXE_MUST_CHECK - {"label"})
    page_a.goto(f"{web_server.base}/ui/schools/{a}/requests")
    sent = page_a.locator(f"#outgoing-table tr[data-school-id='{b}'][data-state=declined]")
    assert ": Language" in sent.inner_text() and page_a.locator(f"#contact-{b}").count() == 0
    [(_, told)] = mails_about(web_server, rec_a["contact_email"], "Partnership request declined")
    assert rec_b["name"] in told and "Reason: language." in told and rec_b["contact_email"] not in told

    # a request already answered cannot be answered again: the page says why, and nothing changes
    rid = sent.get_attribute("data-request-id")
    csrf = page_b.locator("input[name=csrf_token]").first.get_attribute("value")
    r = ctx_b.request.post(f"{web_server.base}/ui/schools/{b}/requests/{rid}/accept", form={"csrf_token": csrf},
                           max_redirects=0)  # fmt: skip
    assert r.status == 409 and "declined" in r.text()
    assert declined_axe == []

    # at phone width the page fits the screen (the tables fold into rows)
    page_a.set_viewport_size(PHONE)
    page_a.goto(f"{web_server.base}/ui/schools/{a}/requests")
    assert page_a.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert axe_violations(page_a, axe_source, AXE_MUST_CHECK - {"label"}) == []
