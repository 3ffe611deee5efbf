"""The rule registry: a rule added in one place is enforced and named everywhere; the ranker's exclude=,
suggest_many and diagnose; the one request-filter parser."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from features.profiles import SchoolProfile
from matching.batch import AssignmentOptions, assign
from matching.core import RULES, FilterError, RequestFilters, Rule, parse_filters, register, unregister
from matching.core.columns import SchoolColumns
from matching.core.config import RankerConfig
from matching.core.filters import country_code
from matching.core.ranker import Ranker
from matching.errors import ConfigError
from tests.support.factories import cohort, hashing_index, make_registry
from tests.support.oracle import allowed_ids
from tests.support.toy_rule import TOY, TOY_MESSAGE, ToyRule, toy_rule


@pytest.fixture
def toy() -> Iterator[ToyRule]:
    with toy_rule() as state:
        yield state


@pytest.fixture(scope="module")
def profiles() -> list[SchoolProfile]:
    return make_registry(150, seed=5)


@pytest.fixture(scope="module")
def ranker(profiles: list[SchoolProfile]) -> Ranker:
    return Ranker(hashing_index(profiles), RankerConfig())


def school_with_suggestions(ranker: Ranker, k: int = 6) -> str:
    for sid in ranker.index.ids:
        if len(ranker.suggest(sid, k=k, diversity="none")) == k:
            return sid
    raise AssertionError("no school with enough suggestions")


# ---------------------------------------------------------------- one rule, every consumer
def test_a_registered_rule_is_enforced_named_and_counted(ranker: Ranker, toy: ToyRule) -> None:
    sid = school_with_suggestions(ranker)
    before = ranker.suggest(sid, k=6, diversity="none")
    toy.blocked = {str(x) for x in before.ids[:3]}
    after = ranker.suggest(sid, k=6, diversity="none")
    assert not toy.blocked & set(after.ids.tolist())
    assert after.n_allowed == before.n_allowed - 3

    blocked = sorted(toy.blocked)[0]
    explanation = ranker.explain(sid, blocked)
    assert not explanation.allowed and explanation.blocked_by == [(TOY, TOY_MESSAGE)]

    diagnosis = ranker.diagnose(sid)
    counts = {c.rule: c for c in diagnosis.rules}
    assert counts[TOY].message == TOY_MESSAGE and not counts[TOY].is_filter
    assert counts[TOY].passing == len(ranker.index) - 3
    assert diagnosis.n_allowed == after.n_allowed

    toy.blocked = set(ranker.index.ids)  # nothing passes: the rule is among the blocking ones
    assert len(ranker.suggest(sid)) == 0
    assert TOY in {c.rule for c in ranker.diagnose(sid).blocking()}


def test_a_registered_rule_is_enforced_by_the_batch(toy: ToyRule) -> None:
    index = hashing_index(cohort(20, 20, seed=2))
    options = AssignmentOptions(progress=False)
    first = assign(index, options=options)
    assert first.pairs
    toy.blocked = {b for _, b in first.pairs[:5]}
    second = assign(index, options=options)
    assert not toy.blocked & {b for _, b in second.pairs}


def test_rules_register_once_and_unregister_by_name() -> None:
    rule = RULES["cross_border"]
    with pytest.raises(ConfigError, match="cross_border: already registered"):
        register(rule)
    with pytest.raises(ConfigError, match="nope: not registered"):
        unregister("nope")
    with pytest.raises(ConfigError, match="a filter needs"):
        Rule("f", "m", rule.mask, kind="filter")


def test_every_rule_declares_the_columns_it_reads() -> None:
    fields = set(SchoolColumns.__dataclass_fields__)
    for rule in RULES.values():
        assert rule.columns <= fields, rule.name
        assert rule.is_filter == (rule.param is not None), rule.name


# ---------------------------------------------------------------- exclude, suggest_many, diagnose
def test_exclude_leaves_the_ids_out(ranker: Ranker) -> None:
    sid = school_with_suggestions(ranker)
    full = ranker.suggest(sid, k=6, diversity="none")
    gone = [str(x) for x in full.ids[:2]]
    r = ranker.suggest(sid, k=6, diversity="none", exclude=[*gone, "not-registered"])
    assert not set(gone) & set(r.ids.tolist())
    assert r.n_allowed == full.n_allowed - 2 and r.n_excluded == 2
    assert r.ids.tolist()[:4] == full.ids.tolist()[2:6]


def test_suggest_many_equals_suggest_one_by_one(ranker: Ranker, profiles: list[SchoolProfile]) -> None:
    schools: list[str | SchoolProfile] = [p.school_id for p in profiles[:12]] + [profiles[20]]
    exclude = {profiles[0].school_id: [p.school_id for p in profiles[1:40]]}
    filters = RequestFilters(max_timezone_difference=6)
    many = ranker.suggest_many(schools, k=5, filters=filters, exclude=exclude)
    assert len(many) == len(schools)
    for school, got in zip(schools, many, strict=True):
        sid = school if isinstance(school, str) else school.school_id
        one = ranker.suggest(school, k=5, filters=filters, exclude=exclude.get(sid, ()))
        assert got.query_id == one.query_id and got.ids.tolist() == one.ids.tolist()
        np.testing.assert_array_equal(got.scores, one.scores)
        assert got.n_allowed == one.n_allowed and got.n_excluded == one.n_excluded


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"countries": ("KE", "IN")}, {"phases": ("primary",), "max_timezone_difference": 3.0}, {"countries": ("AQ",)}],
)
def test_diagnose_counts_equal_a_brute_force_count(ranker: Ranker, profiles: list[SchoolProfile], kwargs: dict) -> None:
    filters = RequestFilters(**kwargs)
    by_filter = {"countries": "country_filter", "phases": "phase_filter", "max_timezone_difference": "timezone_filter"}
    oracle_kwargs = {field: getattr(filters, field) for field in by_filter}
    exclude = [p.school_id for p in profiles[30:60]]
    for a in profiles[:10]:
        d = ranker.diagnose(a.school_id, filters, exclude=exclude)
        allowed = allowed_ids(a, profiles, **oracle_kwargs)
        assert d.n_allowed == len(allowed - set(exclude)) and d.n_excluded == len(allowed & set(exclude))
        for count in d.rules:
            if count.is_filter:
                field = next(k for k, v in by_filter.items() if v == count.rule)
                passing = allowed_ids(a, profiles, rules=(), **{field: oracle_kwargs[field]})
            else:
                passing = allowed_ids(a, profiles, rules=(count.rule,))
            assert count.passing == len(passing), count.rule
        for rule, n in d.without_filter.items():
            field = next(k for k, v in by_filter.items() if v == rule)
            assert n == ranker.suggest(a.school_id, 1, filters.without(field), exclude=exclude).n_allowed
        assert d.n_unfiltered == ranker.suggest(a.school_id, 1, exclude=exclude).n_allowed
        assert d.n_allowed == ranker.suggest(a.school_id, 1, filters, exclude=exclude).n_allowed


# ---------------------------------------------------------------- the one filter parser
@pytest.mark.parametrize("uk", ["UK", "uk", " Uk ", "GB", "gb"])
def test_uk_is_gb_everywhere(uk: str) -> None:
    assert country_code(uk) == "GB"
    assert RequestFilters(countries=(uk,)).countries == ("GB",)
    assert parse_filters(countries=f"ke,{uk}").countries == ("KE", "GB")


def test_parse_filters_reads_what_people_type() -> None:
    f = parse_filters(countries=["ke, in", "KE"], phases="primary,secondary", max_tz=" 4.5 ")
    assert f == RequestFilters(("KE", "IN"), ("primary", "secondary"), 4.5)
    assert parse_filters(max_tz="") == RequestFilters() and not parse_filters().active
    assert parse_filters(max_tz=3).max_timezone_difference == 3.0


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"countries": "KE,Kenya"}, "countries", "countries: Kenya is not a country code; use ISO 3166-1 alpha-2"),
        ({"phases": "college"}, "phases", "phases: 'college' not allowed; use nursery"),
        ({"max_tz": "soon"}, "max_timezone_difference", "'soon' not allowed; use a number of hours from 0 to 12"),
        ({"max_tz": 13}, "max_timezone_difference", "13 not allowed"),
    ],
)
def test_parse_filters_errors_name_field_value_and_allowed(kwargs: dict, field: str, fragment: str) -> None:
    with pytest.raises(FilterError) as info:
        parse_filters(**kwargs)
    assert info.value.field == field and fragment in str(info.value)
    assert isinstance(info.value, ConfigError)


def test_parse_filters_names_fields_as_the_caller_does() -> None:
    with pytest.raises(FilterError, match=r"^phase: 'x' not allowed"):
        parse_filters(phases="x", names={"phases": "phase"})
