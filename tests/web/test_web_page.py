"""The school page in a real browser: search, ranked cards with reasons, filters, why-not, feedback, errors,
phone width, keyboard and axe-core, against a real uvicorn server (see conftest.py)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.web import WRITE_KEY, WebServer

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


# ---------------------------------------------------------------- helpers
_UK: dict[str, tuple[str, ...]] = {}


def _uk_schools(server: WebServer) -> tuple[str, ...]:
    """Four UK schools with at least 30 allowed candidates, by id (deterministic for the seeded registry)."""
    if server.base not in _UK:
        _UK[server.base] = _find_uk_schools(server)
    return _UK[server.base]


def _find_uk_schools(server: WebServer) -> tuple[str, ...]:
    out = []
    for rec in sorted(server.records, key=lambda r: r["school_id"]):
        if rec["country"] != "GB":
            continue
        if server.suggestions(rec["school_id"], k=1)["n_allowed"] >= 30:
            out.append(rec["school_id"])
        if len(out) == 4:
            return tuple(out)
    raise AssertionError("the test registry has too few UK schools with 30 candidates")


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh desktop-width tab (its own cookies and storage)."""
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def far_country(server: WebServer, school_id: str) -> str:
    """A country with candidates for the school, all more than an hour away (a 1-hour limit empties it)."""
    pool = server.suggestions(school_id, k=100, diversity="none")["suggestions"]
    by_country = Counter(s["school"]["country"] for s in pool)
    return next(
        c
        for c, _ in by_country.most_common()
        if server.suggestions(school_id, k=1, countries=c, max_timezone_difference=1)["n_allowed"] == 0
    )


def school_url(server: WebServer, school_id: str, query: str = "") -> str:
    return f"{server.base}/ui/schools/{school_id}" + (f"?{query}" if query else "")


def card_ids(page: Any) -> list[str]:
    return page.locator("li.card").evaluate_all("els => els.map(e => e.dataset.schoolId)")


AXE_MUST_CHECK = frozenset({"color-contrast", "label", "button-name", "document-title", "html-has-lang"})


def axe_violations(page: Any, axe_source: str, must_check: frozenset[str] = AXE_MUST_CHECK) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (the page's own CSP stays on: injected by the driver);
    ``must_check``: rules that must have run (a page without a form has no ``label`` to check)."""
    page.evaluate(axe_source + "\n;undefined")
    result = page.evaluate(
        """async (tags) => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return {passes: r.passes.map(p => p.id), violations: r.violations.map(v => ({id: v.id, impact: v.impact,
                    help: v.help, nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))};
        }""",
        AXE_TAGS,
    )
    # axe really looked: the rules that matter here ran and passed (or show up as violations)
    checked = set(result["passes"]) | {v["id"] for v in result["violations"]}
    assert must_check <= checked, checked
    return result["violations"]


def assert_no_key(html: str) -> None:
    assert WRITE_KEY not in html, "the API key reached the browser"


# ---------------------------------------------------------------- search and cards
def test_search_then_ranked_cards_match_the_api(web_server: WebServer, page: Any, artifacts: Path) -> None:
    school_id = _uk_schools(web_server)[0]
    name = web_server.by_id[school_id]["name"]
    page.goto(f"{web_server.base}/ui")
    word = max(name.split(), key=len)  # one word of the name, as a person would type it
    page.get_by_label("School name or id").fill(word)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    if "/ui/schools/" not in page.url:  # several matches: the result list links to each
        assert "match" in page.locator("#results-heading").inner_text()
        page.get_by_role("link", name=re.compile(re.escape(name))).first.click()
    page.wait_for_url(re.compile(rf"/ui/schools/{re.escape(school_id)}"))
    assert page.get_by_role("heading", level=1).inner_text() == name
    assert page.locator(".profile-facts").inner_text().count("Languages") == 1

    api = web_server.suggestions(school_id, k=10)
    assert card_ids(page) == [s["school_id"] for s in api["suggestions"]]
    scores = [float(x) for x in page.locator("li.card").evaluate_all("els => els.map(e => e.dataset.score)")]
    assert scores == sorted(scores, reverse=True)
    assert page.locator("#list-summary").inner_text().startswith(f"Showing the best 10 of {api['n_allowed']} schools")
    from service.web.views import DEDUCTIONS  # parts that only take points off have no colour in the bar

    assert page.locator(".legend li").count() == len([c for c in api["components"] if c not in DEDUCTIONS])

    for i, s in enumerate(api["suggestions"]):
        card = page.locator("li.card").nth(i)
        school = s["school"]
        assert school["name"] in card.locator("h3").inner_text()
        where = card.locator(".where").inner_text()
        assert school["country_name"] in where and school["flag"] in where
        assert f"ages {school['age_min']}–{school['age_max']}" in where
        # score bar: one segment per positive part, words for screen readers with the score
        positive = [c for c, v in s["contributions"].items() if round(100 * max(v, 0), 2) > 0]
        assert card.locator("svg.bar rect.seg").count() == len(positive)
        assert card.locator("svg.bar").get_attribute("aria-label").startswith(f"Score {s['score']:.2f} of a possible")
        # reasons: shared themes highlighted, skills each way in words, overlap hours
        assert card.locator(".chip.shared").count() == len(s["reasons"]["shared_themes"])
        text = card.inner_text()
        for sentence in s["reasons"]["text"]:
            if sentence.startswith(("You want", "They want")):
                assert sentence in text
        overlap = s["reasons"]["overlap_hours"]
        assert (f"{overlap:g} hours" in text) if overlap > 0 else ("No overlap" in text)
    assert any(s["reasons"]["you_want_they_offer"] or s["reasons"]["they_want_you_offer"] for s in api["suggestions"])
    assert_no_key(page.content())
    page.screenshot(path=str(artifacts / "school-desktop.png"), full_page=True)

    # more candidates: the next ten follow the first ten, as the API ranks twenty
    page.get_by_role("link", name=re.compile("Show 10 more candidates")).click()
    page.wait_for_url(re.compile(r"shown=20"))
    assert card_ids(page) == [s["school_id"] for s in web_server.suggestions(school_id, k=20)["suggestions"]]


def test_filters_narrow_the_list_and_an_empty_list_names_its_filter(
    web_server: WebServer, page: Any, artifacts: Path
) -> None:
    school_id = _uk_schools(web_server)[0]
    country = far_country(web_server, school_id)
    country_name = web_server.suggestions(school_id, k=1, countries=country)["suggestions"][0]["school"]["country_name"]
    page.goto(school_url(web_server, school_id))
    page.get_by_label(country_name).check()
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(rf"countries={country}"))
    api = web_server.suggestions(school_id, k=10, countries=country)
    assert card_ids(page) == [s["school_id"] for s in api["suggestions"]]
    assert set(page.locator("li.card").evaluate_all("els => els.map(e => e.dataset.country)")) == {country}
    assert page.locator(".active-filters").inner_text().count("Remove") == 1

    page.get_by_label("Largest time-zone difference (hours)").fill("1")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"max_tz=1"))
    assert page.locator("li.card").count() == 0
    empty = page.locator("#empty").inner_text()
    assert "No school fits all your filters" in empty
    assert f"Without the time-zone filter (at most 1 h apart) there would be {api['n_allowed']} school" in empty
    n_without_country = web_server.suggestions(school_id, k=1, max_timezone_difference=1)["n_allowed"]
    if n_without_country:
        assert "Without the country filter" in empty and f"there would be {n_without_country} school" in empty
    page.screenshot(path=str(artifacts / "school-empty-filters.png"), full_page=True)
    page.locator("#empty").get_by_role("link", name="Remove the time-zone filter (at most 1 h apart)").click()
    page.wait_for_url(lambda url: "max_tz" not in url)
    assert card_ids(page) == [s["school_id"] for s in api["suggestions"]]


def test_bad_filter_value_and_unknown_school_get_clear_pages(web_server: WebServer, page: Any) -> None:
    school_id = _uk_schools(web_server)[0]
    response = page.goto(school_url(web_server, school_id, "max_tz=far"))
    assert response.status == 422
    assert (
        "max_tz" in page.locator("[role=alert]").inner_text() and "0 to 12" in page.locator("[role=alert]").inner_text()
    )
    response = page.goto(school_url(web_server, school_id, "countries=XQ"))
    assert response.status == 422 and "XQ is not a country code" in page.locator("[role=alert]").inner_text()

    response = page.goto(f"{web_server.base}/ui/schools/no-such-school")
    assert response.status == 404
    assert page.get_by_role("heading", level=1).inner_text() == "School not found"
    assert "no-such-school" in page.locator("[role=alert]").inner_text()
    page.get_by_label("School name or id").fill("zzqx-nothing")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q=zzqx-nothing"))
    assert page.locator("#results-heading").inner_text() == "No school matches “zzqx-nothing”"


# ---------------------------------------------------------------- why not?
def test_why_not_names_the_blocking_rules(web_server: WebServer, page: Any) -> None:
    school_id, other_uk = _uk_schools(web_server)[:2]
    page.goto(school_url(web_server, school_id))
    page.get_by_label("Other school’s name or id").fill(other_uk)
    page.get_by_role("button", name="Explain").click()
    page.wait_for_url(re.compile(r"why="))
    api = web_server.api.get(f"/schools/{school_id}/explain/{other_uk}").json()
    assert not api["allowed"]
    rules = page.locator(".blockers li").evaluate_all("els => els.map(e => e.dataset.rule)")
    assert rules == [b["rule"] for b in api["blocked_by"]] and "cross_border" in rules
    assert "same side of the border" in page.locator(".blockers").inner_text()

    # a listed candidate: allowed, with its place in the list and its score parts
    second = card_ids(page)[1]
    page.locator("li.card").nth(1).get_by_role("link", name=re.compile("Explain this match")).click()
    page.wait_for_url(re.compile(rf"why={re.escape(second)}"))
    verdict = page.locator(".verdict").inner_text()
    assert "It can be suggested to you" in verdict and "number 2 in your list" in verdict
    explained = web_server.api.get(f"/schools/{school_id}/explain/{second}").json()
    assert page.locator(".why-result svg.bar").get_attribute("aria-label").startswith(f"Score {explained['score']:.2f}")


# ---------------------------------------------------------------- feedback
def test_mark_not_for_us_and_interested_updates_the_list(web_server: WebServer, page: Any, artifacts: Path) -> None:
    school_id = _uk_schools(web_server)[1]
    web_server.sign_in(page.context, school_id)
    page.goto(school_url(web_server, school_id))
    before = card_ids(page)
    assert len(before) == 10

    # keyboard: focus the first card's "Not for us" and press Enter
    page.locator("li.card").first.get_by_role("button", name=re.compile("^Not for us")).focus()
    page.keyboard.press("Enter")
    page.locator(f"#card-{before[0]}").wait_for(state="detached")
    assert "not for us" in page.locator("#status").inner_text()
    assert page.locator("#hidden-note").inner_text().startswith("1 school you marked “not for us” is hidden.")
    assert page.evaluate("document.activeElement.id") == f"name-{before[1]}"  # focus moves to the next card
    stored = web_server.feedback(school_id)
    assert [(f["candidate_id"], f["decision"]) for f in stored] == [(before[0], "decline")]

    page.locator(f"#card-{before[1]}").get_by_role("button", name=re.compile("^Interested")).click()
    page.locator(f"#card-{before[1]} [data-role=badge]").wait_for(state="visible")
    assert page.locator(f"#card-{before[1]}").get_attribute("data-decision") == "accept"
    newest = web_server.feedback(school_id)[0]
    assert (newest["candidate_id"], newest["decision"]) == (before[1], "accept")

    # a fresh load: the declined school is hidden, the list refilled to ten, the interested one marked
    page.reload()
    after = card_ids(page)
    assert before[0] not in after and after[:9] == before[1:] and len(after) == 10
    assert after[9] == web_server.suggestions(school_id, k=11)["suggestions"][10]["school_id"]
    assert page.locator(f"#card-{before[1]}").get_attribute("data-decision") == "accept"
    assert "1 school you marked “not for us” is hidden" in page.locator("#hidden-note").inner_text()
    page.evaluate("document.getElementById('candidates-heading').scrollIntoView({behavior: 'instant'})")
    page.screenshot(path=str(artifacts / "school-after-feedback.png"), full_page=False)
    page.get_by_role("link", name="Show them").click()
    page.wait_for_url(re.compile(r"show_declined=1"))
    assert page.locator(f"#card-{before[0]}").get_attribute("data-decision") == "decline"
    assert page.locator(f"#card-{before[0]} [data-role=badge]").inner_text() == "Not for us"


def test_feedback_works_without_javascript(web_server: WebServer, browser: Any) -> None:
    school_id = _uk_schools(web_server)[2]
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    try:
        web_server.sign_in(context, school_id)
        page = context.new_page()
        page.goto(school_url(web_server, school_id, "shown=10"))
        first = card_ids(page)[0]
        page.locator("li.card").first.get_by_role("button", name=re.compile("^Interested")).click()
        page.wait_for_url(re.compile(r"done=accept"))
        name = web_server.by_id[first]["name"]
        assert page.locator("#status").inner_text() == f"Marked {name} as interested."
        assert page.locator(f"#card-{first}").get_attribute("data-decision") == "accept"
        assert "shown=10" in page.url  # back to the same list
        assert [(f["candidate_id"], f["decision"]) for f in web_server.feedback(school_id)] == [(first, "accept")]
    finally:
        context.close()


def test_failed_request_says_so_and_changes_nothing(web_server: WebServer, page: Any) -> None:
    from playwright.sync_api import expect

    school_id = _uk_schools(web_server)[3]
    web_server.sign_in(page.context, school_id)
    page.goto(school_url(web_server, school_id))
    first = card_ids(page)[0]
    page.route("**/feedback", lambda route: route.abort())
    page.locator("li.card").first.get_by_role("button", name=re.compile("^Not for us")).click()
    page.locator("#alert p").wait_for()
    assert "Could not record your choice" in page.locator("#alert").inner_text()
    assert page.locator(f"#card-{first}").count() == 1
    assert web_server.feedback(school_id) == []
    page.unroute("**/feedback")

    # the server refusing (here: an unknown candidate) is reported with its reason, not swallowed
    page.evaluate("document.querySelector('li.card input[name=candidate_id]').value = 'no-such-school'")
    page.locator("li.card").first.get_by_role("button", name=re.compile("^Not for us")).click()
    expect(page.locator("#alert")).to_contain_text("no-such-school")
    assert web_server.feedback(school_id) == []


def test_cross_site_posts_are_refused_and_the_key_stays_on_the_server(web_server: WebServer) -> None:
    school_id = _uk_schools(web_server)[3]
    other = web_server.suggestions(school_id, k=1)["suggestions"][0]["school_id"]
    assert web_server.site is not None
    with httpx.Client(base_url=web_server.base) as client:
        r = client.post("/ui/session", data={"token": web_server.site.token(school_id)}, follow_redirects=True)
        assert r.status_code == 200 and "Signed in for" in r.text  # the session cookie is set
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
        assert csrf
        r = client.post(
            f"/ui/schools/{school_id}/feedback",
            data={"candidate_id": other, "decision": "decline", "csrf_token": csrf.group(1)},
            headers={"Origin": "http://evil.example", "Accept": "application/json"},
        )
        assert r.status_code == 403 and r.json()["ok"] is False
        assert web_server.feedback(school_id) == []
        for path in ("/ui", f"/ui/schools/{school_id}", "/ui/static/page.js", "/ui/static/page.css"):
            assert_no_key(client.get(path).text)
        assert "default-src 'self'" in client.get(f"/ui/schools/{school_id}").headers["content-security-policy"]
        assert client.get("/", follow_redirects=False).headers["location"] == "/ui"


def test_candidate_name_opens_its_profile_with_description_and_a_way_back(web_server: WebServer, page: Any) -> None:
    """Issue 13: each candidate's own description on its card, and its name links to its public profile."""
    school_id = _uk_schools(web_server)[0]
    page.goto(school_url(web_server, school_id, "phase="))
    card = page.locator("li.card").first
    cand = card.get_attribute("data-school-id")
    record = web_server.by_id[cand]
    assert record["description"] and record["description"][:60] in card.locator(".description").inner_text()
    assert card.locator(".score-words").inner_text() in ("strong match", "good match", "possible match")
    with page.expect_navigation():
        card.get_by_role("link", name=record["name"], exact=True).click()
    assert page.url.split("?")[0] == f"{web_server.base}/ui/schools/{cand}/profile"
    assert page.get_by_role("heading", level=1).inner_text() == record["name"]
    main = page.locator("main").inner_text()
    assert record["description"].split("\n")[0][:80] in main
    assert record["contact_email"] and record["contact_email"] not in page.content()
    with page.expect_navigation():
        page.get_by_role("link", name=re.compile("^Back to the suggestions for")).click()
    assert page.url.startswith(school_url(web_server, school_id)) and page.url.endswith(f"#card-{cand}")
    assert card_ids(page)[0] == cand


# ---------------------------------------------------------------- phone width, keyboard, accessibility
def test_phone_width_keyboard_and_axe(web_server: WebServer, browser: Any, axe_source: str, artifacts: Path) -> None:
    school_id = _uk_schools(web_server)[0]
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        web_server.sign_in(context, school_id)
        page = context.new_page()
        page.goto(school_url(web_server, school_id))
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sideways scrolling"
        assert page.locator("li.card").count() == 10
        filters, cards = page.locator(".filters").bounding_box(), page.locator(".candidates").bounding_box()
        assert filters["y"] < cards["y"] and abs(filters["width"] - cards["width"]) < 2  # stacked, full width
        button = page.locator("li.card").first.get_by_role("button", name=re.compile("^Interested")).bounding_box()
        assert button["height"] >= 44  # a finger-sized target
        page.screenshot(path=str(artifacts / "school-phone.png"), full_page=False)
        page.screenshot(path=str(artifacts / "school-phone-full.png"), full_page=True)
        # the filters are folded: the first card starts within the second screenful; a tap unfolds them
        assert not page.locator("#phase").is_visible()
        assert page.locator("li.card").first.bounding_box()["y"] < 2 * PHONE["height"]
        page.get_by_text("Narrow the list").tap()
        assert page.locator("#phase").is_visible()
        assert axe_violations(page, axe_source) == []
    finally:
        context.close()


def test_keyboard_reaches_everything_with_visible_focus(web_server: WebServer, page: Any) -> None:
    school_id = _uk_schools(web_server)[0]
    web_server.sign_in(page.context, school_id)
    page.goto(school_url(web_server, school_id))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    seen: list[str] = []
    for _ in range(200):
        page.keyboard.press("Tab")
        label = page.evaluate(
            """() => { const e = document.activeElement; const s = getComputedStyle(e);
                       return [e.tagName, (e.innerText || e.value || e.getAttribute('aria-label') || '').trim(),
                               s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2].join('|'); }"""
        )
        tag, text, visible = label.split("|")
        assert visible == "true", f"no visible focus on {tag} {text!r}"
        seen.append(f"{tag}:{text}")
        if text.startswith("Interested"):
            break
    assert any(s.startswith("INPUT:") for s in seen)  # the filters come first
    assert "BUTTON:Apply filters" in seen
    assert seen[-1].startswith("BUTTON:Interested")  # the first card's action is reachable


def test_axe_finds_no_violations(web_server: WebServer, page: Any, axe_source: str, artifacts: Path) -> None:
    school_id, other_uk = _uk_schools(web_server)[:2]
    pages = {
        "search": f"{web_server.base}/ui",
        "results": f"{web_server.base}/ui?q=school",
        "school": school_url(web_server, school_id),
        "why-not": school_url(web_server, school_id, f"why={other_uk}"),
        "empty": school_url(web_server, school_id, f"countries={far_country(web_server, school_id)}&max_tz=1"),
        "unknown": f"{web_server.base}/ui/schools/no-such-school",
        "profile": f"{web_server.base}/ui/schools/{other_uk}/profile?from={school_id}",
    }
    web_server.sign_in(page.context, school_id)  # the signed-in page: its buttons and the sign-out form too
    found = {}
    for name, url in pages.items():
        page.goto(url)
        page.locator("details").evaluate_all("els => els.forEach(d => d.open = true)")  # check the hidden parts too
        found[name] = axe_violations(
            page, axe_source, AXE_MUST_CHECK - {"label", "button-name"} if name == "profile" else AXE_MUST_CHECK
        )
        if name == "why-not":
            page.screenshot(path=str(artifacts / "school-why-not.png"), full_page=True)
    assert found == {name: [] for name in pages}
