"""The school vectorizer (blocks side by side) and the text encoders with their disk cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import TruncatedSVD
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

from features import vocab
from features.blocks import SKILL_COLUMNS, CountryBlock, PhaseBlock, SkillsBlock, ThemesBlock
from features.profile_files import profiles_to_frame
from features.profiles import CSV_COLUMNS, PRIVATE_FIELDS, SchoolProfile
from features.text import CachedEncoder, EmbeddingCache, EncoderMismatchError, HashingEncoder, TextEncoder, text_key
from features.vectorizer import BLOCKS, DIRECT_ROWS, FeatureMatrix, SchoolVectorizer
from matching.core.engine import build_ranker, make_encoder
from tests.support.factories import make_registry


@pytest.fixture(scope="module")
def profiles() -> list[SchoolProfile]:
    return make_registry(80, seed=4)


@pytest.fixture(scope="module")
def fitted(profiles: list[SchoolProfile]) -> SchoolVectorizer:
    return SchoolVectorizer(encoder=HashingEncoder(48), progress=False).fit(profiles)


def unit_or_zero(x: np.ndarray) -> bool:
    norms = np.linalg.norm(x, axis=1)
    return bool(np.all(np.isclose(norms, 1.0, atol=1e-5) | (norms == 0.0)))


# ---------------------------------------------------------------- estimator contract


def test_init_stores_params_only(fake_encoder: HashingEncoder) -> None:
    vec = SchoolVectorizer(encoder=fake_encoder, tag_weight=0.3, progress=False)
    assert vars(vec) == {"encoder": fake_encoder, "tag_weight": 0.3, "progress": False}
    assert vec.get_params() == vars(vec)
    vec.set_params(tag_weight=0.7)
    assert vec.tag_weight == 0.7


def test_not_fitted_before_fit(profiles: list[SchoolProfile], fake_encoder: HashingEncoder) -> None:
    vec = SchoolVectorizer(encoder=fake_encoder)
    with pytest.raises(NotFittedError):
        vec.transform(profiles)
    with pytest.raises(NotFittedError):
        vec.get_feature_names_out()
    with pytest.raises(NotFittedError):
        vec.matrix(profiles)


def test_fitted_attributes_and_feature_names(fitted: SchoolVectorizer, profiles: list[SchoolProfile]) -> None:
    public = {a for a in vars(fitted) if not a.startswith("_")}
    assert public - set(fitted.get_params()) == {"column_transformer_", "blocks_", "n_features_out_"}
    names = fitted.get_feature_names_out()
    out = fitted.transform(profiles)
    assert out.shape == (len(profiles), len(names)) == (len(profiles), fitted.n_features_out_)
    assert out.dtype == np.float32 and out.flags["C_CONTIGUOUS"]
    for block, s in fitted.blocks_.items():
        assert all(n.startswith(f"{block}__") for n in names[s])


def test_block_slices_tile_the_columns(fitted: SchoolVectorizer) -> None:
    assert tuple(fitted.blocks_) == BLOCKS
    stop = 0
    for s in fitted.blocks_.values():
        assert s.start == stop and s.stop > s.start
        stop = s.stop
    assert stop == fitted.n_features_out_


def test_every_block_slice_is_unit_or_zero(fitted: SchoolVectorizer, profiles: list[SchoolProfile]) -> None:
    out = fitted.transform(profiles)
    for s in fitted.blocks_.values():
        assert unit_or_zero(out[:, s])


def test_dot_product_over_a_slice_equals_that_blocks_cosine(
    fitted: SchoolVectorizer, profiles: list[SchoolProfile]
) -> None:
    frame = profiles_to_frame(profiles, include_private=False)
    fm = fitted.matrix(profiles)
    standalone = {
        "country": CountryBlock().fit_transform(frame[["country", "timezone", "languages"]]),
        "phase": PhaseBlock().fit_transform(frame[["phase", "age_min", "age_max"]]),
        "themes": ThemesBlock(encoder=fitted.encoder, progress=False).fit_transform(frame[["themes", "description"]]),
        "skills": SkillsBlock().fit_transform(frame[list(SKILL_COLUMNS)]),
    }
    for name, block in standalone.items():
        np.testing.assert_allclose(fm.block(name) @ fm.block(name).T, block @ block.T, atol=1e-5)
    for a, b in [(0, 1), (3, 40), (10, 79)]:
        sims = fm.block_similarity(a, b)
        for name, block in standalone.items():
            assert sims[name] == pytest.approx(float(block[a] @ block[b]), abs=1e-5)


def test_matrix_ids_and_inputs(fitted: SchoolVectorizer, profiles: list[SchoolProfile]) -> None:
    fm = fitted.matrix(profiles)
    assert isinstance(fm, FeatureMatrix)
    assert list(fm.ids) == [p.school_id for p in profiles]
    assert len(fm) == len(profiles)
    frame = profiles_to_frame(profiles, include_private=False)
    np.testing.assert_array_equal(fitted.transform(frame), fm.X)
    assert fitted.transform([]).shape == (0, fitted.n_features_out_)


def test_private_fields_never_reach_the_vectorizer(profiles: list[SchoolProfile]) -> None:
    seen: list[str] = []

    class Spy(HashingEncoder):
        def encode(self, texts, progress=False):  # type: ignore[no-untyped-def]
            seen.extend(texts)
            return super().encode(texts, progress)

    SchoolVectorizer(encoder=Spy(16), progress=False).fit_transform(profiles)
    assert seen and not any("@" in t for t in seen)
    assert not set(PRIVATE_FIELDS) & set(SchoolVectorizer().get_params())


def test_progress_false_keeps_description_weight(profiles: list[SchoolProfile]) -> None:
    """Regression: SchoolVectorizer passed ``progress`` positionally into ThemesBlock's ``description_weight``,
    so ``progress=False`` silently dropped every description from the themes block."""
    quiet = SchoolVectorizer(encoder=HashingEncoder(48), progress=False)
    loud = SchoolVectorizer(encoder=HashingEncoder(48), progress=True)
    np.testing.assert_allclose(quiet.fit_transform(profiles), loud.fit_transform(profiles), atol=1e-6)
    themes = quiet.column_transformer_.named_transformers_["themes"]
    assert (themes.description_weight, themes.progress, themes.tag_weight) == (1.0, False, quiet.tag_weight)
    # two schools with the same tags and different descriptions differ in the themes block
    a = profiles[0].model_copy(update={"themes": ("mathematics",), "description": "robotics club"})
    b = a.model_copy(update={"school_id": "b", "description": "folk dance festival"})
    rows = quiet.transform([a, b])[:, quiet.blocks_["themes"]]
    assert rows[0] @ rows[1] < 0.99


def test_tag_weight_parameter_changes_themes_only(profiles: list[SchoolProfile]) -> None:
    base = SchoolVectorizer(encoder=HashingEncoder(48), progress=False).fit(profiles)
    heavy = clone(base).set_params(tag_weight=4.0).fit(profiles)
    x, y = base.transform(profiles), heavy.transform(profiles)
    for name, s in base.blocks_.items():
        same = np.allclose(x[:, s], y[:, s], atol=1e-6)
        assert same == (name != "themes"), name


def test_clone_shares_the_encoder(fitted: SchoolVectorizer) -> None:
    copy = clone(fitted)
    assert copy.encoder is fitted.encoder
    assert not hasattr(copy, "blocks_")


def test_vectorizer_composes_in_pipeline_and_column_transformer(profiles: list[SchoolProfile]) -> None:
    frame = profiles_to_frame(profiles, include_private=False)
    pipe = Pipeline(
        [
            ("vec", SchoolVectorizer(encoder=HashingEncoder(48), progress=False)),
            ("svd", TruncatedSVD(4, random_state=0)),
        ]
    )
    assert pipe.fit_transform(frame).shape == (len(profiles), 4)
    outer = ColumnTransformer(
        [("school", SchoolVectorizer(encoder=HashingEncoder(48), progress=False), list(frame.columns))],
        sparse_threshold=0.0,
    )
    out = outer.fit_transform(frame)
    direct = SchoolVectorizer(encoder=HashingEncoder(48), progress=False).fit_transform(frame)
    np.testing.assert_allclose(out, direct, atol=1e-6)
    assert len(outer.get_feature_names_out()) == out.shape[1]


def test_languages_unknown_at_fit_are_ignored_not_fatal(
    fitted: SchoolVectorizer, profiles: list[SchoolProfile]
) -> None:
    newcomer = profiles[0].model_copy(update={"school_id": "new", "languages": ("zu",)})
    row = fitted.transform([newcomer])
    assert unit_or_zero(row[:, fitted.blocks_["country"]])


# ---------------------------------------------------------------- encoders and the disk cache


def test_hashing_encoder_is_deterministic_and_unit(fake_encoder: HashingEncoder) -> None:
    texts = ["Climate action and recycling", "climate ACTION, and recycling!", "", "Maths olympiad"]
    a, b = fake_encoder.encode(texts), HashingEncoder(dim=64).encode(texts)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (4, 64) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)
    assert a[0] @ a[1] == pytest.approx(1.0, abs=1e-6)  # same words
    assert a[0] @ a[3] < 0.5
    assert isinstance(fake_encoder, TextEncoder)


class CountingEncoder(HashingEncoder):
    """A hashing encoder that records every batch it is asked to encode."""

    def __init__(self, dim: int = 32) -> None:
        super().__init__(dim)
        self.batches: list[list[str]] = []

    def encode(self, texts, progress=False):  # type: ignore[no-untyped-def]
        self.batches.append(list(texts))
        return super().encode(texts, progress)


def test_cached_encoder_encodes_duplicates_once(tmp_path: Path) -> None:
    base = CountingEncoder()
    enc = CachedEncoder(base, tmp_path / "c.sqlite")
    out = enc.encode(["a b", "c d", "a b", "c d", "e"])
    assert enc.encoded_count == 3
    assert sorted(base.batches[0]) == ["a b", "c d", "e"]
    np.testing.assert_array_equal(out[0], out[2])
    np.testing.assert_allclose(out, base.encode(["a b", "c d", "a b", "c d", "e"]), atol=1e-7)
    assert enc.encode([]).shape == (0, 32)


def test_unchanged_registry_encodes_nothing_the_second_time(profiles: list[SchoolProfile], tmp_path: Path) -> None:
    enc = CachedEncoder(CountingEncoder(), tmp_path / "c.sqlite")
    vec = SchoolVectorizer(encoder=enc, progress=False)
    first = vec.fit_transform(profiles)
    after_first = enc.encoded_count
    distinct = {p.description for p in profiles if p.description}
    assert after_first == len(vocab.themes()) + len(distinct)
    second = SchoolVectorizer(encoder=enc, progress=False).fit_transform(profiles)
    assert enc.encoded_count == after_first
    np.testing.assert_array_equal(first, second)
    # one changed description: exactly one new text is encoded
    changed = [profiles[0].model_copy(update={"description": "a brand new marine biology project"}), *profiles[1:]]
    vec.transform(changed)
    assert enc.encoded_count == after_first + 1


def test_cache_persists_on_disk_across_instances(profiles: list[SchoolProfile], tmp_path: Path) -> None:
    path = tmp_path / "cache" / "embeddings.sqlite"
    first = CachedEncoder(CountingEncoder(), path)
    x1 = SchoolVectorizer(encoder=first, progress=False).fit_transform(profiles)
    assert first.encoded_count > 0
    first.cache.close()
    base = CountingEncoder()
    second = CachedEncoder(base, EmbeddingCache(path))
    assert len(second.cache) == first.encoded_count
    x2 = SchoolVectorizer(encoder=second, progress=False).fit_transform(profiles)
    assert second.encoded_count == 0 and base.batches == []
    np.testing.assert_array_equal(x1, x2)


def test_cache_keys_separate_encoders_and_dimensions(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    small = CachedEncoder(HashingEncoder(16), path)
    small.encode(["shared text"])
    assert text_key("hashing-16", "x") != text_key("hashing-32", "x") != text_key("hashing-16", "y")
    with pytest.raises(EncoderMismatchError, match=r"'hashing-16'.*'hashing-32'.*--reencode"):
        CachedEncoder(HashingEncoder(32), path)  # the cache holds another model's vectors
    big = CachedEncoder(HashingEncoder(32), path, reencode=True)
    assert big.cache is not None and big.cache.model == "hashing-32" and len(big.cache) == 0  # dropped
    out = big.encode(["shared text"])
    assert big.encoded_count == 1 and out.shape == (1, 32)  # another encoder's vector is never reused


def test_cache_ignores_stored_vectors_of_another_dimension(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    key = text_key("hashing-8", "hello")
    cache.put_many({key: np.ones(4, dtype=np.float32)})
    assert cache.get_many([key], dim=8) == {}
    enc = CachedEncoder(HashingEncoder(8), cache)
    assert enc.encode(["hello"]).shape == (1, 8) and enc.encoded_count == 1


def test_cached_encoder_chunks_large_batches(tmp_path: Path) -> None:
    base = CountingEncoder(8)
    enc = CachedEncoder(base, None, chunk_size=4)
    texts = [f"text {i}" for i in range(10)]
    out = enc.encode(texts, progress=True)
    assert [len(b) for b in base.batches] == [4, 4, 2]
    np.testing.assert_allclose(out, HashingEncoder(8).encode(texts), atol=1e-7)


def test_build_ranker_with_disk_cached_encoder(profiles: list[SchoolProfile], tmp_path: Path) -> None:
    """Regression: building the index with ``make_encoder(cache_dir=...)`` crashed with
    "cannot pickle 'sqlite3.Connection'" because scikit-learn's clone deep-copied the encoder."""
    encoder = make_encoder("hashing", cache_dir=tmp_path)
    ranker = build_ranker(profiles, encoder=encoder, progress=False)
    assert (tmp_path / "embeddings.sqlite").is_file()
    assert len(ranker.index) == len(profiles)
    themes = ranker.index.vectorizer.column_transformer_.named_transformers_["themes"]
    assert themes.encoder is encoder  # the fitted block uses the very encoder (and cache) passed in
    count = encoder.encoded_count
    assert count > 0
    build_ranker(profiles, encoder=encoder, progress=False)
    assert encoder.encoded_count == count


def test_build_ranker_from_csv_path(profiles: list[SchoolProfile], tmp_path: Path) -> None:
    path = tmp_path / "schools.csv"
    profiles_to_frame(profiles).to_csv(path, index=False)
    ranker = build_ranker(path, encoder=HashingEncoder(16), progress=False)
    assert ranker.index.ids == [p.school_id for p in profiles]
    assert list(pd.read_csv(path).columns) == list(CSV_COLUMNS)


def test_make_encoder_rejects_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not one of real, multilingual, hashing"):
        make_encoder("word2vec", cache_dir=tmp_path)


@pytest.mark.parametrize("n", [1, 2, 5, DIRECT_ROWS, DIRECT_ROWS + 1])
def test_small_transforms_call_the_blocks_directly_and_equal_the_column_transformer(
    fitted: SchoolVectorizer, n: int
) -> None:
    registry = make_registry(3 * DIRECT_ROWS, seed=21)  # profiles the vectorizer was not fitted on
    for start in range(0, len(registry) - n, n):
        frame = profiles_to_frame(registry[start : start + n], include_private=False)
        got = fitted.transform(frame)
        expected = fitted.column_transformer_.transform(frame)
        assert got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("names", [("themes",), ("country", "skills"), BLOCKS])
def test_transform_blocks_equals_the_blocks_slices_of_transform(
    fitted: SchoolVectorizer, names: tuple[str, ...]
) -> None:
    registry = make_registry(12, seed=22)
    whole = fitted.transform(registry)
    got = fitted.transform_blocks(registry, names)
    assert list(got) == [name for name in BLOCKS if name in names]
    for name, columns in got.items():
        assert columns.dtype == np.float32
        np.testing.assert_array_equal(columns, whole[:, fitted.blocks_[name]])


def test_transform_blocks_names_the_unknown_block(fitted: SchoolVectorizer) -> None:
    with pytest.raises(ValueError, match=r"names: \['colour'\] are not blocks; the blocks are \['country'"):
        fitted.transform_blocks(make_registry(2, seed=3), ["themes", "colour"])
