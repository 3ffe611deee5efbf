"""Regressions of issue 13 through the API: control characters, numbers taken as dates, lone surrogates are 422s
naming the field (never stored, never a 500)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from tests.support.api import WRITE, make_settings


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path)), raise_server_exceptions=False) as c:
        yield c


def school(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "school_id": "ke-1",
        "name": "Lakeside Academy",
        "country": "KE",
        "city": "Kisumu",
        "phase": "secondary",
        "age_min": 11,
        "age_max": 16,
        "languages": ["en", "sw"],
        "description": "A school by the lake",
    }
    body.update(changes)
    return body


def raw_json(body: object) -> bytes:
    """JSON text as a client may send it: ``ensure_ascii`` writes a lone surrogate as a ``\\udXXX`` escape."""
    return json.dumps(body).encode("ascii")


def fields_of(r) -> set[str]:
    assert r.status_code == 422, r.text
    return {e["field"] for e in r.json()["errors"]}


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", "Lake\x00side"), ("city", "Kis\x1bumu"), ("region", "West\x7f"), ("school_id", "ke-\x85")],
)
def test_control_characters_rejected_by_the_api(client: TestClient, field: str, value: str) -> None:
    r = client.post("/schools", json=school(**{field: value}), headers=WRITE)
    assert field in fields_of(r)
    assert "control character" in r.text
    assert client.get("/schools", headers=WRITE).json()["total"] == 0


def test_control_characters_newline_allowed_in_description(client: TestClient) -> None:
    r = client.post("/schools", json=school(description="Line one\nLine two\tend"), headers=WRITE)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("value", [0, 1700000000, True, "0", "05/03/2024"])
def test_numbers_accepted_as_dates_rejected_by_the_api(client: TestClient, value: object) -> None:
    r = client.post("/schools", json=school(last_active=value), headers=WRITE)
    assert fields_of(r) == {"last_active"}
    assert "YYYY-MM-DD" in r.text
    ok = client.post("/schools", json=school(last_active="2024-03-05"), headers=WRITE)
    assert ok.status_code == 201 and ok.json()["last_active"] == "2024-03-05"


@pytest.mark.parametrize("field", ["name", "city", "description"])
def test_lone_surrogate_is_a_422_naming_the_field(client: TestClient, field: str) -> None:
    headers = {**WRITE, "content-type": "application/json"}
    r = client.post("/schools", content=raw_json(school(**{field: "x\ud800"})), headers=headers)
    assert field in fields_of(r)
    assert "surrogate" in r.text
    r = client.patch("/schools/ke-1", content=raw_json({field: "\udfff"}), headers=headers)
    assert r.status_code in (404, 422), r.text  # never a 500


def test_lone_surrogate_in_a_nested_field_names_it(client: TestClient) -> None:
    headers = {"content-type": "application/json"}
    for field in ("name", "city", "description"):
        r = client.post("/suggestions", content=raw_json({"profile": school(**{field: "\udfff"})}), headers=headers)
        assert f"profile.{field}" in fields_of(r)
