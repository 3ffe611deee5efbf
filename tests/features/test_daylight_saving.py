"""Regression of issue 13 "daylight saving": offsets were all taken at noon on 1 March, so the school-day overlap
and the maximum time-zone filter were an hour off whenever one side was on summer time. Now every school has
an offset per term (January: winter time, June: summer time), the overlap is shown as a range over the terms,
the score counts its mean, and the time-zone filter holds in the worst term.

UK: UTC+0 in January, +1 in June; Kenya: +3 always; Brazil (Sao Paulo): -3 always.
So UK-Kenya is 3 h apart in January, 2 h in June; UK-Brazil 3 h in January, 4 h in June.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from features import vocab
from features.blocks import CountryBlock
from features.profiles import SchoolProfile, validate_profile
from features.text import HashingEncoder
from matching.core.columns import SchoolColumns
from matching.core.config import Exposure, RankerConfig
from matching.core.filters import RequestFilters
from matching.core.index import SchoolIndex
from matching.core.ranker import Ranker
from matching.core.scoring import overlap_hours, term_overlap_hours

YEAR = date.today().year


def school(school_id: str, country: str, languages: str = "en", **extra: object) -> SchoolProfile:
    return validate_profile(
        dict(
            school_id=school_id,
            name=f"School {school_id}",
            country=country,
            phase="secondary",
            age_min=11,
            age_max=16,
            languages=languages,
            capacity=2,
            themes="sdg13_climate_action",
            **extra,
        )
    )


UK = school("uk-1", "GB")
KENYA = school("ke-1", "KE", "en;sw")
BRAZIL = school("br-1", "BR", "en;pt", timezone="America/Sao_Paulo")


@pytest.fixture(scope="module")
def ranker() -> Ranker:
    index = SchoolIndex.build([UK, KENYA, BRAZIL], HashingEncoder(dim=64), progress=False)
    return Ranker(index, RankerConfig(exposure=Exposure(prior=0.0)))  # the parts compared exactly: no popularity prior


@pytest.mark.parametrize(
    ("zone", "january", "june"),
    [("Europe/London", 0.0, 1.0), ("Africa/Nairobi", 3.0, 3.0), ("America/Sao_Paulo", -3.0, -3.0)],
)
def test_daylight_saving_offsets_per_term(zone: str, january: float, june: float) -> None:
    assert vocab.TERMS == ("January", "June")
    assert vocab.term_offsets(zone) == (january, june)
    assert vocab.utc_offset_hours(zone, date(YEAR, 1, 15)) == january
    assert vocab.utc_offset_hours(zone, date(YEAR, 6, 15)) == june


def test_daylight_saving_southern_summer_time() -> None:
    january, june = vocab.term_offsets("Australia/Sydney")
    assert (january, june) == (11.0, 10.0)  # summer time in January there


def test_daylight_saving_columns_hold_both_terms() -> None:
    cols = SchoolColumns.from_profiles([UK, KENYA, BRAZIL])
    assert cols.tz_offset.shape == (3, 2)
    assert cols.tz_offset.tolist() == [[0.0, 1.0], [3.0, 3.0], [-3.0, -3.0]]


@pytest.mark.parametrize(
    ("other", "january", "june"),
    [(KENYA, 7 - 3, 7 - 2), (BRAZIL, 7 - 3, 7 - 4)],
    ids=["UK-Kenya", "UK-Brazil"],
)
def test_daylight_saving_overlap_in_january_and_june(ranker: Ranker, other: SchoolProfile, january, june) -> None:
    day = ranker.config.school_day_hours
    assert day == 7
    cols = SchoolColumns.from_profiles([UK, other])
    per_term = term_overlap_hours(cols.tz_offset[0], cols.tz_offset[1], day)
    assert per_term.tolist() == [january, june]
    assert float(overlap_hours(cols.tz_offset[0], cols.tz_offset[1], day)) == (january + june) / 2

    reasons = ranker.explain(UK.school_id, other.school_id).reasons
    low, high = sorted((january, june))
    assert reasons.overlap_range == (low, high)
    assert reasons.overlap_hours == (january + june) / 2
    assert f"School days overlap {low}-{high} h" in " ".join(reasons.sentences())

    # the score counts the mean overlap over the terms, the same in suggestions and explanations
    ranking = ranker.suggest(UK.school_id, k=5, diversity="none")
    i = list(ranking.ids).index(other.school_id)
    weight = ranker.config.weights.as_dict()["timezone_overlap"]
    tz_column = list(ranking.components).index("timezone_overlap")
    assert float(ranking.contributions[i, tz_column]) == pytest.approx(weight * (january + june) / 2 / day, abs=1e-6)
    assert ranking.reasons[i].overlap_range == (low, high)


@pytest.mark.parametrize(
    ("max_hours", "expected"),
    [(1.5, set()), (2.5, set()), (3.0, {"ke-1"}), (3.5, {"ke-1"}), (4.0, {"ke-1", "br-1"})],
)
def test_daylight_saving_timezone_filter_holds_in_the_worst_term(ranker: Ranker, max_hours, expected) -> None:
    # UK-Kenya: 3 h (January) / 2 h (June) -> passes from 3 h; UK-Brazil: 3 h / 4 h -> passes from 4 h
    filters = RequestFilters(max_timezone_difference=max_hours)
    got = set(ranker.suggest(UK.school_id, k=5, diversity="none", filters=filters).ids)
    assert got == expected
    assert ranker.explain(UK.school_id, "br-1", filters).allowed == ("br-1" in expected)


def test_daylight_saving_same_zone_overlaps_fully() -> None:
    reasons = (
        Ranker(SchoolIndex.build([UK, school("ie-1", "IE")], HashingEncoder(dim=64), progress=False), RankerConfig())
        .explain("uk-1", "ie-1")
        .reasons
    )
    assert reasons.overlap_range == (7.0, 7.0)
    assert "School days overlap 7 h" in " ".join(reasons.sentences())


def test_daylight_saving_country_block_places_zone_between_its_terms() -> None:
    block = CountryBlock(region_weight=0, subregion_weight=0, timezone_weight=1, language_weight=0)
    frame = pd.DataFrame(
        {"country": ["GB", "GH"], "timezone": ["Europe/London", "Africa/Accra"], "languages": ["en", "en"]}
    )
    rows = block.fit(frame).transform(frame)
    # London (0 h / +1 h) and Accra (0 h all year) are no longer the same point on the 24-hour circle
    assert not np.allclose(rows[0], rows[1])
    half_hour = 2 * np.pi * 0.5 / 24
    assert float(rows[0] @ rows[1]) == pytest.approx(np.cos(half_hour), abs=1e-4)
