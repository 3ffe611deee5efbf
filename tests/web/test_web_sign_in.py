"""Both ways a school user signs in, in Chromium against the real server (issue 14):

- standalone: ask for a link on the page, read the mail the loopback SMTP server received, open the link,
  press "Sign in", mark a candidate, sign out;
- embedded: a stand-in Schools Online site on another origin posts its signed token to ``/ui/session``.

axe-core finds no violation on any of the new pages.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.servers import free_port
from tests.support.smtp import sign_in_url
from tests.support.web import WebServer
from tests.web.test_web_page import AXE_MUST_CHECK, DESKTOP, axe_violations, card_ids


def uk_school(server: WebServer, skip: int = 0) -> str:
    """A UK school with candidates (the ``skip``-th in id order; apart from the ones test_web_page uses)."""
    found = [r["school_id"] for r in sorted(server.records, key=lambda r: r["school_id"], reverse=True)
             if r["country"] == "GB" and server.suggestions(r["school_id"], k=1)["n_allowed"] >= 10]  # fmt: skip
    return found[skip]


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport=DESKTOP)
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


def test_standalone_sign_in_by_mailed_link(web_server: WebServer, context: Any, axe_source: str) -> None:
    assert web_server.mailbox is not None
    school_id = uk_school(web_server)
    contact = web_server.by_id[school_id]["contact_email"]
    page = context.new_page()
    violations: dict[str, list[dict[str, Any]]] = {}

    page.goto(f"{web_server.base}/ui/schools/{school_id}")
    assert page.locator("#feedback-off").is_visible() and page.locator(".feedback-form").count() == 0
    page.get_by_role("link", name="Sign in", exact=True).first.click()
    page.wait_for_url(re.compile(r"/ui/sign-in$"))
    violations["sign-in"] = axe_violations(page, axe_source)

    page.get_by_role("button", name="E-mail me a sign-in link").click()  # empty: an error that is announced
    page.locator("#sign-in-error").wait_for()
    assert "Type your school" in page.locator("[role=alert]").inner_text()
    assert page.evaluate("document.activeElement.id") == "school"
    violations["sign-in error"] = axe_violations(page, axe_source)

    page.get_by_label("Your school’s id").fill(school_id)
    page.get_by_role("button", name="E-mail me a sign-in link").click()
    page.locator("#sign-in-sent").wait_for()
    assert "Check your school’s inbox" in page.locator("[role=status]").inner_text()
    violations["link sent"] = axe_violations(page, axe_source, AXE_MUST_CHECK - {"label", "button-name"})

    url = sign_in_url(web_server.mailbox.wait_for(contact))
    assert url.startswith(f"{web_server.base}/ui/sign-in/")
    page.goto(url)
    violations["confirm"] = axe_violations(page, axe_source, AXE_MUST_CHECK - {"label"})
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{web_server.base}/ui/schools/{school_id}")
    name = web_server.by_id[school_id]["name"]
    assert page.locator(".signed-in").inner_text() == f"Signed in for {name}"
    cookie = next(c for c in context.cookies() if c["name"] == "pm_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie").find("pm_session") == -1  # scripts cannot read it

    first = card_ids(page)[0]
    page.locator("li.card").first.get_by_role("button", name=re.compile("^Interested")).click()
    page.locator(f"#card-{first} [data-role=badge]").wait_for(state="visible")
    newest = web_server.feedback(school_id)[0]
    assert (newest["candidate_id"], newest["decision"]) == (first, "accept")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/ui/sign-in\?signed_out=1$"))
    assert page.locator("[role=status]").inner_text() == "You have signed out."
    violations["signed out"] = axe_violations(page, axe_source)
    assert not any(c["name"] == "pm_session" for c in context.cookies())
    page.goto(f"{web_server.base}/ui/schools/{school_id}")
    assert (
        page.locator(".feedback-form").count() == 0
        and page.locator(f"#card-{first}[data-decision=accept]").count() == 0
    )

    page.goto(url)  # the link is used up
    page.get_by_role("button", name="Sign in", exact=True).click()
    assert "used already" in page.locator(".error-panel").inner_text()
    violations["used link"] = axe_violations(page, axe_source, AXE_MUST_CHECK - {"label", "button-name"})
    assert violations == {k: [] for k in violations}


class _SitePage(BaseHTTPRequestHandler):
    """The stand-in Schools Online site: one page whose button posts the site's token to partnermatch."""

    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


def test_embedded_sign_in_through_the_site(web_server: WebServer, context: Any, axe_source: str) -> None:
    assert web_server.site is not None
    school_id = uk_school(web_server, 1)
    page = context.new_page()

    def site_page(token: str) -> str:
        """Another origin (localhost, not 127.0.0.1): the site's page with its signed token in a form."""
        _SitePage.body = (
            '<!doctype html><html lang="en"><title>Schools Online</title><form method="post" '
            f'action="{web_server.base}/ui/session"><input type="hidden" name="token" value="{html.escape(token)}">'
            "<button>Find partner schools</button></form></html>"
        ).encode()
        return f"http://localhost:{port}/"

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _SitePage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page.goto(site_page(web_server.site.token(school_id, user="teacher-42")))
        page.get_by_role("button", name="Find partner schools").click()
        page.wait_for_url(f"{web_server.base}/ui/schools/{school_id}")
        assert page.locator(".signed-in").inner_text() == f"Signed in for {web_server.by_id[school_id]['name']}"
        assert page.locator(".feedback-form").count() > 0
        embedded = axe_violations(page, axe_source)

        # a token the site did not sign (another key) signs nobody in, and says why
        from tests.support.web import SiteSigner

        other = context.browser.new_context(viewport=DESKTOP)
        try:
            stranger = other.new_page()
            stranger.goto(site_page(SiteSigner.new().token(school_id)))
            stranger.get_by_role("button", name="Find partner schools").click()
            stranger.locator(".error-panel").wait_for()
            assert "bad signature" in stranger.locator(".error-panel").inner_text()
            assert not any(c["name"] == "pm_session" for c in other.cookies())
            refused = axe_violations(stranger, axe_source, AXE_MUST_CHECK - {"label", "button-name"})
        finally:
            other.close()
    finally:
        server.shutdown()
        server.server_close()
    assert (embedded, refused) == ([], [])
