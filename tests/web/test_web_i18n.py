"""Page language choice (issue 17 item 4): negotiation order, direction, SDG names."""

import pytest

from service.web.i18n import UnsupportedLanguageError, choose_locale, sdg_names, text_direction


def test_accept_language_is_negotiated_by_q() -> None:
    assert choose_locale(None, None, "de-DE;q=0.9, pt-BR;q=0.8, fr;q=0.5") == "pt"
    assert choose_locale(None, None, "ar-MA, en;q=0.1") == "ar"
    assert choose_locale(None, None, "de, zh") == "en"
    assert choose_locale(None, None, None) == "en"


def test_user_choice_beats_accept_language() -> None:
    assert choose_locale("es", "fr", "ar") == "es"
    assert choose_locale(None, "fr", "ar") == "fr"
    assert choose_locale(None, "xx", "ar") == "ar"


def test_unknown_lang_is_named_in_the_error() -> None:
    with pytest.raises(UnsupportedLanguageError, match=r"lang='de'.*allowed: en, fr, ar, es, pt"):
        choose_locale("de", None, None)


def test_arabic_is_right_to_left() -> None:
    assert text_direction("ar") == "rtl"
    assert text_direction("fr") == "ltr"


def test_sdg_names_come_from_the_translations() -> None:
    assert sdg_names("fr")[1] == "Pas de pauvreté"
    assert sdg_names("en")[13] == "Climate action"
    assert len(sdg_names("ar")) == 17
