"""Feature blocks: the scikit-learn transformer contract and what each block's cosine means."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import TruncatedSVD
from sklearn.exceptions import NotFittedError
from sklearn.metrics.pairwise import cosine_similarity
from sklearn.pipeline import Pipeline

from features import vocab
from features.blocks import SKILL_COLUMNS, CountryBlock, PhaseBlock, SkillsBlock, ThemesBlock, l2_rows, split_list
from features.profile_files import profiles_to_frame
from features.profiles import SchoolProfile, validate_profile
from features.text import CachedEncoder, HashingEncoder
from tests.support.factories import make_registry

COLUMNS: dict[str, list[str]] = {
    "country": ["country", "timezone", "languages"],
    "phase": ["phase", "age_min", "age_max"],
    "themes": ["themes", "description"],
    "skills": list(SKILL_COLUMNS),
}


def make_block(name: str, encoder: HashingEncoder) -> BaseEstimator:
    return {
        "country": lambda: CountryBlock(),
        "phase": lambda: PhaseBlock(),
        "themes": lambda: ThemesBlock(encoder=encoder, progress=False),
        "skills": lambda: SkillsBlock(),
    }[name]()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return profiles_to_frame(make_registry(60, seed=2), include_private=False)


BLOCKS = list(COLUMNS)


def school(**overrides: object) -> SchoolProfile:
    data: dict[str, object] = dict(
        school_id="x1", name="X", country="GB", phase="primary", age_min=4, age_max=11, languages="en"
    )
    data.update(overrides)
    return validate_profile(data)


def table(*profiles: SchoolProfile) -> pd.DataFrame:
    return profiles_to_frame(profiles, include_private=False)


# ---------------------------------------------------------------- estimator contract


@pytest.mark.parametrize("name", BLOCKS)
def test_init_only_stores_params(name: str, fake_encoder: HashingEncoder) -> None:
    block = make_block(name, fake_encoder)
    params = block.get_params()
    assert vars(block) == params  # nothing but the parameters, stored unchanged
    signature = inspect.signature(type(block).__init__)
    named = {p.name for p in signature.parameters.values() if p.name != "self" and p.kind == p.POSITIONAL_OR_KEYWORD}
    assert set(params) == named


@pytest.mark.parametrize("name", BLOCKS)
def test_get_set_params_and_clone(name: str, fake_encoder: HashingEncoder) -> None:
    block = make_block(name, fake_encoder)
    params = block.get_params()
    copy = clone(block)
    assert type(copy) is type(block)
    assert copy.get_params().keys() == params.keys()
    for key, value in params.items():
        if isinstance(value, float):
            block.set_params(**{key: value / 2})
            assert block.get_params()[key] == value / 2
    if name == "themes":
        assert copy.encoder is block.encoder  # encoders are shared, not copied


@pytest.mark.parametrize("name", BLOCKS)
def test_not_fitted_error_before_fit(name: str, fake_encoder: HashingEncoder, frame: pd.DataFrame) -> None:
    block = make_block(name, fake_encoder)
    with pytest.raises(NotFittedError):
        block.transform(frame[COLUMNS[name]])
    with pytest.raises(NotFittedError):
        block.get_feature_names_out()


@pytest.mark.parametrize("name", BLOCKS)
def test_fitted_attributes_end_with_underscore(name: str, fake_encoder: HashingEncoder, frame: pd.DataFrame) -> None:
    block = make_block(name, fake_encoder)
    before = set(vars(block))
    returned = block.fit(frame[COLUMNS[name]])
    assert returned is block
    learned = {a for a in set(vars(block)) - before if not a.startswith("_")}
    assert learned, "fit learned nothing visible"
    assert all(a.endswith("_") for a in learned), learned
    assert block.n_features_in_ == len(COLUMNS[name])
    assert block.get_params() == make_block(name, fake_encoder).get_params()  # fit never changes params


@pytest.mark.parametrize("name", BLOCKS)
def test_feature_names_match_output_width_and_rows_are_unit_or_zero(
    name: str, fake_encoder: HashingEncoder, frame: pd.DataFrame
) -> None:
    block = make_block(name, fake_encoder)
    out = block.fit_transform(frame[COLUMNS[name]])
    names = block.get_feature_names_out()
    assert out.shape == (len(frame), len(names))
    assert len(set(names)) == len(names)
    assert out.dtype == np.float32
    norms = np.linalg.norm(out, axis=1)
    assert np.all(np.isclose(norms, 1.0, atol=1e-5) | (norms == 0.0))
    assert np.isclose(norms, 1.0, atol=1e-5).sum() > len(frame) // 2


@pytest.mark.parametrize("name", BLOCKS)
def test_dot_product_is_the_block_cosine(name: str, fake_encoder: HashingEncoder, frame: pd.DataFrame) -> None:
    out = make_block(name, fake_encoder).fit_transform(frame[COLUMNS[name]])
    np.testing.assert_allclose(out @ out.T, cosine_similarity(out), atol=1e-5)


@pytest.mark.parametrize("name", BLOCKS)
def test_transform_is_deterministic_and_row_independent(
    name: str, fake_encoder: HashingEncoder, frame: pd.DataFrame
) -> None:
    block = make_block(name, fake_encoder).fit(frame[COLUMNS[name]])
    whole = block.transform(frame[COLUMNS[name]])
    part = block.transform(frame[COLUMNS[name]].iloc[7:19])
    np.testing.assert_allclose(part, whole[7:19], atol=1e-6)
    np.testing.assert_array_equal(block.transform(frame[COLUMNS[name]]), whole)


def test_blocks_compose_in_column_transformer_and_pipeline(fake_encoder: HashingEncoder, frame: pd.DataFrame) -> None:
    columns = ColumnTransformer(
        [(name, make_block(name, fake_encoder), cols) for name, cols in COLUMNS.items()], sparse_threshold=0.0
    )
    pipe = Pipeline([("blocks", columns), ("svd", TruncatedSVD(n_components=5, random_state=0))])
    reduced = pipe.fit_transform(frame)
    assert reduced.shape == (len(frame), 5)
    stacked = pipe.named_steps["blocks"].transform(frame)
    names = pipe.named_steps["blocks"].get_feature_names_out()
    assert stacked.shape[1] == len(names)
    assert {n.split("__")[0] for n in names} == set(COLUMNS)
    # the same pipeline, cloned and refitted, gives the same features
    again = clone(pipe).fit(frame)
    np.testing.assert_allclose(again.named_steps["blocks"].transform(frame), stacked, atol=1e-6)


# ---------------------------------------------------------------- what each block measures


def test_country_block_similarity_orders_neighbours(fake_encoder: HashingEncoder) -> None:
    schools = table(
        school(school_id="gb", country="GB", languages="en"),
        school(school_id="ie", country="IE", languages="en"),  # same sub-region, same language
        school(school_id="fr", country="FR", languages="fr"),  # Europe, another sub-region
        school(school_id="ke", country="KE", languages="en;sw"),  # Africa, shares English
        school(school_id="cn", country="CN", languages="zh"),  # far away, no shared language
    )
    block = CountryBlock()
    out = block.fit_transform(schools[COLUMNS["country"]])
    sim = out @ out.T
    gb = 0
    assert sim[gb, 1] > sim[gb, 2] > sim[gb, 4]
    assert sim[gb, 3] > sim[gb, 4]
    assert sim[gb, gb] == pytest.approx(1.0, abs=1e-6)
    assert list(block.languages_) == sorted({"en", "fr", "sw", "zh"})


def test_country_block_weights_select_parts(fake_encoder: HashingEncoder) -> None:
    schools = table(school(school_id="a", country="GB", languages="en"), school(school_id="b", country="FR"))
    only_language = CountryBlock(region_weight=0, subregion_weight=0, timezone_weight=0, language_weight=1)
    out = only_language.fit_transform(schools[COLUMNS["country"]])
    assert out[0] @ out[1] == pytest.approx(1.0)  # both teach in English, nothing else counts
    only_region = CountryBlock(region_weight=1, subregion_weight=0, timezone_weight=0, language_weight=0)
    out = only_region.fit_transform(schools[COLUMNS["country"]])
    assert out[0] @ out[1] == pytest.approx(1.0)  # both in Europe


def test_phase_block_cosine_reflects_age_overlap() -> None:
    schools = table(
        school(school_id="p1", phase="primary", age_min=4, age_max=11),
        school(school_id="p2", phase="primary", age_min=4, age_max=11),
        school(school_id="a1", phase="all_through", age_min=4, age_max=18),
        school(school_id="s1", phase="secondary", age_min=11, age_max=18),
        school(school_id="f1", phase="sixth_form", age_min=16, age_max=19),
    )
    out = PhaseBlock().fit_transform(schools[COLUMNS["phase"]])
    sim = out @ out.T
    assert sim[0, 1] == pytest.approx(1.0, abs=1e-6)
    assert sim[0, 2] > sim[0, 3] > sim[0, 4]
    assert sim[0, 4] == pytest.approx(0.0, abs=1e-6)  # no shared phase, no shared age


def test_themes_block_zero_row_without_themes_or_description(fake_encoder: HashingEncoder) -> None:
    schools = table(school(school_id="e"), school(school_id="t", themes="mathematics"))
    out = ThemesBlock(encoder=fake_encoder).fit_transform(schools[COLUMNS["themes"]])
    assert not out[0].any()
    assert np.linalg.norm(out[1]) == pytest.approx(1.0, abs=1e-6)


def test_themes_block_shared_tags_and_descriptions_raise_similarity(fake_encoder: HashingEncoder) -> None:
    schools = table(
        school(
            school_id="q", themes="sdg13_climate_action;environment", description="recycling club and tree planting"
        ),
        school(school_id="same_tags", themes="sdg13_climate_action;environment"),
        school(school_id="same_text", description="recycling club and tree planting"),
        school(school_id="other", themes="music", description="orchestra and choir concerts"),
    )
    out = ThemesBlock(encoder=fake_encoder, progress=False).fit_transform(schools[COLUMNS["themes"]])
    sim = out[0] @ out.T
    assert sim[1] > sim[3] and sim[2] > sim[3]
    # without the description part only the tags count
    tags_only = ThemesBlock(encoder=fake_encoder, description_weight=0.0).fit_transform(schools[COLUMNS["themes"]])
    assert not tags_only[2].any()


def test_themes_block_needs_an_encoder(frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="needs an encoder"):
        ThemesBlock().fit(frame[COLUMNS["themes"]])


def test_themes_block_encodes_each_description_once_and_labels_at_fit(frame: pd.DataFrame, tmp_path) -> None:
    encoder = CachedEncoder(HashingEncoder(32), tmp_path / "cache.sqlite")
    block = ThemesBlock(encoder=encoder, progress=False).fit(frame[COLUMNS["themes"]])
    assert encoder.encoded_count == len(vocab.themes())
    block.transform(frame[COLUMNS["themes"]])
    distinct = {d for d in frame["description"] if d}
    assert encoder.encoded_count == len(vocab.themes()) + len(distinct)
    block.transform(frame[COLUMNS["themes"]])
    assert encoder.encoded_count == len(vocab.themes()) + len(distinct)


def test_skills_block_zero_row_and_scale() -> None:
    levels = {f"want_{s}": 0.2 for s in vocab.SKILLS} | {f"offer_{s}": 0.2 for s in vocab.SKILLS}
    doubled = {k: 0.4 for k in levels}
    schools = table(school(school_id="z"), school(school_id="a", **levels), school(school_id="b", **doubled))
    out = SkillsBlock().fit_transform(schools[COLUMNS["skills"]])
    assert not out[0].any()
    assert out[1] @ out[2] == pytest.approx(1.0, abs=1e-6)  # same profile of skills, another scale
    assert list(SkillsBlock().fit(schools[COLUMNS["skills"]]).get_feature_names_out()) == list(SKILL_COLUMNS)


@pytest.mark.parametrize(
    ("fn", "args", "expected"),
    [
        (split_list, ("en; ar;;",), ["en", "ar"]),
        (split_list, (("en", " fr "),), ["en", "fr"]),
        (split_list, (float("nan"),), []),
        (split_list, (None,), []),
    ],
)
def test_split_list(fn: Callable[..., object], args: tuple[object, ...], expected: object) -> None:
    assert fn(*args) == expected


def test_l2_rows_keeps_zero_rows_zero() -> None:
    out = l2_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])
