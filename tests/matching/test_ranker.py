"""The ranker: scores and exact contributions, k, diversity, posted profiles, reasons, errors."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from features import vocab
from features.profiles import SchoolProfile, validate_profile
from features.text import HashingEncoder
from features.vectorizer import SchoolVectorizer
from matching.core.config import COMPONENTS, Diversity, Exposure, RankerConfig, Weights
from matching.core.constraints import RequestFilters
from matching.core.explain import ReasonsFor, reasons_for
from matching.core.index import SchoolIndex, readiness
from matching.core.ranker import RankedReasons, Ranker, Ranking
from matching.errors import ConfigError, UnknownSchoolError
from tests.support.factories import language_cover, make_profile, make_registry, varied_profile, varied_registry
from tests.support.oracle import allowed_ids, overlap_hours, violations

NO_PRIOR = Exposure(prior=0.0)  # the popularity prior (on by default) scales scores: off where parts are compared


@pytest.fixture(scope="module")
def vectorizer() -> SchoolVectorizer:
    return SchoolVectorizer(encoder=HashingEncoder(32), progress=False).fit(language_cover())


@pytest.fixture(scope="module")
def profiles() -> list[SchoolProfile]:
    return make_registry(200, seed=21)


@pytest.fixture(scope="module")
def ranker(vectorizer: SchoolVectorizer, profiles: list[SchoolProfile]) -> Ranker:
    # the exposure penalty and the popularity prior off: the documented formula's parts are checked one by one
    return Ranker(SchoolIndex(vectorizer, profiles), RankerConfig(exposure=NO_PRIOR))


def busiest(ranker: Ranker, profiles: list[SchoolProfile], n: int = 10) -> list[str]:
    """The n schools with the most allowed candidates."""
    counts = {p.school_id: int(ranker.score_all(p.school_id)[1].sum()) for p in profiles}
    return sorted(counts, key=lambda s: -counts[s])[:n]


def age_fit(a: SchoolProfile, b: SchoolProfile) -> float:
    """Years in common relative to each school's range, averaged over the two."""
    common = max(0, min(a.age_max, b.age_max) - max(a.age_min, b.age_min) + 1)
    return 0.5 * (common / (a.age_max - a.age_min + 1) + common / (b.age_max - b.age_min + 1))


def complementarity(a: SchoolProfile, b: SchoolProfile) -> float:
    """Share of what each wants that the other offers, averaged over the two directions."""
    want_a, offer_a = np.array(a.skills_want.as_tuple()), np.array(a.skills_offer.as_tuple())
    want_b, offer_b = np.array(b.skills_want.as_tuple()), np.array(b.skills_offer.as_tuple())
    there = want_a @ offer_b / want_a.sum() if want_a.sum() else 0.0
    back = want_b @ offer_a / want_b.sum() if want_b.sum() else 0.0
    return 0.5 * (there + back)


def expected_parts(ranker: Ranker, a: SchoolProfile, b: SchoolProfile) -> dict[str, float]:
    """The documented formula, component by component, from the profiles and the per-block cosines
    (exposure penalty off, no wishes, no priorities)."""
    assert ranker.config.exposure.penalty == 0
    w = ranker.config.weights.as_dict()
    index = ranker.index
    row_a, row_b = index.row(a.school_id), index.row(b.school_id)
    cos = {name: float(index.X[row_a, s] @ index.X[row_b, s]) for name, s in index.blocks.items()}
    offer_a, offer_b = np.array(a.skills_offer.as_tuple()), np.array(b.skills_offer.as_tuple())
    hours = ranker.config.school_day_hours
    return {
        "country": w["country"] * cos["country"],
        "phase": w["phase"] * age_fit(a, b),
        "themes": w["themes"] * cos["themes"],
        "skills": w["skills"] * float(offer_a @ offer_b) / len(vocab.SKILLS),
        "complementarity": w["complementarity"] * complementarity(a, b),
        "timezone_overlap": w["timezone_overlap"] * overlap_hours(a, b, hours) / hours,
        "readiness": w["readiness"] * readiness(b),
        "wishes": 0.0,
    }


def expected_score(ranker: Ranker, a: SchoolProfile, b: SchoolProfile) -> float:
    """The documented formula's total."""
    return sum(expected_parts(ranker, a, b).values())


# ---------------------------------------------------------------- scores and contributions


def test_contributions_add_up_to_scores(ranker: Ranker, profiles: list[SchoolProfile]) -> None:
    checked = 0
    for sid in busiest(ranker, profiles, 20):
        for diversity in ("none", "country_cap", "mmr"):
            r = ranker.suggest(sid, k=10, diversity=diversity)
            assert r.contributions.shape == (len(r), len(COMPONENTS))
            np.testing.assert_allclose(r.contributions.sum(axis=1), r.scores, atol=1e-5)
            checked += len(r)
    assert checked > 300


def test_scores_follow_the_documented_formula(ranker: Ranker, profiles: list[SchoolProfile]) -> None:
    by_id = {p.school_id: p for p in profiles}
    for sid in busiest(ranker, profiles, 5):
        r = ranker.suggest(sid, k=8, diversity="none")
        for cid, score in zip(r.ids, r.scores, strict=True):
            assert score == pytest.approx(expected_score(ranker, by_id[sid], by_id[cid]), abs=1e-5)


def test_contributions_are_each_components_own_term(ranker: Ranker, profiles: list[SchoolProfile]) -> None:
    by_id = {p.school_id: p for p in profiles}
    w = ranker.config.weights.as_dict()
    sid = busiest(ranker, profiles, 1)[0]
    r = ranker.suggest(sid, k=5, diversity="none")
    for cid, row in zip(r.ids, r.contributions, strict=True):
        parts = dict(zip(r.components, row, strict=True))
        a, b = by_id[sid], by_id[cid]
        assert parts["readiness"] == pytest.approx(w["readiness"] * readiness(b), abs=1e-6)
        hours = overlap_hours(a, b, 7.0)
        assert parts["timezone_overlap"] == pytest.approx(w["timezone_overlap"] * hours / 7.0, abs=1e-6)
        expected = expected_parts(ranker, a, b)
        for name in COMPONENTS:
            assert parts[name] == pytest.approx(expected[name], abs=1e-6), name


def test_explain_matches_suggest(ranker: Ranker, profiles: list[SchoolProfile]) -> None:
    sid = busiest(ranker, profiles, 1)[0]
    r = ranker.suggest(sid, k=10, diversity="none")
    for cid, score, contrib in zip(r.ids, r.scores, r.contributions, strict=True):
        e = ranker.explain(sid, cid)
        assert e.allowed and e.blocked_by == []
        assert e.score == pytest.approx(float(score), abs=1e-5)
        assert list(e.contributions.values()) == pytest.approx(list(contrib), abs=1e-6)
        assert sum(e.contributions.values()) == pytest.approx(e.score, abs=1e-6)


def test_score_all_agrees_with_suggest(ranker: Ranker, profiles: list[SchoolProfile]) -> None:
    for sid in busiest(ranker, profiles, 5):
        scores, mask = ranker.score_all(sid)
        assert scores.shape == mask.shape == (ranker.index.n_rows,)
        r = ranker.suggest(sid, k=7, diversity="none")
        rows = ranker.index.rows(r.ids)
        assert mask[rows].all()
        np.testing.assert_allclose(scores[rows], r.scores, atol=1e-5)
        allowed = np.flatnonzero(mask)
        assert r.n_allowed == len(allowed)
        # the top k by (score descending, row ascending), computed independently
        order = sorted(allowed, key=lambda row: (-scores[row], row))[: len(r)]
        assert list(r.ids) == [ranker.index.columns.ids[row] for row in order]


@pytest.mark.parametrize("component", COMPONENTS)
def test_a_zero_weight_silences_its_component(
    vectorizer: SchoolVectorizer, profiles: list[SchoolProfile], component: str
) -> None:
    index = SchoolIndex(vectorizer, profiles)
    base = Ranker(index, RankerConfig(exposure=NO_PRIOR))
    sid = busiest(base, profiles, 1)[0]
    silent = Ranker(index, RankerConfig(weights=Weights(**{component: 0.0}), exposure=NO_PRIOR))
    double = Ranker(
        index, RankerConfig(weights=Weights(**{component: 2 * getattr(Weights(), component)}), exposure=NO_PRIOR)
    )
    col = COMPONENTS.index(component)
    r0, r1 = (x.suggest(sid, k=10, diversity="none") for x in (silent, base))
    assert not r0.contributions[:, col].any()
    e1, e2 = base.explain(sid, r1.ids[0]), double.explain(sid, r1.ids[0])
    assert e2.contributions[component] == pytest.approx(2 * e1.contributions[component], abs=1e-6)


# ---------------------------------------------------------------- k and ordering


@pytest.mark.parametrize("k", [1, 3, 10, 57, 1000])
@pytest.mark.parametrize("diversity", ["none", "country_cap", "mmr"])
def test_k_is_respected(ranker: Ranker, profiles: list[SchoolProfile], k: int, diversity: str) -> None:
    by_id = {p.school_id: p for p in profiles}
    for sid in [*busiest(ranker, profiles, 3), profiles[0].school_id]:
        r = ranker.suggest(sid, k=k, diversity=diversity)
        assert len(r) == min(k, r.n_allowed)
        assert r.n_allowed == len(allowed_ids(by_id[sid], profiles))
        assert len(set(r.ids)) == len(r)
        assert set(r.ids) <= allowed_ids(by_id[sid], profiles)


@pytest.mark.parametrize("diversity", ["none", "country_cap"])
def test_scores_sorted_descending(ranker: Ranker, profiles: list[SchoolProfile], diversity: str) -> None:
    for sid in busiest(ranker, profiles, 5):
        r = ranker.suggest(sid, k=15, diversity=diversity)
        assert np.all(np.diff(r.scores) <= 0)


@pytest.mark.parametrize("k", [0, -1, 2.5, "3", None, True])
def test_bad_k_raises_config_error(ranker: Ranker, profiles: list[SchoolProfile], k: object) -> None:
    with pytest.raises(ConfigError, match=r"k: .* must be a positive integer"):
        ranker.suggest(profiles[0].school_id, k=k)  # type: ignore[arg-type]


def test_numpy_integer_k_is_fine(ranker: Ranker, profiles: list[SchoolProfile]) -> None:
    assert len(ranker.suggest(busiest(ranker, profiles, 1)[0], k=np.int64(4))) == 4


def test_bad_diversity_raises_config_error(ranker: Ranker, profiles: list[SchoolProfile]) -> None:
    with pytest.raises(ConfigError, match="diversity: 'random'"):
        ranker.suggest(profiles[0].school_id, diversity="random")


@pytest.mark.parametrize("call", ["suggest", "score_all", "explain_a", "explain_b"])
def test_unknown_id_raises_unknown_school_error(ranker: Ranker, profiles: list[SchoolProfile], call: str) -> None:
    known = profiles[0].school_id
    with pytest.raises(UnknownSchoolError) as info:
        if call == "suggest":
            ranker.suggest("no-such-school")
        elif call == "score_all":
            ranker.score_all("no-such-school")
        elif call == "explain_a":
            ranker.explain("no-such-school", known)
        else:
            ranker.explain(known, "no-such-school")
    assert info.value.school_id == "no-such-school"
    assert "not in the registry" in str(info.value)


def test_no_allowed_candidate_gives_an_empty_ranking(ranker: Ranker, profiles: list[SchoolProfile]) -> None:
    r = ranker.suggest(profiles[0].school_id, k=5, filters=RequestFilters(countries=("ZW",)))
    assert len(r) == 0 and r.n_allowed == 0
    assert r.contributions.shape == (0, len(COMPONENTS))
    assert r.to_records() == []
    assert len(r.to_frame()) == 0


def test_filters_narrow_suggestions(ranker: Ranker, profiles: list[SchoolProfile]) -> None:
    by_id = {p.school_id: p for p in profiles}
    for sid in busiest(ranker, profiles, 5):
        kwargs = dict(countries=("KE", "IN", "GB"), phases=("secondary", "all_through"), max_timezone_difference=3)
        r = ranker.suggest(sid, k=50, filters=RequestFilters(**kwargs))
        expected = allowed_ids(by_id[sid], profiles, **kwargs)
        assert r.n_allowed == len(expected)
        assert set(r.ids) <= expected
        assert len(r) == min(50, len(expected))


# ---------------------------------------------------------------- diversity


def cluster_registry() -> tuple[SchoolProfile, list[SchoolProfile]]:
    """A UK query, ten French near-twins of it (the best scores) and three schools in each of four other countries."""
    common = dict(
        phase="secondary",
        age_min=11,
        age_max=18,
        themes="sdg13_climate_action;environment",
        description="recycling and climate action with a school garden",
        want_creativity=0.9,
        offer_citizenship=0.9,
    )
    query = validate_profile(dict(school_id="uk-q", name="Q", country="GB", languages="en;fr", **common))
    schools = [query]
    for i in range(10):
        schools.append(
            validate_profile(dict(school_id=f"fr-{i}", name=f"F{i}", country="FR", languages="fr", **common))
        )
    others = dict(phase="secondary", age_min=11, age_max=18, themes="music", description="choir and orchestra")
    for country, lang in [("KE", "en"), ("IN", "en"), ("IQ", "en"), ("BR", "en")]:
        for i in range(3):
            schools.append(
                validate_profile(
                    dict(
                        school_id=f"{country.lower()}-{i}",
                        name=f"{country}{i}",
                        country=country,
                        languages=lang,
                        **others,
                    )
                )
            )
    return query, schools


@pytest.mark.parametrize(("cap", "k"), [(1, 5), (2, 6), (3, 10), (2, 9)])
def test_country_cap_never_exceeded_when_enough_countries(vectorizer: SchoolVectorizer, cap: int, k: int) -> None:
    query, schools = cluster_registry()
    config = RankerConfig(diversity=Diversity(method="country_cap", max_per_country=cap))
    ranker = Ranker(SchoolIndex(vectorizer, schools), config)
    plain = ranker.suggest(query.school_id, k=k, diversity="none")
    assert all(c == "FR" for c in ranker.index.cols().country[ranker.index.rows(plain.ids)][: min(k, 10)])
    r = ranker.suggest(query.school_id, k=k)
    countries = list(ranker.index.cols().country[ranker.index.rows(r.ids)])
    assert len(r) == k
    assert max(countries.count(c) for c in set(countries)) <= cap
    assert countries.count("FR") == cap  # the best country still gets its full share
    assert np.all(np.diff(r.scores) <= 0)


def test_country_cap_fills_up_when_too_few_countries(vectorizer: SchoolVectorizer) -> None:
    query, schools = cluster_registry()
    only_fr = [s for s in schools if s.country in ("GB", "FR")]
    config = RankerConfig(diversity=Diversity(method="country_cap", max_per_country=2))
    r = Ranker(SchoolIndex(vectorizer, only_fr), config).suggest(query.school_id, k=6)
    assert len(r) == 6  # k still respected: the cap yields when no other country is left


def test_mmr_runs_and_spreads_countries(vectorizer: SchoolVectorizer) -> None:
    query, schools = cluster_registry()
    index = SchoolIndex(vectorizer, schools)
    plain = Ranker(index, RankerConfig(exposure=NO_PRIOR)).suggest(query.school_id, k=5, diversity="none")
    config = RankerConfig(diversity=Diversity(method="mmr", mmr_lambda=0.3), exposure=NO_PRIOR)
    r = Ranker(index, config).suggest(query.school_id, k=5)
    assert len(r) == 5 and len(set(r.ids)) == 5
    assert r.ids[0] == plain.ids[0]  # the best candidate always comes first
    countries = set(index.cols().country[index.rows(r.ids)])
    assert len(countries) > len(set(index.cols().country[index.rows(plain.ids)])) == 1
    np.testing.assert_allclose(r.contributions.sum(axis=1), r.scores, atol=1e-5)
    pure_config = RankerConfig(diversity=Diversity(method="mmr", mmr_lambda=1.0), exposure=NO_PRIOR)
    pure = Ranker(index, pure_config).suggest(query.school_id, k=5)
    assert list(pure.ids) == list(plain.ids)  # lambda 1: relevance only


def test_diversity_object_overrides_config(vectorizer: SchoolVectorizer) -> None:
    query, schools = cluster_registry()
    ranker = Ranker(SchoolIndex(vectorizer, schools))
    r = ranker.suggest(query.school_id, k=4, diversity=Diversity(method="country_cap", max_per_country=1))
    countries = list(ranker.index.cols().country[ranker.index.rows(r.ids)])
    assert len(set(countries)) == 4


# ---------------------------------------------------------------- posted profiles and reasons


def test_posted_unregistered_profile_gets_valid_suggestions(ranker: Ranker, profiles: list[SchoolProfile]) -> None:
    rng = random.Random(77)
    ids = [p.school_id for p in profiles]
    for i in range(10):
        posted = make_profile(rng, 10_000 + i, current_partners=rng.sample(ids, 1), excluded=rng.sample(ids, 1))
        assert posted.school_id not in ranker.index
        r = ranker.suggest(posted, k=10)
        expected = allowed_ids(posted, profiles)
        assert r.n_allowed == len(expected)
        assert set(r.ids) <= expected and len(r) == min(10, len(expected))
        assert r.query_id == posted.school_id
        assert posted.school_id not in ranker.index  # posting never registers


def test_posted_twin_ranks_like_the_registered_school(ranker: Ranker, profiles: list[SchoolProfile]) -> None:
    listed = {x for p in profiles for x in (*p.current_partners, *p.excluded)}
    sid = next(s for s in busiest(ranker, profiles, 40) if s not in listed)
    twin = ranker.index.profile(sid).model_copy(update={"school_id": "twin-of-" + sid})
    registered = ranker.suggest(sid, k=10, diversity="none")
    posted = ranker.suggest(twin, k=10, diversity="none")
    assert list(posted.ids) == list(registered.ids)
    np.testing.assert_allclose(posted.scores, registered.scores, atol=1e-5)


def test_posted_profile_varied_registry(vectorizer: SchoolVectorizer) -> None:
    profiles = varied_registry(80, 31)
    ranker = Ranker(SchoolIndex(vectorizer, profiles))
    rng = random.Random(5)
    for i in range(15):
        posted = varied_profile(rng, f"new-{i}", [p.school_id for p in profiles])
        r = ranker.suggest(posted, k=8, diversity="mmr")
        for cid in r.ids:
            assert not violations(posted, ranker.index.profile(cid))


def test_reasons_say_what_the_schools_share(ranker: Ranker, profiles: list[SchoolProfile]) -> None:
    by_id = {p.school_id: p for p in profiles}
    threshold = ranker.config.skill_threshold
    for sid in busiest(ranker, profiles, 5):
        a = by_id[sid]
        r = ranker.suggest(sid, k=10)
        for cid, reasons in zip(r.ids, r.reasons, strict=True):
            b = by_id[cid]
            assert set(reasons.shared_themes) == set(a.themes) & set(b.themes)
            assert set(reasons.shared_languages) == set(a.languages) & set(b.languages) != set()
            assert reasons.overlap_hours == pytest.approx(overlap_hours(a, b, 7.0), abs=0.05)
            for skill in reasons.you_want_they_offer:
                assert getattr(a.skills_want, skill) >= threshold and getattr(b.skills_offer, skill) >= threshold
            expected = {
                s
                for s in vocab.SKILLS
                if getattr(b.skills_want, s) >= threshold and getattr(a.skills_offer, s) >= threshold
            }
            assert set(reasons.they_want_you_offer) == expected
            text = reasons.sentences()
            assert text and ("School days overlap" in text[-1] or "do not overlap" in text[-1])


def test_ranking_records_and_frame(ranker: Ranker, profiles: list[SchoolProfile]) -> None:
    r = ranker.suggest(busiest(ranker, profiles, 1)[0], k=5)
    assert isinstance(r, Ranking)
    records = json.loads(json.dumps(r.to_records()))
    assert [x["school_id"] for x in records] == list(r.ids)
    for x, score in zip(records, r.scores, strict=True):
        assert list(x["contributions"]) == list(COMPONENTS)
        assert sum(x["contributions"].values()) == pytest.approx(float(score), abs=1e-5)
        assert isinstance(x["reasons"]["text"], list)
    frame = r.to_frame()
    assert list(frame.columns) == ["rank", "school_id", "score", *COMPONENTS, "reasons"]
    assert list(frame["rank"]) == list(range(1, 6))


# ---------------------------------------------------------------- configuration


def test_config_json_round_trip(tmp_path: Path) -> None:
    config = RankerConfig(
        version="learned-7",
        weights=Weights(themes=0.6, readiness=0.0),
        diversity=Diversity(method="mmr", mmr_lambda=0.5),
        school_day_start=9,
    )
    assert RankerConfig.load(config.save(tmp_path / "cfg" / "ranker.json")) == config


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "no such configuration file"),
        ("{not json", "invalid ranker configuration"),
        ('{"weights": {"themes": -1}}', "invalid ranker configuration"),
        ('{"diversity": {"method": "random"}}', "invalid ranker configuration"),
        ('{"colour": "blue"}', "invalid ranker configuration"),
    ],
)
def test_bad_config_file_raises_config_error(tmp_path: Path, content: str | None, fragment: str) -> None:
    path = tmp_path / "ranker.json"
    if content is not None:
        path.write_text(content, "utf-8")
    with pytest.raises(ConfigError) as info:
        RankerConfig.load(path)
    assert fragment in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.8])
def test_reasons_name_exactly_the_skills_each_side_wants_and_offers(threshold: float) -> None:
    profiles = varied_registry(60, 41)

    def levels_at_least(skills: object) -> set[str]:
        return {s for s in vocab.SKILLS if getattr(skills, s) >= threshold}

    cut = {p.school_id: (levels_at_least(p.skills_want), levels_at_least(p.skills_offer)) for p in profiles}
    for a in profiles[:12]:
        want_a, offer_a = cut[a.school_id]
        reasons_of = ReasonsFor(a, threshold)  # the ranking's path: the asking school's side worked out once
        for b in profiles:
            want_b, offer_b = cut[b.school_id]
            reasons = reasons_for(a, b, [3.0, 4.0, 5.0], threshold)
            assert set(reasons.you_want_they_offer) == want_a & offer_b
            assert set(reasons.they_want_you_offer) == want_b & offer_a
            assert set(reasons.shared_strengths) == offer_a & offer_b
            assert set(reasons.both_lack) == (want_a & want_b) - offer_a - offer_b
            assert reasons_of(b, [3.0, 4.0, 5.0]) == reasons
            noted = reasons_of(b, [3.0, 4.0, 5.0], None, RankedReasons, shown_less="asked often")
            assert isinstance(noted, RankedReasons) and noted.shown_less == "asked often"
            assert noted.sentences()[:-1] == reasons.sentences()
