"""The rule registry seen from the outside: a toy rule added in one place is enforced by suggest and batch,
named by explain, counted in the API's ``empty_because`` and shown by the page's "why not?"; "UK" means
GB in the API, the page and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from features.profile_files import load_profiles
from matching import demo
from matching.batch import AssignmentOptions, assign
from matching.core.engine import DATA_DIR_ENV
from service.app import create_app
from service.cli.main import app as cli
from tests.support.api import make_settings, registry_records, seed
from tests.support.toy_rule import TOY, TOY_MESSAGE, toy_rule


@pytest.fixture
def records() -> list[dict]:
    return registry_records(120, seed=3)


@pytest.fixture
def client(tmp_path: Path, records: list[dict]):
    with TestClient(create_app(make_settings(tmp_path))) as c:
        seed(c, records)
        yield c


def uk_school_with_suggestions(client: TestClient, records: list[dict]) -> tuple[str, list[str]]:
    for rec in records:
        if rec["country"] != "GB":
            continue
        body = client.get(f"/schools/{rec['school_id']}/suggestions", params={"k": 5, "diversity": "none"}).json()
        if len(body["suggestions"]) == 5:
            return rec["school_id"], [s["school_id"] for s in body["suggestions"]]
    raise AssertionError("no UK school with five suggestions")


def test_one_rule_in_one_place_reaches_every_consumer(client: TestClient, records: list[dict]) -> None:
    sid, top = uk_school_with_suggestions(client, records)
    registry = client.app.state.registry  # type: ignore[attr-defined]
    with toy_rule() as toy:
        toy.blocked = set(top[:2])
        # suggest (the API's) leaves the blocked candidates out
        body = client.get(f"/schools/{sid}/suggestions", params={"k": 5, "diversity": "none"}).json()
        assert not set(top[:2]) & {s["school_id"] for s in body["suggestions"]}
        # explain names the rule, with its message
        pair = client.get(f"/schools/{sid}/explain/{top[0]}").json()
        assert pair["allowed"] is False and pair["blocked_by"] == [{"rule": TOY, "message": TOY_MESSAGE}]
        # the page's "why not?" shows it
        html = client.get(f"/ui/schools/{sid}", params={"why": top[0]}).text
        assert f'data-rule="{TOY}"' in html and TOY_MESSAGE.capitalize() in html
        # the batch (over the service's own index) never makes a blocked pair
        with registry.holder.read() as snap:
            result = assign(snap.index, options=AssignmentOptions(progress=False))
        assert result.pairs and not set(top[:2]) & {b for _, b in result.pairs}

        # nothing passes: the API counts it in empty_because, the page says so
        toy.blocked = {r["school_id"] for r in records}
        empty = client.get(f"/schools/{sid}/suggestions").json()
        assert empty["suggestions"] == [] and empty["n_allowed"] == 0
        counts = {c["rule"]: c for c in empty["empty_because"]}
        assert counts[TOY] == {"rule": TOY, "message": TOY_MESSAGE, "passing": 0}
        page = client.get(f"/ui/schools/{sid}").text
        assert 'id="empty"' in page and TOY_MESSAGE.capitalize() in page
    assert TOY not in {c["rule"] for c in client.get(f"/schools/{sid}/suggestions").json()["empty_because"] or ()}


@pytest.mark.parametrize("uk", ["UK", "uk", "GB"])
def test_uk_means_gb_in_the_api_and_the_page(client: TestClient, records: list[dict], uk: str) -> None:
    abroad = next(r["school_id"] for r in records if r["country"] != "GB")
    body = client.get(f"/schools/{abroad}/suggestions", params={"k": 10, "countries": f"{uk},KE"})
    assert body.status_code == 200, body.text
    assert body.json()["suggestions"] and all(s["school"]["country"] == "GB" for s in body.json()["suggestions"])
    page = client.get(f"/ui/schools/{abroad}", params={"countries": uk})
    assert page.status_code == 200 and "United Kingdom" in page.text


def test_bad_filters_name_the_field_value_and_what_is_allowed(client: TestClient, records: list[dict]) -> None:
    sid = records[0]["school_id"]
    r = client.get(f"/schools/{sid}/suggestions", params={"countries": "XQ"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "countries"
    assert "XQ is not a country code" in r.text and "UK is accepted for GB" in r.text
    page = client.get(f"/ui/schools/{sid}", params={"max_tz": "far"})
    assert page.status_code == 422 and "max_tz" in page.text and "0 to 12" in page.text


def test_uk_means_gb_in_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    registry = demo.write_registry(tmp_path / "reg.csv", 300, seed=21)
    abroad = next(p for p in load_profiles(registry) if p.country != "GB")
    runner = CliRunner()
    args = ["suggest", abroad.school_id, "--registry", str(registry), "--encoder", "hashing", "--json", "-k", "5"]
    result = runner.invoke(cli, [*args, "--country", "uk"])
    assert result.exit_code == 0, result.output
    suggestions = json.loads(result.stdout)["suggestions"]
    assert suggestions and all(s["country"] == "GB" for s in suggestions)
    bad = runner.invoke(cli, [*args, "--country", "XQ"])
    assert bad.exit_code == 2 and "XQ" in bad.output
