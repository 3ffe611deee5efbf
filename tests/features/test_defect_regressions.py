"""Regressions of issue 13 in profile validation: control characters, numbers taken as dates, lone surrogates."""

from __future__ import annotations

import json
from datetime import date, datetime

import pandas as pd
import pytest

from features.errors import FieldError, ProfileValidationError
from features.profile_files import profiles_from_frame
from features.profiles import DATE_FIELDS, SchoolProfile, validate_profile


def base_record(**overrides: object) -> dict[str, object]:
    """A minimal valid flat record (a UK primary school)."""
    record: dict[str, object] = dict(
        school_id="uk-1", name="Hillside Primary", country="GB", phase="primary", age_min=4, age_max=11, languages="en"
    )
    record.update(overrides)
    return record


def only_error(**overrides: object) -> FieldError:
    with pytest.raises(ProfileValidationError) as info:
        validate_profile(base_record(**overrides))
    assert len(info.value.errors) == 1, info.value.errors
    return info.value.errors[0]


# every text field, with a value otherwise valid for it
TEXT_FIELDS = {
    "school_id": "uk-{}1",
    "name": "Hill{}side",
    "country": "G{}B",
    "uk_nation": "eng{}land",
    "city": "Lon{}don",
    "region": "Gr{}eater London",
    "timezone": "Europe/Lon{}don",
    "phase": "pri{}mary",
    "languages": "en;f{}r",
    "themes": "sdg13_climate_action;mathe{}matics",
    "current_partners": "ke-1;ke{}-2",
    "excluded": ["ke-3", "ke{}-4"],
    "isa_status": "fu{}ll",
    "contact_email": "head@sch{}ool.org",
    "description": "A school {} by the sea",
}


def value_with(field: str, char: str) -> object:
    """The field's sample value with ``char`` inside it."""
    sample = TEXT_FIELDS[field]
    return [v.format(char) for v in sample] if isinstance(sample, list) else sample.format(char)


CONTROLS = ["\x00", "\x01", "\x07", "\x1b", "\x1f", "\x7f", "\x80", "\x85", "\x9f"]


@pytest.mark.parametrize("char", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
@pytest.mark.parametrize("field", list(TEXT_FIELDS))
def test_control_characters_in_text_fields_are_rejected(field: str, char: str) -> None:
    err = only_error(**{field: value_with(field, char)})
    assert err.field == field
    assert f"control character U+{ord(char):04X}" in err.message


@pytest.mark.parametrize("char", ["\t", "\n", "\r"], ids=["tab", "newline", "return"])
@pytest.mark.parametrize("field", [f for f in TEXT_FIELDS if f != "description"])
def test_control_characters_tab_and_newline_only_in_free_text(field: str, char: str) -> None:
    err = only_error(**{field: value_with(field, char)})
    assert err.field == field and "control character" in err.message
    description = TEXT_FIELDS["description"].format(char)
    assert validate_profile(base_record(description=description)).description == description.strip()


def test_control_characters_reported_for_every_field_at_once() -> None:
    with pytest.raises(ProfileValidationError) as info:
        validate_profile(base_record(name="A\x00", city="B\x01", description="C\x02"))
    assert {e.field for e in info.value.errors} == {"name", "city", "description"}


def test_control_characters_plain_unicode_still_accepted() -> None:
    p = validate_profile(base_record(name="École Saint-Étienne — Ñandú", city="Zürich", description="Line 1\nLine 2"))
    assert p.name == "École Saint-Étienne — Ñandú" and p.city == "Zürich"


@pytest.mark.parametrize("surrogate", ["\ud800", "\udfff", "a\udc80b"])
@pytest.mark.parametrize("field", list(TEXT_FIELDS))
def test_lone_surrogate_rejected_naming_the_field(field: str, surrogate: str) -> None:
    err = only_error(**{field: value_with(field, surrogate)})
    assert err.field == field and "lone UTF-16 surrogate" in err.message
    # the error, as the API shows it, can be encoded (the lone surrogate is escaped), and so can the message
    shown = err.as_dict()
    json.dumps(shown, ensure_ascii=False).encode("utf-8")  # no UnicodeEncodeError
    assert "\\ud" in str(shown["value"]).lower()


def test_lone_surrogate_in_a_school_id_is_encodable_in_the_report() -> None:
    with pytest.raises(ProfileValidationError) as info:
        validate_profile(base_record(school_id="uk-\ud800"))
    for e in info.value.errors:
        json.dumps(e.as_dict(), ensure_ascii=False).encode("utf-8")  # no UnicodeEncodeError


def test_numbers_accepted_as_dates_are_rejected() -> None:
    assert tuple(f for f, info in SchoolProfile.model_fields.items() if "date" in str(info.annotation)) == DATE_FIELDS
    for field in DATE_FIELDS:
        for value, kind in [(0, "not a number"), (1700000000, "not a number"), (1.5e9, "not a number"), (True, "true")]:
            err = only_error(**{field: value})
            assert err.field == field and err.value == value
            assert "YYYY-MM-DD" in err.message and kind in err.message


@pytest.mark.parametrize("text", ["0", "1700000000", "2024-01-02T00:00:00", "02/01/2024", "2024-1-2", "2024-02-30"])
def test_numbers_accepted_as_dates_text_must_be_iso(text: str) -> None:
    err = only_error(last_active=text)
    assert err.field == "last_active" and err.value == text and "YYYY-MM-DD" in err.message


def test_numbers_accepted_as_dates_real_dates_still_load() -> None:
    assert validate_profile(base_record(last_active="2024-03-05")).last_active == date(2024, 3, 5)
    assert validate_profile(base_record(last_active=" 2024-03-05 ")).last_active == date(2024, 3, 5)
    assert validate_profile(base_record(last_active=date(2024, 3, 5))).last_active == date(2024, 3, 5)
    assert validate_profile(base_record(last_active=datetime(2024, 3, 5))).last_active == date(2024, 3, 5)
    assert validate_profile(base_record(last_active="")).last_active is None
    with pytest.raises(ProfileValidationError, match="not a date and time"):
        validate_profile(base_record(last_active=datetime(2024, 3, 5, 10, 30)))
    # CSV text and a DataFrame of parsed dates both load
    frame = pd.DataFrame([base_record(last_active="2024-03-05")])
    assert profiles_from_frame(frame)[0].last_active == date(2024, 3, 5)
    frame["last_active"] = pd.to_datetime(frame["last_active"])
    assert profiles_from_frame(frame)[0].last_active == date(2024, 3, 5)
