"""School profiles: every field's bad values, whole-file validation, round trips, privacy, CPD badges."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from features import vocab
from features.errors import FieldError, ProfileFormatError, ProfileValidationError
from features.profile_files import load_profiles, profiles_to_frame, save_profiles
from features.profiles import (
    CSV_COLUMNS,
    MAX_DESCRIPTION,
    PRIVATE_FIELDS,
    SchoolProfile,
    profiles_from_records,
    validate_profile,
)
from features.text import HashingEncoder
from matching.core.index import SchoolIndex
from matching.core.ranker import Ranker
from tests.support.factories import make_profile, make_registry


def base_record(**overrides: object) -> dict[str, object]:
    """A minimal valid flat record (a UK primary school)."""
    record: dict[str, object] = dict(
        school_id="uk-1",
        name="Hillside Primary",
        country="GB",
        phase="primary",
        age_min=4,
        age_max=11,
        languages="en",
    )
    record.update(overrides)
    return record


def only_error(exc: ProfileValidationError) -> FieldError:
    assert len(exc.errors) == 1, exc.errors
    return exc.errors[0]


# ---------------------------------------------------------------- one bad field at a time

# (field given, bad value, field reported, fragments the message must contain)
BAD_VALUES = [
    ("school_id", "bad id!", "school_id", ["letters, digits"]),
    ("school_id", "-starts-with-dash", "school_id", ["starting with a letter or digit"]),
    ("school_id", "x" * 65, "school_id", ["1-64 characters"]),
    ("name", "n" * 201, "name", ["200"]),
    ("country", "Frnace", "country", ["ISO 3166-1", "nearest: FR"]),
    ("country", "Keny", "country", ["nearest: KE"]),
    ("country", "Jordon", "country", ["nearest: JO"]),
    ("country", "United Kingdom", "country", ["the UK is GB", "nearest: GB"]),
    ("country", "GBR", "country", ["ISO 3166-1 alpha-2"]),
    ("uk_nation", "cornwall", "uk_nation", ["england", "scotland", "wales", "northern_ireland"]),
    ("city", "c" * 101, "city", ["100"]),
    ("region", "r" * 101, "region", ["100"]),
    ("timezone", "Mars/Olympus_Mons", "timezone", ["IANA", "Europe/London"]),
    ("timezone", "GMT+25", "timezone", ["IANA"]),
    ("phase", "college", "phase", ["must be one of", *vocab.PHASES]),
    ("phase", "Primary School", "phase", ["must be one of", "primary"]),
    ("age_min", 2, "age_min", ["greater than or equal to 3"]),
    ("age_min", "four", "age_min", ["valid integer"]),
    ("age_max", 20, "age_max", ["less than or equal to 19"]),
    ("age_max", 11.5, "age_max", ["integer"]),
    ("languages", "english", "languages", ["english", "ISO 639-1", "en, ar, fr"]),
    ("languages", "en;xx", "languages", ["xx", "ISO 639-1"]),
    ("languages", "eng", "languages", ["eng", "two-letter"]),
    ("languages", [], "languages", ["at least 1"]),
    ("themes", "climate", "themes", ["unknown theme(s) climate", "valid tags", "sdg13_climate_action", "mathematics"]),
    ("themes", ["mathematics", "Maths"], "themes", ["maths", "valid tags"]),
    ("description", "d" * (MAX_DESCRIPTION + 1), "description", ["2000"]),
    ("want_creativity", 1.5, "want_creativity", ["less than or equal to 1"]),
    ("want_citizenship", -0.1, "want_citizenship", ["greater than or equal to 0"]),
    ("offer_digital_literacy", 2, "offer_digital_literacy", ["less than or equal to 1"]),
    ("offer_collaboration", "lots", "offer_collaboration", ["valid number"]),
    ("capacity", -1, "capacity", ["greater than or equal to 0"]),
    ("capacity", 101, "capacity", ["less than or equal to 100"]),
    ("isa_status", "gold", "isa_status", ["must be one of", "none", "foundation", "intermediate", "full"]),
    ("staff_cpd_credits", -3, "staff_cpd_credits", ["greater than or equal to 0"]),
    ("staff_cpd_credits", "many", "staff_cpd_credits", ["valid integer"]),
    ("active", "maybe", "active", ["boolean"]),
    ("last_active", "yesterday", "last_active", ["date"]),
    ("contact_email", "head.school.org", "contact_email", ["e-mail", "head@school.org"]),
    ("contact_email", "head@school", "contact_email", ["e-mail"]),
    ("contact_email", "two words@school.org", "contact_email", ["e-mail"]),
    ("current_partners", "uk-1", "current_partners", ["cannot list itself"]),
    ("excluded", "uk-1;fr-2", "excluded", ["cannot list itself"]),
    ("favourite_colour", "blue", "favourite_colour", ["unknown field", "allowed", "school_id"]),
]


@pytest.mark.parametrize(
    ("field", "value", "reported", "fragments"), BAD_VALUES, ids=[f"{f}={v!r}"[:40] for f, v, *_ in BAD_VALUES]
)
def test_bad_value_names_field_value_and_what_is_allowed(
    field: str, value: object, reported: str, fragments: list[str]
) -> None:
    with pytest.raises(ProfileValidationError) as info:
        validate_profile(base_record(**{field: value}))
    err = only_error(info.value)
    assert err.field == reported
    assert err.row is None
    assert err.school_id == "uk-1" or field == "school_id"
    for fragment in fragments:
        assert fragment in err.message, (fragment, err.message)
    # the value is shown as given (not the whole record)
    if field not in ("current_partners", "excluded"):
        shown = list(err.value) if isinstance(err.value, tuple) else err.value
        assert shown == value or str(shown) == str(value)
    text = str(info.value)
    assert reported in text
    assert "nothing was loaded" in text


@pytest.mark.parametrize("field", ["school_id", "name", "country", "phase", "age_min", "age_max", "languages"])
def test_missing_required_field_is_named(field: str) -> None:
    record = base_record()
    del record[field]
    with pytest.raises(ProfileValidationError) as info:
        validate_profile(record)
    err = only_error(info.value)
    assert (err.field, err.value, err.message) == (field, None, "is required")


@pytest.mark.parametrize("blank", ["", "   ", None, float("nan")])
def test_blank_required_cell_counts_as_missing(blank: object) -> None:
    with pytest.raises(ProfileValidationError) as info:
        validate_profile(base_record(name=blank))
    assert only_error(info.value).field == "name"


@pytest.mark.parametrize(("age_min", "age_max"), [(12, 5), (11, 10), (19, 3)])
def test_age_min_above_age_max_names_age_min_and_its_value(age_min: int, age_max: int) -> None:
    with pytest.raises(ProfileValidationError) as info:
        validate_profile(base_record(age_min=age_min, age_max=age_max))
    err = only_error(info.value)
    assert (err.field, err.value) == ("age_min", age_min)
    assert f"above age_max ({age_max})" in err.message


@pytest.mark.parametrize("age", [3, 7, 19])
def test_single_age_school_is_valid(age: int) -> None:
    assert validate_profile(base_record(age_min=age, age_max=age)).age_min == age


@pytest.mark.parametrize("nation", vocab.UK_NATIONS)
def test_uk_nation_only_with_gb(nation: str) -> None:
    assert validate_profile(base_record(uk_nation=nation)).uk_nation == nation
    with pytest.raises(ProfileValidationError) as info:
        validate_profile(base_record(country="FR", languages="fr", uk_nation=nation))
    err = only_error(info.value)
    assert (err.field, err.value) == ("uk_nation", nation)
    assert "only for UK schools (country GB), not FR" in err.message


def test_cross_field_errors_are_all_reported_each_on_its_field() -> None:
    """Regression: age_min > age_max together with uk_nation outside GB used to report only the first,
    under the whole record as its value."""
    with pytest.raises(ProfileValidationError) as info:
        validate_profile(
            base_record(country="FR", languages="fr", uk_nation="wales", age_min=12, age_max=5, excluded="uk-1")
        )
    got = {(e.field, e.value) for e in info.value.errors}
    assert got == {("age_min", 12), ("uk_nation", "wales"), ("excluded", "uk-1")}


def test_several_bad_fields_of_one_profile_are_all_listed() -> None:
    with pytest.raises(ProfileValidationError) as info:
        validate_profile(base_record(country="XX", phase="college", want_creativity=3, contact_email="nope"))
    assert {e.field for e in info.value.errors} == {"country", "phase", "want_creativity", "contact_email"}


def test_unknown_country_lists_nearest_iso_codes() -> None:
    with pytest.raises(ProfileValidationError) as info:
        validate_profile(base_record(country="Irak"))
    message = only_error(info.value).message
    nearest = message.split("nearest: ")[1].split(", ")
    assert "IQ" in nearest
    assert all(vocab.is_country(code) for code in nearest)


def test_unknown_theme_lists_every_valid_tag() -> None:
    with pytest.raises(ProfileValidationError) as info:
        validate_profile(base_record(themes="sdg13_climate_action;recycling"))
    message = only_error(info.value).message
    assert "recycling" in message
    assert "sdg13_climate_action" not in message.split(";")[0]  # the valid one is not called unknown
    for tag in vocab.themes():
        assert tag in message


# ---------------------------------------------------------------- accepted values and normalisation


@pytest.mark.parametrize(
    ("given", "expected"), [("gb", "GB"), ("UK", "GB"), (" ke ", "KE"), ("Iq", "IQ"), ("br", "BR")]
)
def test_country_is_normalised(given: str, expected: str) -> None:
    assert validate_profile(base_record(country=given, languages="en")).country == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [("en", ("en",)), ("EN; ar", ("en", "ar")), ("en,fr,en", ("en", "fr")), (["ar", " en "], ("ar", "en"))],
)
def test_languages_are_normalised(given: object, expected: tuple[str, ...]) -> None:
    assert validate_profile(base_record(languages=given)).languages == expected


def test_themes_normalised_and_deduplicated() -> None:
    p = validate_profile(base_record(themes="SDG13_Climate_Action; mathematics;mathematics"))
    assert p.themes == ("sdg13_climate_action", "mathematics")


def test_every_vocabulary_value_is_accepted() -> None:
    for phase in vocab.PHASES:
        assert validate_profile(base_record(phase=phase, age_min=3, age_max=19)).phase == phase
    for isa in vocab.ISA_LEVELS:
        assert validate_profile(base_record(isa_status=isa)).isa_status == isa
    assert validate_profile(base_record(themes=list(vocab.themes()))).themes == vocab.themes()
    assert len(vocab.sdg_goals()) == 17


def test_description_limit_is_2000_characters() -> None:
    assert len(validate_profile(base_record(description="é" * MAX_DESCRIPTION)).description) == MAX_DESCRIPTION
    with pytest.raises(ProfileValidationError):
        validate_profile(base_record(description="é" * (MAX_DESCRIPTION + 1)))


@pytest.mark.parametrize("level", [0, 0.0, 0.37, 1, 1.0, "0.5"])
def test_skill_levels_in_unit_interval_accepted(level: object) -> None:
    p = validate_profile(base_record(want_creativity=level, offer_creativity=level))
    assert p.skills_want.creativity == p.skills_offer.creativity == float(level)


def test_nested_skills_accepted_and_bad_nested_skill_named_flat() -> None:
    p = validate_profile(base_record(skills_want={"citizenship": 0.9}))
    assert p.skills_want.citizenship == 0.9
    with pytest.raises(ProfileValidationError) as info:
        validate_profile(base_record(skills_offer={"cooking": 0.3}))
    assert only_error(info.value).field == "offer_cooking"


@pytest.mark.parametrize(
    ("country", "zone"),
    [
        ("GB", "Europe/London"),
        ("IQ", "Asia/Baghdad"),
        ("KE", "Africa/Nairobi"),
        ("IN", "Asia/Kolkata"),
        ("BR", "America/Sao_Paulo"),
        ("JO", "Asia/Amman"),
        ("CN", "Asia/Shanghai"),
    ],
)
def test_timezone_derived_from_country_when_absent(country: str, zone: str) -> None:
    assert validate_profile(base_record(country=country, languages="en")).timezone == zone
    assert validate_profile(base_record(country=country, languages="en", timezone="")).timezone == zone


def test_explicit_timezone_is_kept() -> None:
    p = validate_profile(base_record(country="BR", languages="pt", timezone="America/Manaus"))
    assert p.timezone == "America/Manaus"


def test_profile_is_frozen_and_free_capacity_counts_partners() -> None:
    p = validate_profile(base_record(capacity=3, current_partners="fr-1;ke-2"))
    assert p.free_capacity == 1
    assert validate_profile(base_record(capacity=1, current_partners="fr-1;ke-2")).free_capacity == 0
    with pytest.raises(ValueError):
        p.capacity = 5  # type: ignore[misc]


# ---------------------------------------------------------------- CPD badges


@pytest.mark.parametrize(
    ("credits", "badge"),
    [
        (0, "none"),
        (3, "none"),
        (59, "none"),
        (60, "bronze"),
        (89, "bronze"),
        (90, "silver"),
        (119, "silver"),
        (120, "gold"),
        (149, "gold"),
        (150, "platinum"),
        (10_000, "platinum"),
    ],
)
def test_cpd_badge_thresholds(credits: int, badge: str) -> None:
    assert validate_profile(base_record(staff_cpd_credits=credits)).cpd_badge == badge
    assert vocab.cpd_badge(credits) == badge


def test_cpd_modules_are_three_credits() -> None:
    assert vocab.CPD_CREDITS_PER_MODULE == 3
    assert vocab.cpd_badge(20 * vocab.CPD_CREDITS_PER_MODULE) == "bronze"  # 20 modules
    assert vocab.cpd_badge(19 * vocab.CPD_CREDITS_PER_MODULE) == "none"


# ---------------------------------------------------------------- whole files: all or nothing


def bad_rows_records() -> list[dict[str, object]]:
    """Seven records: rows 2, 4, 5 and 7 are bad (row 7 duplicates row 1's id)."""
    rng = random.Random(3)
    good = [make_profile(rng, i).to_record() for i in range(7)]
    good[1]["country"] = "Frnace"
    good[3]["themes"] = "recycling"
    good[3]["age_min"] = 2
    good[4]["contact_email"] = "not-an-email"
    good[6]["school_id"] = good[0]["school_id"]
    return good


EXPECTED_BAD = {(2, "country"), (4, "themes"), (4, "age_min"), (5, "contact_email"), (7, "school_id")}


def assert_every_bad_row_listed(exc: ProfileValidationError) -> None:
    assert {(e.row, e.field) for e in exc.errors} == EXPECTED_BAD
    dup = next(e for e in exc.errors if e.field == "school_id")
    assert "duplicate of row 1" in dup.message
    text = str(exc)
    assert "5 invalid value(s) in 4 row(s)" in text
    for row, field in EXPECTED_BAD:
        assert f"row {row}" in text and field in text


def test_bad_csv_rejected_whole_listing_every_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "schools.csv"
    pd.DataFrame(bad_rows_records(), columns=list(CSV_COLUMNS)).to_csv(path, index=False)
    with pytest.raises(ProfileValidationError) as info:
        load_profiles(path)
    assert_every_bad_row_listed(info.value)
    assert info.value.source == str(path)


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_bad_json_rejected_whole_listing_every_bad_row(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"schools{suffix}"
    records = bad_rows_records()
    if suffix == ".json":
        path.write_text(json.dumps({"schools": records}), "utf-8")
    else:
        path.write_text("\n".join(json.dumps(r) for r in records) + "\n", "utf-8")
    with pytest.raises(ProfileValidationError) as info:
        load_profiles(path)
    assert_every_bad_row_listed(info.value)


def test_bad_dataframe_rejected_whole_listing_every_bad_row() -> None:
    with pytest.raises(ProfileValidationError) as info:
        load_profiles(pd.DataFrame(bad_rows_records()))
    assert_every_bad_row_listed(info.value)


def test_json_row_that_is_not_an_object_is_listed(tmp_path: Path) -> None:
    path = tmp_path / "schools.json"
    path.write_text(json.dumps([base_record(), "oops", base_record(school_id="uk-2", country="ZZ")]), "utf-8")
    with pytest.raises(ProfileValidationError) as info:
        load_profiles(path)
    assert {(e.row, e.field) for e in info.value.errors} == {(2, "profile"), (3, "country")}


def test_field_error_as_dict_is_json_ready() -> None:
    with pytest.raises(ProfileValidationError) as info:
        profiles_from_records([base_record(), base_record(school_id="x2", capacity=-4)])
    (err,) = info.value.errors
    assert json.loads(json.dumps(err.as_dict())) == {
        "row": 2,
        "school_id": "x2",
        "field": "capacity",
        "value": "-4",
        "message": err.message,
    }


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("schools.csv", "school_id,name\nx,y\n", "missing required column(s) country, phase"),
        ("schools.json", "[{not json", "not valid JSON"),
        ("schools.json", '{"a": 1}', "expected a JSON list"),
        ("schools.xlsx", "whatever", "unknown file type '.xlsx'"),
        ("schools.csv", "", "not a readable CSV"),
    ],
)
def test_unreadable_file_gives_format_error(tmp_path: Path, name: str, content: str, fragment: str) -> None:
    path = tmp_path / name
    path.write_text(content, "utf-8")
    with pytest.raises(ProfileFormatError) as info:
        load_profiles(path)
    assert fragment in str(info.value)


def test_missing_file_gives_format_error(tmp_path: Path) -> None:
    with pytest.raises(ProfileFormatError, match="no such file"):
        load_profiles(tmp_path / "absent.csv")


# ---------------------------------------------------------------- round trips


def edge_registry() -> list[SchoolProfile]:
    """Random profiles plus the awkward cells: quotes, commas, newlines, unicode, dates, nations, empties."""
    profiles = make_registry(25, seed=11)
    profiles.append(
        validate_profile(
            base_record(
                school_id="uk-edge",
                name='St Mary\'s "Hill", Church of England; Primary',
                uk_nation="northern_ireland",
                city="Derry~Londonderry",
                region="Co. Londonderry",
                description='Line one, with "quotes"\nLine two; ünïcødé — 数学 and "NA"',
                themes=["sdg13_climate_action", "mathematics"],
                last_active=date(2024, 5, 17),
                active=False,
                capacity=0,
                contact_email="head@st-marys.example.org",
                current_partners="ke-9",
                excluded="fr-3;iq-1",
            )
        )
    )
    profiles.append(validate_profile(base_record(school_id="NA", name="NA", description="null", city="None")))
    return profiles


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_file_round_trip_preserves_profiles(tmp_path: Path, suffix: str) -> None:
    profiles = edge_registry()
    back = load_profiles(save_profiles(profiles, tmp_path / f"sub/schools{suffix}"))
    assert back == profiles


def test_dataframe_round_trip_preserves_profiles() -> None:
    profiles = edge_registry()
    frame = profiles_to_frame(profiles)
    assert list(frame.columns) == list(CSV_COLUMNS)
    assert load_profiles(frame) == profiles


def test_a_frame_of_some_columns_equals_those_columns_of_the_whole_table() -> None:
    profiles = edge_registry()
    columns = ["description", "themes", "age_max"]
    part = profiles_to_frame(profiles, include_private=False, columns=columns)
    pd.testing.assert_frame_equal(part, profiles_to_frame(profiles, include_private=False)[columns])
    with pytest.raises(ValueError, match=r"columns: \['contact_email'\] are not columns of the profile table"):
        profiles_to_frame(profiles, include_private=False, columns=["themes", "contact_email"])


def test_flat_record_round_trip() -> None:
    for p in edge_registry():
        assert validate_profile(p.to_record()) == p


# ---------------------------------------------------------------- privacy of contact_email


def test_private_fields_left_out_of_public_views() -> None:
    p = validate_profile(base_record(contact_email="head@hillside.example"))
    assert "contact_email" in PRIVATE_FIELDS
    assert p.contact_email == "head@hillside.example"
    assert "contact_email" not in p.public_dict()
    assert "contact_email" not in p.to_record(include_private=False)
    assert p.to_record(include_private=True)["contact_email"] == "head@hillside.example"
    assert "head@hillside" not in repr(p)
    frame = profiles_to_frame([p], include_private=False)
    assert "contact_email" not in frame.columns
    assert "@" not in frame.to_csv(index=False)


def test_contact_email_never_in_suggestions_or_explanations(fake_encoder: HashingEncoder) -> None:
    profiles = make_registry(60, seed=5)  # every profile has a contact_email
    assert all(p.contact_email for p in profiles)
    ranker = Ranker(SchoolIndex.build(profiles, fake_encoder, progress=False))
    outputs: list[str] = []
    for p in profiles[:15]:
        ranking = ranker.suggest(p.school_id, k=5)
        outputs.append(json.dumps(ranking.to_records()))
        outputs.append(ranking.to_frame().to_csv(index=False))
        outputs.append(repr(ranking))
        for other in profiles[15:25]:
            explanation = ranker.explain(p.school_id, other.school_id)
            outputs.append(json.dumps(explanation.as_dict()))
            outputs.append("\n".join(explanation.sentences()))
            outputs.append(repr(explanation))
    posted = ranker.suggest(make_profile(random.Random(1), 999, contact_email="secret@posted.example"), k=5)
    outputs.append(json.dumps(posted.to_records()) + repr(posted))
    blob = "\n".join(outputs)
    assert "Shared" in blob or "overlap" in blob  # real outputs were produced
    assert "@" not in blob
    assert "contact_email" not in blob


def test_every_bad_row_is_in_errors_even_past_the_message_limit() -> None:
    records = [base_record(school_id=f"s{i}", capacity=-1) for i in range(250)]
    with pytest.raises(ProfileValidationError) as info:
        load_profiles(pd.DataFrame(records))
    assert [e.row for e in info.value.errors] == list(range(1, 251))
    text = str(info.value)
    assert "250 invalid value(s) in 250 row(s)" in text and "... and 50 more" in text


def test_unknown_column_is_reported_on_every_row() -> None:
    frame = pd.DataFrame([base_record(school_id="a1", notes="x"), base_record(school_id="a2", notes="y")])
    with pytest.raises(ProfileValidationError) as info:
        load_profiles(frame)
    assert {(e.row, e.field) for e in info.value.errors} == {(1, "notes"), (2, "notes")}
    assert "allowed: school_id" in info.value.errors[0].message


def test_csv_with_excel_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    pd.DataFrame([base_record(name="Café École")]).to_csv(path, index=False, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    (p,) = load_profiles(path)
    assert (p.school_id, p.name) == ("uk-1", "Café École")


def test_csv_not_in_utf8_gives_format_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    pd.DataFrame([base_record(name="Café")]).to_csv(path, index=False, encoding="latin-1")
    with pytest.raises(ProfileFormatError, match="not a readable CSV"):
        load_profiles(path)


def test_profiles_given_the_same_fields_share_one_fields_set_and_keep_their_own_semantics() -> None:
    """Frozen profiles share pydantic's per-instance set of the fields given (memory); what depends on it
    (``model_dump(exclude_unset=True)``, ``model_copy(update=...)``, refusing assignment, pickling) is unchanged."""
    import pickle

    from pydantic import ValidationError

    a = SchoolProfile.model_validate(base_record(school_id="a1"))
    b = SchoolProfile.model_validate(base_record(school_id="b1"))
    c = SchoolProfile.model_validate(base_record(school_id="c1", city="Leeds"))
    assert a.__pydantic_fields_set__ is b.__pydantic_fields_set__
    assert c.__pydantic_fields_set__ is not a.__pydantic_fields_set__
    assert a.skills_want.__pydantic_fields_set__ is b.skills_want.__pydantic_fields_set__
    given = set(a.__pydantic_fields_set__)
    assert "city" not in a.model_dump(exclude_unset=True) and "city" in c.model_dump(exclude_unset=True)

    copied = a.model_copy(update={"city": "York"})
    assert "city" in copied.model_dump(exclude_unset=True)
    assert a.__pydantic_fields_set__ == given == b.__pydantic_fields_set__  # the shared set is untouched
    with pytest.raises(ValidationError):
        a.city = "Hull"  # type: ignore[misc]
    assert a.__pydantic_fields_set__ == given

    back = pickle.loads(pickle.dumps([a, b, c]))
    assert back == [a, b, c]
    assert back[0].__pydantic_fields_set__ is back[1].__pydantic_fields_set__
    assert back[0].model_dump(exclude_unset=True) == a.model_dump(exclude_unset=True)
