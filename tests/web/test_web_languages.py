"""The page in its five languages in a real browser (issue 17): every page passes axe-core in every language,
Arabic renders right to left (a screenshot is kept: ``artifacts/web/school-ar-rtl.png`` and
``artifacts/web/inbox-ar-rtl.png``), a chosen language sticks across pages, ``Accept-Language`` picks it when
nothing was chosen, and English stays the default."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.web.i18n import HTML_LANG, SUPPORTED
from tests.support.web import SITE_KEY, WebServer
from tests.web.test_web_page import AXE_MUST_CHECK, DESKTOP, _uk_schools, axe_violations, far_country, school_url
from tests.web.test_web_requests import INBOX_AXE, fresh_pair

_PAIR: dict[str, tuple[str, str]] = {}


def _pair_with_request(server: WebServer) -> tuple[str, str]:
    """(a, b): a asked b to partner (through the API, as the site acting for a); b's inbox has it."""
    if server.base not in _PAIR:
        a, b = fresh_pair(server, skip=20)
        r = httpx.post(
            f"{server.base}/v1/partnership-requests",
            json={"from_school": a, "to_school": b, "message": "Bonjour — مرحبا"},
            headers={"X-API-Key": SITE_KEY, "X-Acting-For": a},
        )
        assert r.status_code == 201, r.text
        _PAIR[server.base] = (a, b)
    return _PAIR[server.base]


def _context(browser: Any, **options: Any) -> Any:
    ctx = browser.new_context(viewport=DESKTOP, **options)
    ctx.set_default_timeout(15_000)
    return ctx


def _html_lang(page: Any) -> tuple[str, str]:
    return tuple(page.evaluate("[document.documentElement.lang, document.documentElement.dir]"))


@pytest.mark.parametrize("locale", SUPPORTED)
def test_every_page_passes_axe_in_every_language(
    web_server: WebServer, browser: Any, axe_source: str, locale: str
) -> None:
    school_id, other_uk = _uk_schools(web_server)[:2]
    b = _pair_with_request(web_server)[1]
    base = web_server.base
    profile_must = AXE_MUST_CHECK - {"label", "button-name"}
    pages = {
        "search": (f"{base}/ui", AXE_MUST_CHECK),
        "results": (f"{base}/ui?q=school", AXE_MUST_CHECK),
        "school": (school_url(web_server, school_id), AXE_MUST_CHECK),
        "why-not": (school_url(web_server, school_id, f"why={other_uk}"), AXE_MUST_CHECK),
        "empty": (school_url(web_server, school_id, f"countries={far_country(web_server, school_id)}&max_tz=1"),
                  AXE_MUST_CHECK),
        "unknown": (f"{base}/ui/schools/no-such-school", AXE_MUST_CHECK),
        "profile": (f"{base}/ui/schools/{other_uk}/profile?from={school_id}", profile_must),
        "sign-in": (f"{base}/ui/sign-in", AXE_MUST_CHECK),
        "inbox": (f"{base}/ui/schools/{b}/requests", INBOX_AXE),
    }  # fmt: skip
    ctx = _context(browser)
    try:
        page = ctx.new_page()
        page.goto(f"{base}/ui?lang={locale}")  # chosen once; the cookie carries it to every page
        found: dict[str, Any] = {}
        for name, (url, must) in pages.items():
            web_server.sign_in(ctx, b if name == "inbox" else school_id)
            page.goto(url)
            assert _html_lang(page) == (HTML_LANG[locale], "rtl" if locale == "ar" else "ltr"), name
            page.locator("details").evaluate_all("els => els.forEach(d => d.open = true)")
            found[name] = axe_violations(page, axe_source, must)
        assert found == {name: [] for name in pages}
    finally:
        ctx.close()


def test_arabic_renders_right_to_left(web_server: WebServer, browser: Any, artifacts: Path) -> None:
    a, b = _pair_with_request(web_server)  # a's list is only ever changed here
    ctx = _context(browser)
    try:
        page = ctx.new_page()
        web_server.sign_in(ctx, a)
        page.goto(school_url(web_server, a, "lang=ar"))
        assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
        assert page.evaluate("getComputedStyle(document.querySelector('li.card')).direction") == "rtl"
        # right to left: the heading hugs the right edge, the card's accent border is on its right
        box = page.locator("h1").bounding_box()
        main = page.locator("main").bounding_box()
        assert box["x"] + box["width"] > main["x"] + main["width"] - 40, (box, main)
        card = page.locator("li.card").first
        assert card.evaluate("e => getComputedStyle(e).borderRightWidth") == "6px"
        assert page.get_by_role("heading", level=2, name="المدارس الشريكة المقترحة").count() == 1
        assert "توافق" in page.locator(".score-words").first.inner_text()
        page.screenshot(path=str(artifacts / "school-ar-rtl.png"), full_page=True)

        # marking a candidate on the Arabic page: the server's message and the script's count are Arabic too
        first = card.get_attribute("data-school-id")
        card.get_by_role("button", name=re.compile("^ليست لنا")).click()
        page.locator(f"#card-{first}").wait_for(state="detached")
        assert "ليست لنا" in page.locator("#status").inner_text()
        assert "مدرسة واحدة (1)" in page.locator("[data-role=hidden-text]").inner_text()

        web_server.sign_in(ctx, b)
        page.goto(f"{web_server.base}/ui/schools/{b}/requests")
        assert _html_lang(page) == ("ar", "rtl")
        assert page.get_by_role("button", name=re.compile("^قبول")).count() >= 1
        page.screenshot(path=str(artifacts / "inbox-ar-rtl.png"), full_page=True)
    finally:
        ctx.close()


def test_chosen_language_sticks_across_pages(web_server: WebServer, browser: Any) -> None:
    school_id = _uk_schools(web_server)[0]
    ctx = _context(browser, extra_http_headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    try:
        page = ctx.new_page()
        page.goto(f"{web_server.base}/ui")
        assert _html_lang(page) == ("fr", "ltr")
        assert page.get_by_role("heading", level=1).inner_text() == "Trouver votre école"
        page.get_by_role("navigation", name="Langue").get_by_role("link", name="Español").click()
        page.wait_for_url(re.compile(r"lang=es"))
        assert page.get_by_role("heading", level=1).inner_text() == "Busque su escuela"
        # the choice beats Accept-Language on every later page, links and forms alike
        page.get_by_label("Nombre o identificador de la escuela").fill(school_id)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.wait_for_url(re.compile(rf"/ui/schools/{re.escape(school_id)}"))
        assert _html_lang(page) == ("es", "ltr")
        assert page.locator("#candidates-heading").inner_text() == "Escuelas asociadas sugeridas"
        page.get_by_role("link", name="Iniciar sesión").first.click()
        assert _html_lang(page) == ("es", "ltr")
        page.get_by_role("navigation", name="Idioma").get_by_role("link", name="English").click()
        page.goto(f"{web_server.base}/ui")
        assert _html_lang(page) == ("en-GB", "ltr")
        # an unknown choice is refused with the languages there are
        r = ctx.request.get(f"{web_server.base}/ui?lang=de")
        assert r.status == 422 and "lang=de" in r.text() and "en, fr, ar, es, pt" in r.text()
    finally:
        ctx.close()


@pytest.mark.parametrize(
    ("header", "expected"),
    [("pt-BR,pt;q=0.9,en;q=0.5", "pt"), ("ar-MA", "ar"), ("de-DE,zh;q=0.8", "en-GB"), (None, "en-GB")],
)
def test_accept_language_picks_the_language_when_nothing_was_chosen(
    web_server: WebServer, browser: Any, header: str | None, expected: str
) -> None:
    ctx = _context(browser, **({"extra_http_headers": {"Accept-Language": header}} if header else {}))
    try:
        page = ctx.new_page()
        page.goto(f"{web_server.base}/ui/sign-in")
        assert _html_lang(page)[0] == expected
        button = {"pt": "Enviar-me uma ligação de entrada", "ar": "أرسل إليّ رابط تسجيل الدخول"}.get(
            expected, "E-mail me a sign-in link"
        )
        assert page.get_by_role("button", name=button).count() == 1
    finally:
        ctx.close()
