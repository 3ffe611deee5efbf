"""Hard constraints: every rule's mask against a plain per-pair Python check, request filters, explain()."""

from __future__ import annotations

import random

import numpy as np
import pytest

from features.profiles import SchoolProfile
from features.text import HashingEncoder
from features.vectorizer import SchoolVectorizer
from matching.core.columns import Query, SchoolColumns, wrapped_hours
from matching.core.config import Constraints, RankerConfig
from matching.core.constraints import ConstraintSet
from matching.core.filters import RequestFilters
from matching.core.index import SchoolIndex
from matching.core.ranker import Ranker
from matching.core.rules import RULES as REGISTRY
from matching.core.rules import filter_rules, hard_rules
from matching.errors import ConfigError
from tests.support.factories import language_cover, make_registry, varied_profile, varied_registry
from tests.support.oracle import ALL_RULES, violations

SEEDS = [1, 2, 3]


@pytest.fixture(scope="module")
def vectorizer() -> SchoolVectorizer:
    return SchoolVectorizer(encoder=HashingEncoder(32), progress=False).fit(language_cover())


def index_of(vectorizer: SchoolVectorizer, profiles: list[SchoolProfile]) -> SchoolIndex:
    return SchoolIndex(vectorizer, profiles)


RULES = hard_rules()
RULE_MESSAGES = {name: rule.message for name, rule in REGISTRY.items()}


def only(rule: str) -> Constraints:
    return Constraints(**{r: r == rule for r in RULES})


def brute_mask(profiles: list[SchoolProfile], queries: list[SchoolProfile], **kwargs: object) -> np.ndarray:
    return np.array([[not violations(a, b, **kwargs) for b in profiles] for a in queries])  # type: ignore[arg-type]


def test_rule_names_agree() -> None:
    assert RULES == ALL_RULES
    assert tuple(Constraints.model_fields) == RULES
    assert filter_rules() == ("country_filter", "phase_filter", "timezone_filter")
    assert set(REGISTRY) == {*RULES, *filter_rules()}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("rule", ALL_RULES)
def test_each_rule_matches_brute_force(vectorizer: SchoolVectorizer, rule: str, seed: int) -> None:
    profiles = varied_registry(70, seed)
    index = index_of(vectorizer, profiles)
    mask = ConstraintSet(only(rule)).allowed(index, Query.registered(index, np.arange(len(profiles))))
    expected = brute_mask(profiles, profiles, rules=[rule])
    np.testing.assert_array_equal(mask, expected)
    assert 0 < expected.sum() < expected.size  # the rule does something on this registry


@pytest.mark.parametrize("seed", SEEDS)
def test_all_rules_together_match_brute_force(vectorizer: SchoolVectorizer, seed: int) -> None:
    profiles = varied_registry(80, seed)
    index = index_of(vectorizer, profiles)
    mask = ConstraintSet().allowed(index, Query.registered(index, np.arange(len(profiles))))
    np.testing.assert_array_equal(mask, brute_mask(profiles, profiles))
    assert mask.any()


def test_no_rules_allows_every_present_pair(vectorizer: SchoolVectorizer) -> None:
    profiles = varied_registry(30, 4)
    index = index_of(vectorizer, profiles)
    none = Constraints(**dict.fromkeys(RULES, False))
    assert none.enabled() == ()
    assert ConstraintSet(none).allowed(index, Query.registered(index, np.arange(30))).all()


@pytest.mark.parametrize(
    "filters",
    [
        dict(countries=("KE", "IN")),
        dict(countries=("fr",)),
        dict(phases=("primary", "special")),
        dict(max_timezone_difference=0),
        dict(max_timezone_difference=2.5),
        dict(max_timezone_difference=5.75),
        dict(max_timezone_difference=12),
        dict(countries=("BR", "US", "IQ"), phases=("secondary",), max_timezone_difference=6),
    ],
    ids=str,
)
@pytest.mark.parametrize("seed", SEEDS)
def test_request_filters_match_brute_force(vectorizer: SchoolVectorizer, filters: dict, seed: int) -> None:
    profiles = varied_registry(70, seed)
    index = index_of(vectorizer, profiles)
    query = Query.registered(index, np.arange(len(profiles)))
    mask = ConstraintSet(only("cross_border"), RequestFilters(**filters)).allowed(index, query)
    np.testing.assert_array_equal(mask, brute_mask(profiles, profiles, rules=["cross_border"], **filters))
    full = ConstraintSet(filters=RequestFilters(**filters)).allowed(index, query)
    np.testing.assert_array_equal(full, brute_mask(profiles, profiles, **filters))


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        (dict(countries=("XX",)), "countries: XX"),
        (dict(countries=("KE", "Kenya")), "Kenya"),
        (dict(phases=("college",)), "phases: college not allowed; use nursery"),
        (dict(max_timezone_difference=-1), "from 0 to 12"),
        (dict(max_timezone_difference=13), "max_timezone_difference: 13"),
    ],
)
def test_bad_request_filters_raise_config_error(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        RequestFilters(**kwargs)
    assert fragment in str(info.value)


def test_country_filter_normalises_case() -> None:
    assert RequestFilters(countries=("ke", "In")).countries == ("KE", "IN")


def test_posted_profile_query_matches_brute_force(vectorizer: SchoolVectorizer) -> None:
    profiles = varied_registry(60, 5)
    index = index_of(vectorizer, profiles)
    rng = random.Random(9)
    ids = [p.school_id for p in profiles]
    posted = [varied_profile(rng, f"new-{i}", ids) for i in range(15)]
    # one posted profile reuses a registered id (an edit being previewed)
    posted.append(profiles[3].model_copy(update={"description": "edited"}))
    query = Query(SchoolColumns.from_profiles(posted), np.array([index.row_of.get(p.school_id, -1) for p in posted]))
    mask = ConstraintSet().allowed(index, query)
    np.testing.assert_array_equal(mask, brute_mask(profiles, posted))


def test_removed_school_is_never_allowed(vectorizer: SchoolVectorizer) -> None:
    profiles = varied_registry(50, 6)
    index = index_of(vectorizer, profiles)
    gone = profiles[7].school_id
    index.remove(gone)
    mask = ConstraintSet(Constraints(**dict.fromkeys(RULES, False))).allowed(
        index, Query.registered(index, [index.row(profiles[0].school_id)])
    )
    assert not mask[0, 7]
    assert mask[0].sum() == len(profiles) - 1


@pytest.mark.parametrize("delta", [0, 1, -1, 11.5, 12, 13, -13, 23, 24, 36, -5.75])
def test_wrapped_hours_is_the_short_way_round(delta: float) -> None:
    d = abs(delta) % 24
    assert float(wrapped_hours(np.array([delta]))[0]) == pytest.approx(min(d, 24 - d))


# ---------------------------------------------------------------- explain() names exactly the blocking rules


@pytest.mark.parametrize("seed", SEEDS)
def test_explain_names_exactly_the_blocking_rules(vectorizer: SchoolVectorizer, seed: int) -> None:
    profiles = varied_registry(40, seed)
    ranker = Ranker(index_of(vectorizer, profiles))
    filters = dict(countries=("GB", "KE", "IN", "US"), max_timezone_difference=4)
    checked = blocked = 0
    for a in profiles[:12]:
        for b in profiles:
            for kwargs in ({}, filters):
                explanation = ranker.explain(a.school_id, b.school_id, RequestFilters(**kwargs) if kwargs else None)
                expected = violations(a, b, **kwargs)
                assert {name for name, _ in explanation.blocked_by} == expected, (a.school_id, b.school_id)
                assert explanation.allowed == (not expected)
                for name, message in explanation.blocked_by:
                    assert message == RULE_MESSAGES[name]
                checked += 1
                blocked += bool(expected)
    assert 0 < blocked < checked


def test_explain_agrees_with_the_mask_for_posted_profile(vectorizer: SchoolVectorizer) -> None:
    profiles = varied_registry(40, 8)
    ranker = Ranker(index_of(vectorizer, profiles))
    posted = varied_profile(random.Random(2), "posted", [p.school_id for p in profiles])
    _, mask = ranker.score_all(posted)
    for row, b in enumerate(profiles):
        explanation = ranker.explain(posted, b.school_id)
        assert explanation.allowed == bool(mask[row])
        assert {n for n, _ in explanation.blocked_by} == violations(posted, b)


def test_explain_sentences_name_the_rules(vectorizer: SchoolVectorizer) -> None:
    profiles = make_registry(30, seed=1)
    ranker = Ranker(index_of(vectorizer, profiles))
    uk = [p for p in profiles if p.country == "GB"]
    assert len(uk) >= 2
    explanation = ranker.explain(uk[0].school_id, uk[1].school_id)
    assert not explanation.allowed
    text = " ".join(explanation.sentences())
    assert "cross_border" in text and RULE_MESSAGES["cross_border"] in text
    assert explanation.as_dict()["blocked_by"][0]["rule"] in RULES


def test_switching_a_rule_off_in_config_allows_the_pair(vectorizer: SchoolVectorizer) -> None:
    profiles = make_registry(80, seed=3)  # common phases and English everywhere: UK-UK pairs pass the rest
    index = index_of(vectorizer, profiles)
    uk = [i for i, p in enumerate(profiles) if p.country == "GB"]
    config = RankerConfig(constraints=Constraints(cross_border=False))
    newly_allowed = 0
    for row in uk:
        on = Ranker(index).score_all(profiles[row].school_id)[1]
        off = Ranker(index, config).score_all(profiles[row].school_id)[1]
        assert not on[uk].any()
        expected = np.array([not violations(profiles[row], b, rules=config.constraints.enabled()) for b in profiles])
        np.testing.assert_array_equal(off, expected)
        assert (off >= on).all()
        newly_allowed += int(off[uk].sum())
    assert newly_allowed > 0  # UK-UK pairs now pass


def test_cached_single_query_masks_follow_every_index_change(vectorizer: SchoolVectorizer) -> None:
    """One query's mask comes from cached per-rule masks; after each add, update and remove it still equals
    the uncached computation (the same query asked as part of two)."""
    rng = random.Random(11)
    profiles = varied_registry(60, 11)
    index = index_of(vectorizer, profiles)
    constraints = ConstraintSet(filters=RequestFilters(max_timezone_difference=6))

    def check() -> None:
        for row in rng.sample([r for r in range(index.n_rows) if index.columns.present[r]], 12):
            one = constraints.allowed(index, Query.registered(index, [row]))[0]
            other = next(r for r in range(index.n_rows) if r != row and index.columns.present[r])
            two = constraints.allowed(index, Query.registered(index, [row, other]))[0]
            assert np.array_equal(one, two), row

    check()
    index.add([varied_profile(rng, f"new-{i}") for i in range(5)])
    check()
    index.update(varied_profile(rng, profiles[3].school_id))  # new phase, ages, languages, country
    check()
    index.update(profiles[4].model_copy(update={"active": False}))
    check()
    index.remove(profiles[5].school_id)
    check()
    for _ in range(20):  # in-place updates only (the per-row caches follow these)
        row = rng.choice([r for r in range(index.n_rows) if index.columns.present[r]])
        index.update(varied_profile(rng, index.columns.ids[row]))
        check()
