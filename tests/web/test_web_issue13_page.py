"""Issue 13, "for schools (the page)": each candidate's own description, a profile page per school, labels
(STEM, Swahili, city names), the score in words. In-process (TestClient over the real app), no browser."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from matching.demo import generate_registry
from service import presenter
from service.app import create_app
from service.config import Settings
from service.web import views

KEY = "issue13-page-key-0001"
AUTH = {"X-API-Key": KEY}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("page13"), encoder="hashing", api_keys=(KEY,))
    with TestClient(create_app(settings)) as c:
        records = [json.loads(p.model_dump_json()) for p in generate_registry(80, seed=3, progress=False)]
        r = c.post("/schools/import", json=records, headers=AUTH)
        assert r.status_code == 200, r.text
        yield c


def first_candidate(client: TestClient) -> tuple[str, str]:
    """A UK school and its best candidate."""
    items = client.get("/schools", params={"country": "GB", "limit": 80}, headers=AUTH).json()["items"]
    for s in items:
        found = client.get(f"/schools/{s['school_id']}/suggestions", params={"k": 1}, headers=AUTH).json()
        if found["suggestions"]:
            return s["school_id"], found["suggestions"][0]["school_id"]
    raise AssertionError("no UK school with a candidate")


def card_html(page: str, school_id: str) -> str:
    start = page.index(f'id="card-{school_id}"')
    return page[start : page.index("</li>", start)]


# ---------------------------------------------------------------- descriptions and profiles
def test_candidate_description_is_shown_escaped_and_long_text_folds_behind_more(client: TestClient) -> None:
    school_id, cand = first_candidate(client)
    text = client.get(f"/schools/{cand}", headers=AUTH).json()["description"]
    page = client.get(f"/ui/schools/{school_id}").text
    assert html.escape(text, quote=False) in card_html(page, cand)  # the text behind 45% of the score is shown

    long_text = "<script>alert('x')</script> We & our pupils " + "love exchanging letters about rivers. " * 40
    r = client.patch(f"/schools/{cand}", json={"description": long_text}, headers=AUTH)
    assert r.status_code == 200, r.text
    try:
        page = client.get(f"/ui/schools/{school_id}", params={"shown": 100}).text
        card = card_html(page, cand)
        assert "<script>alert" not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in card
        assert "We &amp; our pupils" in card
        short = views.excerpt(long_text)
        assert short["rest"] and len(short["short"]) <= views.DESCRIPTION_EXCERPT
        assert (short["short"] + " " + short["rest"]).split() == long_text.split()  # nothing lost at the cut
        assert re.search(r'<details class="more-text">\s*<summary>More<span class="vh"> of ', card)
        assert html.escape(short["rest"]) in card
    finally:
        client.patch(f"/schools/{cand}", json={"description": text}, headers=AUTH)


def test_candidate_name_links_to_its_public_profile_without_the_contact_email_and_back(client: TestClient) -> None:
    school_id, cand = first_candidate(client)
    page = client.get(f"/ui/schools/{school_id}", params={"phase": "", "shown": 10}).text
    link = re.search(rf'href="(/ui/schools/{re.escape(cand)}/profile\?[^"]+)"', card_html(page, cand))
    assert link, "the candidate's name links to its profile"
    url = html.unescape(link.group(1))
    assert f"from={school_id}" in url

    r = client.get(url)
    assert r.status_code == 200 and r.headers["content-security-policy"].startswith("default-src 'self'")
    stored = client.get(f"/schools/{cand}", headers=AUTH).json()
    assert f'<h1 id="school-name">{html.escape(stored["name"])}</h1>' in r.text
    assert html.escape(stored["description"].split("\n\n")[0], quote=False) in r.text
    email = client.get(f"/schools/{cand}/private", headers=AUTH).json()["contact_email"]  # the owner's view
    assert email and email not in r.text
    assert "@" not in re.sub(r"<[^>]+>", "", r.text.split("<main", 1)[1]), "no e-mail address on the profile page"
    back = re.search(r'href="(/ui/schools/[^"]+)">Back to the suggestions for', r.text)
    assert back and html.unescape(back.group(1)).startswith(f"/ui/schools/{school_id}?shown=10#card-{cand}")
    assert client.get(html.unescape(back.group(1))).status_code == 200

    alone = client.get(f"/ui/schools/{cand}/profile")  # opened directly: no list to go back to
    assert alone.status_code == 200 and "Back to the suggestions" not in alone.text
    assert client.get("/ui/schools/no-such-school/profile").status_code == 404
    forged = client.get(f"/ui/schools/{cand}/profile", params={"from": "https://evil.example"})
    assert forged.status_code == 200 and "evil.example" not in forged.text.replace("from=https", "")


# ---------------------------------------------------------------- labels
def test_labels_say_stem_swahili_and_cities_as_written() -> None:
    assert presenter.theme_label("stem") == "STEM"
    assert presenter.theme_label("sdg13_climate_action") == "Climate action (SDG 13)"
    assert presenter.theme_label("art_and_design") == "Art and design"
    assert presenter.language_label("sw") == "Swahili"
    assert presenter.language_label("ms") == "Malay" and presenter.language_label("en") == "English"
    assert presenter.language_label("zz") == "zz"
    assert presenter.city_label("LONDON") == "London"
    assert presenter.city_label("SALTBURN-BY-THE-SEA") == "Saltburn-by-the-Sea"
    assert presenter.city_label("NEWCASTLE UPON TYNE") == "Newcastle upon Tyne"
    for as_written in ("Nairobi", "São Paulo", "Stratford-upon-Avon", "McAllen", "NY", None, ""):
        assert presenter.city_label(as_written) == as_written


def test_labels_on_the_page_say_stem_swahili_and_cities_as_written(client: TestClient) -> None:
    school_id, cand = first_candidate(client)
    before = client.get(f"/schools/{cand}", headers=AUTH).json()
    r = client.patch(
        f"/schools/{cand}", json={"themes": ["stem"], "languages": ["sw", "en"], "city": "NAIROBI"}, headers=AUTH
    )
    assert r.status_code == 200, r.text
    try:
        for url in (f"/ui/schools/{cand}/profile", f"/ui/schools/{cand}", f"/ui/schools/{school_id}?why={cand}"):
            text = client.get(url).text
            assert "STEM" in text and ">Stem<" not in text and "Stem," not in text, url
            assert "Nairobi" in text and "NAIROBI" not in text, url
        profile = client.get(f"/ui/schools/{cand}/profile").text
        assert "Swahili, English" in profile and "macrolanguage" not in profile
    finally:
        keep = {k: before[k] for k in ("themes", "languages", "city")}
        client.patch(f"/schools/{cand}", json=keep, headers=AUTH)


# ---------------------------------------------------------------- the score in words
def test_score_in_words_by_documented_thresholds(client: TestClient) -> None:
    assert presenter.score_words(0.80) == "strong match" and presenter.score_words(0.65) == "strong match"
    assert presenter.score_words(0.649) == "good match" and presenter.score_words(0.50) == "good match"
    assert presenter.score_words(0.499) == "possible match" and presenter.score_words(-0.1) == "possible match"
    assert presenter.score_words(1.3, scale=2.0) == "strong match"  # a share of the best possible score
    school_id, _ = first_candidate(client)
    page = client.get(f"/ui/schools/{school_id}").text
    pattern = r'<strong class="score-value">([\d.]+)</strong> <span class="score-words">([a-z ]+)</span>'
    scores = re.findall(pattern, page)
    assert scores
    for score, words in scores:
        assert words == presenter.score_words(float(score))
    assert re.search(r'aria-label="Score [\d.]+ of a possible 1\.00, a (strong|good|possible) match', page)


def test_page_templates_show_no_private_field(tmp_path: Path) -> None:
    """The page's own profile view has no private field to leak."""
    p = generate_registry(2, seed=1, progress=False)[0]
    view: dict[str, Any] = views.profile_view(p, 0.6)
    assert p.contact_email and p.contact_email not in json.dumps(view, default=str)
