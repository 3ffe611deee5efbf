"""Issue 16, better matches: skills each way, age fit, both schools' wishes, programme priorities, exposure.

The regression cases are the ones the issue reported (the nursery, the digital-literacy wants-vs-offers case).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features import vocab
from features.profiles import SchoolProfile, validate_profile
from features.text import HashingEncoder
from features.vectorizer import SchoolVectorizer
from matching.core.columns import SchoolColumns
from matching.core.config import COMPONENTS, Exposure, Priorities, RankerConfig, Weights
from matching.core.index import SchoolIndex
from matching.core.ranker import Ranker
from matching.core.scoring import age_fit
from matching.core.wishes import combine_fits, wish_fit
from matching.errors import ConfigError
from tests.support.factories import language_cover, make_registry

PLAIN = RankerConfig(exposure=Exposure(prior=0.0))  # the popularity prior (on by default) off: parts compared exactly


@pytest.fixture(scope="module")
def vectorizer() -> SchoolVectorizer:
    return SchoolVectorizer(encoder=HashingEncoder(32), progress=False).fit(language_cover())


def school(sid: str, country: str = "KE", **fields: object) -> SchoolProfile:
    """A plain school: everything not given is the same for every school."""
    data: dict[str, object] = dict(
        school_id=sid, name=sid, country=country, phase="primary", age_min=5, age_max=11, languages=["en"],
        themes=["sdg13_climate_action"], description="recycling and climate action", capacity=2,
    )  # fmt: skip
    data.update(fields)
    return validate_profile(data)


def ranked(vectorizer: SchoolVectorizer, profiles: list[SchoolProfile], asker: str, **config: object) -> list[str]:
    ranker = Ranker(SchoolIndex(vectorizer, profiles), RankerConfig(**config))
    return list(ranker.suggest(asker, k=len(profiles), diversity="none").ids)


# ---------------------------------------------------------------- skills: complementarity, not shared wants
def test_digital_literacy_wants_vs_offers(vectorizer: SchoolVectorizer) -> None:
    """A school that wants digital literacy: the one offering it comes first, not the one also wanting it."""
    uk = school("uk", "GB", skills_want={"digital_literacy": 1.0}, skills_offer={"citizenship": 0.8})
    also_wants = school("also-wants", skills_want={"digital_literacy": 1.0})
    offers = school("offers", skills_offer={"digital_literacy": 0.9})
    ranker = Ranker(SchoolIndex(vectorizer, [uk, also_wants, offers]))
    r = ranker.suggest("uk", k=2, diversity="none")
    assert list(r.ids) == ["offers", "also-wants"]
    reasons = dict(zip(r.ids, r.reasons, strict=True))
    assert reasons["offers"].you_want_they_offer == ("digital_literacy",)
    assert reasons["also-wants"].both_lack == ("digital_literacy",)
    assert "Both want digital literacy — neither offers it" in reasons["also-wants"].sentences()
    parts = {sid: dict(zip(r.components, c, strict=True)) for sid, c in zip(r.ids, r.contributions, strict=True)}
    assert parts["also-wants"]["complementarity"] == pytest.approx(0.0, abs=1e-6)
    assert parts["offers"]["complementarity"] > 0.05


def test_shared_strengths_and_each_way(vectorizer: SchoolVectorizer) -> None:
    a = school("a", "GB", skills_want={"creativity": 0.9}, skills_offer={"collaboration": 0.9, "citizenship": 0.7})
    b = school("b", skills_want={"citizenship": 0.8}, skills_offer={"collaboration": 0.8, "creativity": 0.6})
    e = Ranker(SchoolIndex(vectorizer, [a, b]), PLAIN).explain("a", "b")
    assert e.reasons.you_want_they_offer == ("creativity",)
    assert e.reasons.they_want_you_offer == ("citizenship",)
    assert e.reasons.shared_strengths == ("collaboration",)
    assert e.contributions["skills"] == pytest.approx(0.05 * (0.9 * 0.8 + 0.7 * 0.0) / 6, abs=1e-6)


# ---------------------------------------------------------------- ages
def test_nursery_gets_early_years_first(vectorizer: SchoolVectorizer) -> None:
    """The issue's nursery (ages 3-5): kindergartens first, not the all-through school or the primary."""
    nursery = school("nursery", "GB", phase="nursery", age_min=3, age_max=5)
    cands = [
        school("all-through", phase="all_through", age_min=4, age_max=18),
        school("primary", phase="primary", age_min=5, age_max=11),
        school("kindergarten-1", phase="nursery", age_min=3, age_max=5),
        school("kindergarten-2", phase="nursery", age_min=3, age_max=6),
    ]
    order = ranked(vectorizer, [nursery, *cands], "nursery")
    assert order[:2] == ["kindergarten-1", "kindergarten-2"]
    e = Ranker(SchoolIndex(vectorizer, [nursery, *cands])).explain("nursery", "kindergarten-1")
    assert e.reasons.sentences()[0] == "Ages 3-5 and 3-5: 3 years in common"


def test_age_reason_counts_years_in_common(vectorizer: SchoolVectorizer) -> None:
    a, b = school("a", "GB", age_min=7, age_max=11), school("b", age_min=8, age_max=12)
    e = Ranker(SchoolIndex(vectorizer, [a, b]), PLAIN).explain("a", "b")
    assert "Ages 7-11 and 8-12: 4 years in common" in e.reasons.sentences()
    assert e.reasons.years_in_common == 4
    assert e.contributions["phase"] == pytest.approx(0.10 * float(age_fit(7, 11, 8, 12)), abs=1e-6)
    assert float(age_fit(7, 11, 8, 12)) == pytest.approx(0.8)


ages = st.integers(vocab.AGE_MIN, vocab.AGE_MAX)


@given(ages, ages, ages, ages)
def test_age_fit_in_unit_interval_and_symmetric(a0: int, a1: int, b0: int, b1: int) -> None:
    a0, a1, b0, b1 = min(a0, a1), max(a0, a1), min(b0, b1), max(b0, b1)
    fit = float(age_fit(a0, a1, b0, b1))
    assert 0.0 <= fit <= 1.0
    assert fit == pytest.approx(float(age_fit(b0, b1, a0, a1)))
    assert (fit == 1.0) == ((a0, a1) == (b0, b1))


@given(st.integers(1, 8), st.integers(0, 8))
def test_age_fit_grows_with_the_overlap(width: int, shift: int) -> None:
    """Sliding one range of fixed width across another: fewer years in common never scores higher."""
    a = (5, 5 + width)
    near = float(age_fit(*a, 5 + shift, 5 + shift + width))
    far = float(age_fit(*a, 6 + shift, 6 + shift + width))
    assert far <= near + 1e-12


def test_index_age_columns_give_the_age_fit(vectorizer: SchoolVectorizer) -> None:
    profiles = make_registry(40, seed=3)
    ranker = Ranker(
        SchoolIndex(vectorizer, profiles), RankerConfig(weights=Weights(phase=1.0), exposure=PLAIN.exposure)
    )
    comps = ranker.scorer.component_matrix(np.arange(10))[1]  # "phase"
    for i in range(10):
        for j in range(40):
            a, b = profiles[i], profiles[j]
            assert comps[i, j] == pytest.approx(float(age_fit(a.age_min, a.age_max, b.age_min, b.age_max)), abs=1e-5)


# ---------------------------------------------------------------- wishes
def test_wish_fields_are_validated_with_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"kinds_of_work.*tea.*allowed: video_exchanges, joint_project"):
        school("x", kinds_of_work=["tea"])
    with pytest.raises(ValueError, match=r"preferred_regions.*Narnia.*150 \(Europe\)"):
        school("x", preferred_regions=["Narnia"])
    with pytest.raises(ValueError, match=r"preferred_countries.*ZZ.*ISO 3166-1"):
        school("x", preferred_countries=["ZZ"])
    with pytest.raises(ValueError, match=r"preferred_phases.*college.*allowed: nursery, primary"):
        school("x", preferred_phases=["college"])
    p = school("x", preferred_countries="ke;uk", preferred_regions=["Europe", "202"], kinds_of_work="pen pals")
    assert p.preferred_countries == ("KE", "GB") and p.preferred_regions == ("150", "202")
    assert p.kinds_of_work == ("pen_pals",)


def test_wishes_rank_the_pair_that_suits_both_first(vectorizer: SchoolVectorizer) -> None:
    uk = school("uk", "GB", preferred_countries=["KE"], kinds_of_work=["video_exchanges"])
    suits_both = school("ke-both", "KE", preferred_regions=["Europe"], kinds_of_work=["video_exchanges"])
    one_sided = school("ke-one", "KE", preferred_countries=["IN"], kinds_of_work=["video_exchanges"])
    elsewhere = school("fr", "FR", languages=["en"])
    profiles = [uk, suits_both, one_sided, elsewhere]
    ranker = Ranker(SchoolIndex(vectorizer, profiles))
    r = ranker.suggest("uk", k=3, diversity="none")
    assert r.ids[0] == "ke-both"
    reasons = dict(zip(r.ids, r.reasons, strict=True))
    assert any("Kenya" in x for x in reasons["ke-both"].suits_you)
    assert any("Europe" in x for x in reasons["ke-both"].would_want_you)
    assert any("they asked for" in x for x in reasons["ke-one"].wishes_unmet)
    text = reasons["ke-both"].sentences()
    assert any(t.startswith("Why they suit you:") for t in text)
    assert any(t.startswith("Why they would want you:") for t in text)
    parts = {sid: dict(zip(r.components, c, strict=True)) for sid, c in zip(r.ids, r.contributions, strict=True)}
    assert parts["ke-both"]["wishes"] == pytest.approx(0.0, abs=1e-7)
    assert parts["ke-one"]["wishes"] < 0


def test_no_wishes_anywhere_adds_nothing(vectorizer: SchoolVectorizer) -> None:
    ranker = Ranker(SchoolIndex(vectorizer, make_registry(60, seed=5)))
    comps = ranker.scorer.component_matrix(np.arange(20))
    assert not comps[list(ranker.config.weights.as_dict()).index("wishes")].any()


def _random_columns(draw: st.DrawFn, n: int) -> SchoolColumns:
    countries = ["GB", "KE", "IN", "FR", "BR", "JO"]
    profiles = []
    for i in range(n):
        profiles.append(
            school(
                f"s{i}",
                draw(st.sampled_from(countries)),
                phase=draw(st.sampled_from(["primary", "secondary", "nursery"])),
                age_min=3,
                age_max=18,
                preferred_countries=draw(st.lists(st.sampled_from(countries), max_size=2)),
                preferred_regions=draw(st.lists(st.sampled_from(["150", "002", "142", "019"]), max_size=2)),
                preferred_phases=draw(st.lists(st.sampled_from(["primary", "secondary"]), max_size=1)),
                kinds_of_work=draw(st.lists(st.sampled_from(vocab.KINDS_OF_WORK), max_size=2)),
            )
        )
    return SchoolColumns.from_profiles(profiles)


@st.composite
def column_sets(draw: st.DrawFn) -> SchoolColumns:
    return _random_columns(draw, 6)


@settings(max_examples=40, deadline=None)
@given(column_sets(), st.sampled_from(["harmonic", "geometric", "arithmetic", "min"]))
def test_reciprocal_wish_score_is_symmetric_and_bounded(cols: SchoolColumns, how: str) -> None:
    a, c = np.arange(6)[:, None], np.arange(6)[None, :]
    there, back = wish_fit(cols, cols, a, c), wish_fit(cols, cols, c, a)
    score = combine_fits(there, back, how)
    np.testing.assert_allclose(score, score.T, atol=1e-6)
    assert (score >= 0).all() and (score <= 1 + 1e-6).all()
    assert (score <= np.maximum(there, back) + 1e-6).all()  # never above the better direction
    if how == "harmonic":
        assert (score <= (there + back) / 2 + 1e-6).all()  # nor above their mean


def test_combine_rejects_an_unknown_method() -> None:
    with pytest.raises(ConfigError, match="wishes_combine: 'best' is not one of harmonic"):
        combine_fits(np.ones(2), np.ones(2), "best")


# ---------------------------------------------------------------- programme priorities
def test_priorities_validate_codes_and_weights() -> None:
    p = Priorities(countries={"ke": 1.5}, regions={"Europe": 0.8, "202": 1.2})
    assert p.countries == {"KE": 1.5} and p.regions == {"150": 0.8, "202": 1.2}
    assert p.weight_of("KE") == 1.5 and p.weight_of("NG") == 1.2 and p.weight_of("ES") == 0.8
    assert p.weight_of("IN") == 1.0
    with pytest.raises(ValueError, match="'Atlantis' is not a UN M49 region"):
        Priorities(regions={"Atlantis": 2})
    with pytest.raises(ValueError, match="'XX' is not an ISO 3166-1 alpha-2"):
        Priorities(countries={"XX": 2})
    with pytest.raises(ValueError, match="between 0 and 10"):
        Priorities(countries={"KE": -1})


def test_priority_weight_scales_the_candidates_score(vectorizer: SchoolVectorizer) -> None:
    profiles = make_registry(120, seed=8)
    index = SchoolIndex(vectorizer, profiles)
    plain = Ranker(index, PLAIN)
    focus = Ranker(index, RankerConfig(priorities=Priorities(countries={"KE": 2.0}), exposure=PLAIN.exposure))
    uk = next(p.school_id for p in profiles if p.is_uk and plain.suggest(p.school_id, k=5).ids.size >= 5)
    for cid in plain.suggest(uk, k=10).ids:
        e0, e1 = plain.explain(uk, cid), focus.explain(uk, cid)
        factor = 2.0 if index.profile(cid).country == "KE" else 1.0
        assert e1.score == pytest.approx(factor * e0.score, rel=1e-5, abs=1e-6)
        assert sum(e1.contributions.values()) == pytest.approx(e1.score, abs=1e-5)


# ---------------------------------------------------------------- exact search with every new part on
@pytest.mark.parametrize("penalty", [0.0, 0.6])
def test_bounded_search_equals_exact_scan_with_wishes_priorities_exposure(
    vectorizer: SchoolVectorizer, penalty: float
) -> None:
    rng = np.random.default_rng(4)
    base = make_registry(400, seed=11)
    kinds = list(vocab.KINDS_OF_WORK)
    profiles = [
        p.model_copy(
            update={
                "preferred_regions": ("150",) if rng.random() < 0.2 else (),
                "kinds_of_work": (kinds[int(rng.integers(4))],) if rng.random() < 0.3 else (),
                "preferred_phases": ("primary",) if rng.random() < 0.1 else (),
            }
        )
        for p in base
    ]
    index = SchoolIndex(vectorizer, profiles)
    exposure = Exposure(penalty=penalty, prior=0.1 if penalty else 0.0)
    common = dict(exposure=exposure, priorities=Priorities(countries={"KE": 1.4, "IN": 0.7}))
    exact = Ranker(index, RankerConfig(search="exact", **common))  # type: ignore[arg-type]
    bounded = Ranker(index, RankerConfig(search="bounded", **common))  # type: ignore[arg-type]
    checked = 0
    for p in profiles[:80]:
        a, b = exact.suggest(p.school_id, k=10), bounded.suggest(p.school_id, k=10)
        assert list(a.ids) == list(b.ids)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
        np.testing.assert_allclose(a.contributions.sum(axis=1), a.scores, atol=1e-5)
        checked += len(a)
    assert checked > 200


# ---------------------------------------------------------------- exposure
def test_exposure_penalty_spreads_the_lists(vectorizer: SchoolVectorizer) -> None:
    profiles = make_registry(300, seed=13)
    index = SchoolIndex(vectorizer, profiles)
    askers = [p.school_id for p in profiles if p.active]

    def counts(penalty: float) -> np.ndarray:
        ranker = Ranker(index, RankerConfig(exposure=Exposure(penalty=penalty)))
        shown: dict[str, int] = {}
        for r in ranker.suggest_many(askers, k=5):
            for cid in r.ids:
                shown[cid] = shown.get(cid, 0) + 1
        return np.array(sorted(shown.values(), reverse=True))

    before, after = counts(0.0), counts(1.0)
    assert after[:10].sum() < before[:10].sum()  # the most-shown schools are shown less
    assert len(after) >= len(before)  # and at least as many schools are shown at all


def test_exposure_penalty_is_validated() -> None:
    with pytest.raises(ValueError, match="penalty"):
        RankerConfig.model_validate({"exposure": {"penalty": -0.1}})


def test_popularity_prior_must_be_fitted_and_lowers_the_most_shown(vectorizer: SchoolVectorizer) -> None:
    from matching.core.scoring import Scorer

    index = SchoolIndex(vectorizer, make_registry(200, seed=17))
    config = RankerConfig(exposure=Exposure(prior=0.5))
    with pytest.raises(ConfigError, match=r"exposure\.prior is on but not fitted: call Ranker\.fit_exposure"):
        Scorer(index, config).priority()
    ranker = Ranker(index, config)
    shown = ranker.fit_exposure()
    factor = ranker.scorer.priority()
    top, never = int(np.argmax(shown)), int(np.flatnonzero(shown == 0)[0])
    assert factor[never] == pytest.approx(1.0) and factor[top] < factor[never]
    assert np.all(np.diff(factor[np.argsort(shown)]) <= 1e-7)  # more lists, never a larger factor


def test_popularity_prior_counts_the_lists_suggest_shows(vectorizer: SchoolVectorizer) -> None:
    """The prior is fitted without building each list's reasons: its counts are still those of ``suggest``'s
    lists, ranked without the prior, for the seeded sample of asking schools."""
    index = SchoolIndex(vectorizer, make_registry(300, seed=5))
    config = RankerConfig(exposure=Exposure(prior=0.5, sample=120))
    shown = Ranker(index, config).fit_exposure(seed=3)
    plain = Ranker(index, config.model_copy(update={"exposure": config.exposure.model_copy(update={"prior": 0.0})}))
    cols = index.cols()
    askers = np.flatnonzero(cols.present & cols.active)
    askers = np.sort(np.random.default_rng(3).choice(askers, 120, replace=False))
    want = np.zeros(index.n_rows, dtype=np.int64)
    for ranking in plain.suggest_many([cols.ids[r] for r in askers], k=config.exposure.k):
        want[index.rows(ranking.ids)] += 1
    assert want.sum() > 0 and np.array_equal(shown, want)


def test_principle_checks_table(vectorizer: SchoolVectorizer) -> None:
    from matching.evaluation.principles import PRINCIPLES, principle_checks

    ranker = Ranker(SchoolIndex(vectorizer, make_registry(200, seed=19)))
    themes_only = RankerConfig(weights=Weights(**{c: 0.0 for c in Weights().as_dict()} | {"themes": 1.0}))
    table = principle_checks(ranker, {"themes only": themes_only}, n_schools=60, seed=1)
    assert list(table.columns) == list(PRINCIPLES) and list(table.index) == ["ranker", "themes only"]
    assert ((table >= 0) & (table <= 1)).all().all()
    readiness_only = RankerConfig(weights=Weights(**{c: 0.0 for c in Weights().as_dict()} | {"readiness": 1.0}))
    again = principle_checks(ranker, {"readiness only": readiness_only}, n_schools=60, seed=1)
    assert again.loc["readiness only", "readiness"] == pytest.approx(1.0)  # a component alone always follows itself


class _EnglishHashing(HashingEncoder):
    """The hashing stand-in, declaring English as its only language."""

    languages = frozenset({"en"})


def test_reasons_note_a_description_in_a_language_the_model_does_not_cover() -> None:
    uk = school("uk", "GB")
    ke = school("ke-sw", description="Tunapanda miti na kusafisha mazingira", description_language="sw")
    en = school("ke-en", description="We plant trees", description_language="en")
    vectorizer = SchoolVectorizer(encoder=_EnglishHashing(32), progress=False).fit(language_cover())
    ranker = Ranker(SchoolIndex(vectorizer, [uk, ke, en]))
    reasons = dict(zip(*(lambda r: (r.ids, r.reasons))(ranker.suggest("uk", k=2)), strict=True))
    assert "Swahili (sw)" in (reasons["ke-sw"].text_note or "") and reasons["ke-en"].text_note is None
    assert reasons["ke-sw"].sentences()[-1].startswith("The description is in Swahili")
    assert ranker.explain("uk", "ke-sw").reasons.text_note == reasons["ke-sw"].text_note
    plain = Ranker(
        SchoolIndex(SchoolVectorizer(encoder=HashingEncoder(32), progress=False).fit(language_cover()), [uk, ke])
    )
    assert plain.explain("uk", "ke-sw").reasons.text_note is None  # the plain stand-in says nothing of languages


def test_demo_registry_with_wishes_exercises_the_wishes_component() -> None:
    from matching.demo import generate_registry
    from matching.evaluation.offline import pair_components

    plain = generate_registry(300, seed=3)
    wished = generate_registry(300, seed=3, wishes=0.3)
    fields = ("preferred_countries", "preferred_regions", "preferred_phases", "kinds_of_work")
    strip = {f: () for f in fields}
    assert [p.model_copy(update=strip) for p in wished] == plain  # every other field unchanged
    stating = [p for p in wished if any(getattr(p, f) for f in fields)]
    assert 0.2 < len(stating) / len(wished) < 0.4
    assert any(p.preferred_countries for p in stating if p.is_uk) and any(p.kinds_of_work for p in stating)
    assert all(not any(getattr(p, f) for f in fields) for p in plain)
    index = SchoolIndex.build(wished, HashingEncoder(dim=32), progress=False)
    rows = index.rows([p.school_id for p in stating[:40]])
    others = index.rows([p.school_id for p in wished[:40]])
    comps = pair_components(index, np.repeat(rows, len(others)), np.tile(others, len(rows)), RankerConfig())
    assert np.ptp(comps[:, COMPONENTS.index("wishes")]) > 0  # the component varies
    with pytest.raises(ConfigError, match="wishes: 2 must be a share between 0 and 1"):
        generate_registry(10, wishes=2)
