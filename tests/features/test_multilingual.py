"""The multilingual encoder: vectors never mix (the cache records its model), calibration, the language guard,
choosing an encoder by kind, and cross-lingual ranking with the real USE multilingual model (marked slow)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import yaml

from features.encoders import ENCODER_KINDS, covered_languages, make_base_encoder
from features.encoders.calibration import (
    CalibratedEncoder,
    Calibration,
    calibration_path,
    fit_calibration,
    load_calibration,
    mean_pair_cosine,
)
from features.encoders.guard import LanguageGuard
from features.errors import EncoderError
from features.profile_files import load_profiles
from features.profiles import SchoolProfile, validate_profile
from features.text import CachedEncoder, EmbeddingCache, EncoderMismatchError, HashingEncoder

DATA = Path(__file__).parent / "data" / "crosslingual"


class EnglishHashing(HashingEncoder):
    """The hashing stand-in, declaring English as its only language (for the guard)."""

    languages = frozenset({"en"})


# ----------------------------------------------------------------------------- vectors never mix


def test_cache_records_the_model_and_refuses_another(tmp_path: Path) -> None:
    path = tmp_path / "embeddings.sqlite"
    first = CachedEncoder(HashingEncoder(16), path)
    first.encode(["a school farm", "a chess club"])
    assert first.cache is not None and first.cache.model == "hashing-16"
    first.cache.close()
    with pytest.raises(EncoderMismatchError) as err:
        CachedEncoder(HashingEncoder(24), path)
    message = str(err.value)
    assert str(path) in message and "'hashing-16'" in message and "'hashing-24'" in message
    assert "--reencode" in message and "PARTNERMATCH_REENCODE" in message
    assert EmbeddingCache(path).model == "hashing-16"  # the refusal changed nothing
    assert len(EmbeddingCache(path)) == 2


def test_reencode_drops_the_old_vectors_and_encodes_again(tmp_path: Path) -> None:
    path = tmp_path / "embeddings.sqlite"
    CachedEncoder(HashingEncoder(16), path).encode(["a school farm", "a chess club"])
    again = CachedEncoder(HashingEncoder(24), path, reencode=True)
    assert again.cache is not None and len(again.cache) == 0 and again.cache.model == "hashing-24"
    out = again.encode(["a school farm", "a chess club"])
    assert out.shape == (2, 24) and again.encoded_count == 2
    same = CachedEncoder(HashingEncoder(24), path, reencode=True)  # same model: nothing is dropped
    assert same.cache is not None and len(same.cache) == 2
    same.encode(["a school farm"])
    assert same.encoded_count == 0


def test_a_cache_from_before_models_were_recorded_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE embedding (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")
    enc = CachedEncoder(HashingEncoder(16), path)
    assert enc.cache is not None and enc.cache.model == "hashing-16"


def test_reencoding_shows_a_progress_bar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts = [f"school {i} grows vegetables" for i in range(300)]
    enc = CachedEncoder(HashingEncoder(16), tmp_path / "c.sqlite")
    enc.encode(texts, progress=True)
    err = capsys.readouterr().err
    assert "encoding texts (hashing-16)" in err and "300/300" in err


# ----------------------------------------------------------------------------- calibration


def test_calibration_brings_the_typical_cosine_to_the_target() -> None:
    rng = np.random.default_rng(0)
    common = rng.normal(size=32)
    x = common + 0.4 * rng.normal(size=(200, 32))  # crowded: every pair close to 0.85
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    assert mean_pair_cosine(x) > 0.8
    cal = fit_calibration("crowded", x, target=0.3)
    assert 0 < cal.strength <= 1
    assert mean_pair_cosine(cal.apply(x)) == pytest.approx(0.3, abs=1e-3)
    np.testing.assert_allclose(np.linalg.norm(cal.apply(x), axis=1), 1.0, atol=1e-5)


def test_a_model_already_spread_out_is_left_alone() -> None:
    x = np.eye(8, dtype=np.float32)
    assert fit_calibration("spread", x, target=0.3).strength == 0.0


def test_calibration_round_trips_and_names_a_broken_file() -> None:
    cal = Calibration("m", np.array([0.5, -0.25], dtype=np.float32), 0.75, stats={"texts": 3.0})
    back = Calibration.from_json(cal.to_json())
    assert back.model == "m" and back.strength == 0.75 and back.tag == cal.tag
    np.testing.assert_array_equal(back.centre, cal.centre)
    with pytest.raises(EncoderError, match=r"cal\.json: not a calibration file"):
        Calibration.from_json(json.dumps({"model": "m"}), "cal.json")


def test_calibrated_encoder_checks_the_model_and_names_its_calibration() -> None:
    base = HashingEncoder(4)
    with pytest.raises(EncoderError, match="the calibration is for 'other', the encoder is 'hashing-4'"):
        CalibratedEncoder(base, Calibration("other", np.zeros(4, np.float32), 0.5))
    with pytest.raises(EncoderError, match="shape"):
        CalibratedEncoder(base, Calibration("hashing-4", np.zeros(3, np.float32), 0.5))
    cal = Calibration("hashing-4", np.full(4, 0.5, np.float32), 0.5)
    enc = CalibratedEncoder(base, cal)
    assert enc.name == f"hashing-4+cal-{cal.tag}"
    np.testing.assert_allclose(enc.encode(["farm"]), cal.apply(base.encode(["farm"])))


def test_stored_calibrations_belong_to_their_models() -> None:
    for model, dim in (("use-multilingual-v3", 512), ("multilingual-e5-small-q4", 384)):
        cal = load_calibration(model)
        assert calibration_path(model).is_file() and cal.model == model and cal.centre.shape == (dim,)
        assert cal.reference == "all-MiniLM-L6-v2" and 0.0 <= cal.strength <= 1.0
    with pytest.raises(EncoderError, match="no calibration for the model 'nope'"):
        load_calibration("nope")


# ----------------------------------------------------------------------------- the language guard


def test_guard_gives_no_vector_to_a_language_the_model_does_not_cover() -> None:
    guard = LanguageGuard(EnglishHashing(16))
    texts = [
        "Our pupils run a school farm with vegetables and goats.",
        "Klabu ya chesi hukutana kila Jumatano baada ya masomo na hushiriki katika mashindano ya mkoa.",
        "ہمارے طلبہ اسکول کا فارم چلاتے ہیں جہاں وہ سبزیاں اگاتے ہیں۔",
        "SDG 2",  # too short to tell: encoded
    ]
    out = guard.encode(texts)
    assert np.linalg.norm(out, axis=1).round(4).tolist() == [1.0, 0.0, 0.0, 1.0]
    assert guard.uncovered == {"sw": 1, "ur": 1}
    assert guard.name == "hashing-16+guard" and covered_languages(CachedEncoder(guard)) == frozenset({"en"})


def test_guard_needs_an_encoder_that_lists_its_languages() -> None:
    with pytest.raises(ValueError, match="'hashing-8' does not"):
        LanguageGuard(HashingEncoder(8))


def test_covered_languages_looks_through_wrappers() -> None:
    assert covered_languages(CachedEncoder(HashingEncoder(8))) is None  # the stand-in does not say


def test_unknown_kind_names_the_allowed_ones() -> None:
    assert ENCODER_KINDS == ("real", "multilingual", "hashing")
    with pytest.raises(ValueError, match="encoder: 'bert' is not one of real, multilingual, hashing"):
        make_base_encoder("bert")


# ----------------------------------------------------------------------------- the real multilingual model


@pytest.fixture(scope="module")
def multilingual() -> object:
    return make_base_encoder("multilingual")


def _texts(lang: str) -> tuple[list[str], list[int]]:
    items = list(yaml.safe_load((DATA / "descriptions.yml").read_text(encoding="utf-8")).values())
    have = [i for i, item in enumerate(items) if lang in item]
    return [items[i][lang] for i in have], have


@pytest.mark.slow
@pytest.mark.parametrize(("lang", "floor"), [("fr", 0.9), ("es", 0.9), ("pt", 0.9), ("ar", 0.85)])
def test_descriptions_find_their_english_original(multilingual: CachedEncoder, lang: str, floor: float) -> None:
    english, _ = _texts("en")
    queries, truth = _texts(lang)
    sims = multilingual.encode(queries) @ multilingual.encode(english).T
    recall = float((sims.argmax(axis=1) == np.array(truth)).mean())
    assert recall >= floor, f"{lang}: recall@1 {recall:.2f}"


def _school(school_id: str, country: str, languages: Sequence[str], description: str) -> SchoolProfile:
    return validate_profile(
        dict(
            school_id=school_id,
            name=f"School {school_id}",
            country=country,
            phase="primary",
            age_min=5,
            age_max=11,
            languages=list(languages),
            description=description,
        )
    )


@pytest.mark.slow
def test_a_portuguese_farm_school_ranks_above_a_portuguese_chess_club(multilingual: object) -> None:
    from matching.core.engine import build_ranker

    uk = _school("uk-farm", "GB", ["en"], "Our pupils run a school farm where they grow vegetables and keep chickens.")
    farm = _school(
        "br-farm",
        "BR",
        ["pt", "en"],
        "Os nossos alunos cuidam de uma horta escolar, cultivam legumes e tratam das galinhas.",
    )
    chess = _school(
        "br-chess", "BR", ["pt", "en"], "O clube de xadrez reúne-se todas as quartas-feiras e participa em torneios."
    )
    ranker = build_ranker([uk, farm, chess], CachedEncoder(multilingual), progress=False)  # type: ignore[arg-type]
    ranking = ranker.suggest("uk-farm", k=2)
    assert list(ranking.ids) == ["br-farm", "br-chess"], ranking.to_records()
    themes = list(ranking.components).index("themes")
    assert ranking.contributions[0, themes] > ranking.contributions[1, themes]  # the text is what separates them


# ----------------------------------------------------------------------------- the command line


def test_the_command_line_refuses_another_models_cache_then_reencodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from matching import demo
    from service.cli.main import app

    monkeypatch.delenv("PARTNERMATCH_REENCODE", raising=False)
    data = tmp_path / "data"
    registry = demo.write_registry(tmp_path / "reg.csv", 40, seed=3)
    school = demo.demo_school(load_profiles(registry))
    EmbeddingCache(data / "embeddings.sqlite").claim("use-multilingual-v3+cal-0000+guard")
    args = ["suggest", school.school_id, "-r", str(registry), "--encoder", "hashing", "--data-dir", str(data), "--json"]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 1
    assert "holds vectors of the model 'use-multilingual-v3+cal-0000+guard'" in refused.output
    assert "the active encoder is 'hashing-64'" in refused.output and "Traceback" not in refused.output
    monkeypatch.setenv("PARTNERMATCH_REENCODE", "true")
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert EmbeddingCache(data / "embeddings.sqlite").model == "hashing-64"
    monkeypatch.setenv("PARTNERMATCH_REENCODE", "maybe")
    bad = CliRunner().invoke(app, args)
    assert bad.exit_code == 2 and "PARTNERMATCH_REENCODE='maybe': use true or false" in bad.output


# ----------------------------------------------------------------------------- the service's encoder


def test_service_encoder_pins_the_model_threads_in_the_calling_thread() -> None:
    """perf12: torch's intra-op thread count is per thread; a request thread must not run the model on every core."""
    import threading

    import torch

    from service.encoder import ServiceEncoder

    seen: list[int] = []

    class Recording(HashingEncoder):
        def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
            seen.append(torch.get_num_threads())
            return super().encode(texts, progress)

    enc = ServiceEncoder(CachedEncoder(Recording(8)), threads=1)

    def request() -> None:
        torch.set_num_threads(2)  # what a fresh worker thread may start with
        enc.encode(["a school farm"])
        with enc.ephemeral():
            enc.encode(["a chess club"])

    worker = threading.Thread(target=request)
    worker.start()
    worker.join()
    assert seen == [1, 1]
    with pytest.raises(ValueError, match="threads: 0 is not a positive number"):
        ServiceEncoder(CachedEncoder(HashingEncoder(8)), threads=0)


def test_the_service_refuses_to_start_on_another_models_vectors(tmp_path: Path) -> None:
    from service.config import Settings
    from service.registry import Registry

    EmbeddingCache(tmp_path / "embeddings.sqlite").claim("all-MiniLM-L6-v2")
    with pytest.raises(EncoderMismatchError) as err:
        Registry.open(Settings(data_dir=tmp_path, encoder="hashing"))
    assert err.value.stored == "all-MiniLM-L6-v2" and err.value.active == "hashing-64"
    assert "all-MiniLM-L6-v2" in str(err.value) and "hashing-64" in str(err.value)
