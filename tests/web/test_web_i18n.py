"""Page languages (issue 17 item 4), without a browser: negotiation order, direction, SDG names, the message
catalogues (complete, up to date with the templates), names, numbers and dates, reasons in the reader's language."""

import io
import re
from datetime import date

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from features import vocab
from matching.core.config import COMPONENTS
from matching.core.explain import Reasons
from service import presenter
from service.web import i18n, labels, views
from service.web.i18n import (
    SUPPORTED,
    UnsupportedLanguageError,
    choose_locale,
    gettext,
    ngettext,
    sdg_names,
    text_direction,
    use_locale,
)
from tests.support.web import REPO

PLACEHOLDER = re.compile(r"%\((\w+)\)")


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
    assert sdg_names("pt")[4] == "Educação de qualidade"
    assert all(len(sdg_names(locale)) == 17 for locale in SUPPORTED)


# ---------------------------------------------------------------- the message catalogues (issue 17 item 4)
def _msgids(catalog: Catalog) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def _extracted() -> set[str]:
    """The msgids in the templates and the page's Python today (as ``make messages`` extracts them)."""
    method_map, options_map = parse_mapping_cfg(io.StringIO((REPO / "babel.cfg").read_text("utf-8")))
    found = extract_from_dir(str(REPO), method_map, options_map, keywords={**DEFAULT_KEYWORDS, "N_": None})
    return {msg if isinstance(msg, str) else msg[0] for _, _, msg, _, _ in found}


def test_the_pot_is_up_to_date_with_the_templates_and_code() -> None:
    with (i18n.LOCALE_DIR / "messages.pot").open("rb") as f:
        pot = _msgids(read_po(f))
    now = _extracted()
    assert now - pot == set(), "new strings not in messages.pot: run `make messages`"
    assert pot - now == set(), "messages.pot has strings no longer used: run `make messages`"
    assert len(now) > 300


@pytest.mark.parametrize("locale", SUPPORTED)
def test_every_message_is_translated_in_every_language(locale: str) -> None:
    with (i18n.LOCALE_DIR / "messages.pot").open("rb") as f:
        pot = _msgids(read_po(f))
    with i18n.po_path(locale).open("rb") as f:
        catalog = read_po(f, locale=locale)
    missing = [
        m.id for m in catalog if m.id and (m.fuzzy or not all(m.string if isinstance(m.string, tuple) else (m.string,)))
    ]
    assert missing == [], f"{locale}: untranslated or fuzzy: {missing[:10]}"
    assert _msgids(catalog) >= pot, f"{locale}: not in the .po: {sorted(pot - _msgids(catalog))[:10]}"
    errors = [(m.id, str(e)) for m, errs in catalog.check() for e in errs]
    assert errors == [], errors  # placeholders as in the English
    nplurals = catalog.num_plurals
    assert all(len(m.string) == nplurals for m in catalog if m.id and m.pluralizable)
    for m in catalog:  # a translation keeps every placeholder of a singular message
        if m.id and not m.pluralizable and m.python_format:
            assert set(PLACEHOLDER.findall(m.string)) == set(PLACEHOLDER.findall(m.id)), (locale, m.id, m.string)


def test_a_translation_is_served_and_english_stays_english() -> None:
    with use_locale("fr"):
        assert gettext("Request partnership") == "Demander un partenariat"
        assert ngettext("Show %(num)s more candidate", "Show %(num)s more candidates", 3) % {"num": 3} == (
            "Afficher 3 autres candidates"
        )
    with use_locale("ar"):
        assert ngettext("Show %(num)s more candidate", "Show %(num)s more candidates", 11) % {"num": 11} == (
            "عرض 11 مرشحًا إضافيًا"
        )
    assert gettext("Request partnership") == "Request partnership"  # outside a page request: English


def test_labels_made_elsewhere_are_all_marked_for_translation() -> None:
    assert labels.SKILL_LABELS == vocab.SKILL_LABELS  # the msgids are the English labels
    assert set(labels.PHASE_LABELS) == set(vocab.PHASES)
    assert {k: v for k, v in labels.PHASE_LABELS.items()} == {p: presenter.phase_label(p) for p in vocab.PHASES}
    assert set(labels.SUBJECT_LABELS) == set(vocab.SUBJECT_THEMES)
    assert all(labels.SUBJECT_LABELS[t] == vocab.theme_label(t) for t in vocab.SUBJECT_THEMES)
    assert set(labels.SCORE_WORDS) == {w for _, w in presenter.SCORE_WORDS} | {presenter.WEAKEST_WORDS}
    assert set(labels.LEVEL_LABELS) == set(vocab.ISA_LEVELS) | set(vocab.CPD_BADGE_LEVELS)
    assert set(views.COMPONENT_LABELS) == set(COMPONENTS) == set(views.COMPONENT_HELP)


def test_names_numbers_and_dates_follow_the_language() -> None:
    day = date(2026, 3, 3)
    with use_locale("en"):
        assert (labels.country_name("SN"), labels.number(0.5), labels.day(day)) == ("Senegal", "0.50", "3 Mar 2026")
    with use_locale("fr"):
        assert (labels.country_name("GB"), labels.number(0.5), labels.day(day)) == (
            "Royaume-Uni",
            "0,50",
            "3 mars 2026",
        )
        assert labels.language_name("ar") == "arabe"
        assert labels.theme_label("sdg4_quality_education") == "Éducation de qualité (ODD 4)"
    with use_locale("ar"):
        assert labels.country_name("MA") == "المغرب"
        assert labels.join(["أ", "ب"]) == "أ، ب"
    with use_locale("pt"):
        assert labels.theme_label("sdg13_climate_action") == "Ação climática (ODS 13)"
        assert labels.hours(4.5) == "4,5"


def test_reasons_are_rebuilt_in_the_readers_language_from_their_parts() -> None:
    reasons = Reasons(
        shared_themes=("sdg13_climate_action",),
        you_want_they_offer=("digital_literacy",),
        shared_languages=("fr",),
        overlap_hours=4.0,
        overlap_range=(4.0, 5.0),
        ages=(7, 11, 8, 12),
        years_in_common=4,
    )
    record = reasons.as_dict(extended=True)
    with use_locale("fr"):
        view = labels.reasons_view(record, ["sdg13_climate_action", "music"], reasons.overlap_range)
    assert view["sentences"][0] == "Âges 7-11 et 8-12 : 4 années en commun"
    climate = "Mesures relatives à la lutte contre les changements climatiques (ODD 13)"
    assert f"Thèmes communs : {climate}" in view["sentences"]
    assert "Vous voulez : culture numérique — elle l’offre" in view["sentences"]
    assert view["sentences"][-1] == "Les journées de classe se chevauchent 4–5 h (cours en direct possibles)"
    assert [t["label"] for t in view["themes"]] == [
        "Mesures relatives à la lutte contre les changements climatiques (ODD 13)",
        "Musique",
    ]
    assert view["languages"] == ["français"]
    assert view["shown_less"] is False
    with use_locale("es"):  # the ranker's exposure note (RankedReasons.shown_less), translated
        ranked = labels.reasons_view({**record, "shown_less": "many unanswered partnership requests"}, None)
    assert ranked["shown_less"] is True
    assert ranked["sentences"][-1] == "Muchas solicitudes de asociación sin respuesta: se muestra menos"
    with use_locale("en"):  # English reads as the core's own sentences
        english = labels.reasons_view(record, None, reasons.overlap_range)["sentences"]
    assert english == reasons.sentences()  # the mails quote the core's own sentences


def test_wishes_are_said_in_the_readers_language_from_their_parts() -> None:
    from matching.core.explain import reasons_for
    from tests.support.factories import make_registry

    profiles = make_registry(40, seed=2)
    uk = next(p for p in profiles if p.country == "GB")
    ke = next(p for p in profiles if p.country != "GB").model_copy(update={"country": "KE"})
    asking = uk.model_copy(update={"preferred_countries": ["KE", "IN"], "kinds_of_work": ["video_exchanges"]})
    candidate = ke.model_copy(update={"preferred_regions": ["142"], "kinds_of_work": ["video_exchanges", "pen_pals"]})
    reasons = reasons_for(asking, candidate, 3.0)
    record = reasons.as_dict(extended=True)
    assert [w["kind"] for w in record["your_wishes"]] == ["country", "work"]
    with use_locale("en"):  # English: the core's own lines
        assert labels.reasons_view(record, None)["sentences"] == reasons.sentences()
    with use_locale("fr"):
        said = labels.reasons_view(record, None)["sentences"]
    assert "Pourquoi elle vous convient : dans un pays demandé (Kenya); souhaite aussi des échanges vidéo" in said
    assert "Pas comme souhaité : elle a demandé des écoles de ces pays ou régions : Asie" in said
    assert not any("asked for" in s or "video exchanges" in s for s in said)  # nothing left in English


def test_every_rule_message_of_the_core_is_in_the_catalogue_and_said_in_the_readers_language() -> None:
    from matching.core.rules import RULES

    assert {name: rule.message for name, rule in RULES.items()} == labels.RULE_MESSAGES  # a changed rule fails here
    with use_locale("es"):
        assert labels.rule_message("shared_language", RULES["shared_language"].message) == "no comparten ningún idioma"
        assert labels.rule_message("toy_rule", "a rule added since") == "a rule added since"  # English, never blank
    with use_locale("en"):
        assert all(labels.rule_message(n, r.message) == r.message for n, r in RULES.items())


def test_the_description_language_note_is_said_in_the_readers_language() -> None:
    record = Reasons(text_note="the description is in Swahili (sw), which the text model X does not cover").as_dict(
        extended=True
    )
    with use_locale("pt"):
        said = labels.reasons_view(record, None)["sentences"]
    assert said[-1].startswith("A descrição está numa língua que o modelo de texto não cobre")
    with use_locale("en"):
        assert labels.reasons_view(record, None)["sentences"][-1].startswith("The description is in Swahili (sw)")
