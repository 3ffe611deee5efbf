"""The partnermatch command line, through Typer's CliRunner (hashing encoder) and one real-model smoke test."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.profile_files import load_profiles
from features.profiles import SchoolProfile
from matching import demo
from matching.core.engine import DATA_DIR_ENV
from service.cli.main import app

runner = CliRunner()
FAST = ["--encoder", "hashing"]


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own data dir (caches, default registry)."""
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture(scope="module")
def registry_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo.write_registry(tmp_path_factory.mktemp("registry") / "reg.csv", 600, seed=21)


@pytest.fixture(scope="module")
def profiles(registry_file: Path) -> dict[str, SchoolProfile]:
    return {p.school_id: p for p in load_profiles(registry_file)}


@pytest.fixture(scope="module")
def uk_school(profiles: dict[str, SchoolProfile]) -> SchoolProfile:
    return demo.demo_school(list(profiles.values()))


def invoke(*args: object) -> object:
    return runner.invoke(app, [str(a) for a in args])


def suggest_json(registry_file: Path, school_id: str, *extra: object) -> dict:
    result = invoke("suggest", school_id, "--registry", registry_file, *FAST, "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_demo_data_writes_a_loadable_file(tmp_path: Path) -> None:
    out = tmp_path / "out" / "demo.csv"
    result = invoke("demo-data", "--schools", 250, "--out", out, "--seed", 4, "--uk-share", 0.4)
    assert result.exit_code == 0, result.output
    loaded = load_profiles(out)
    assert len(loaded) == 250
    assert sum(p.is_uk for p in loaded) == 100
    assert "Wrote 250 schools" in result.stdout and str(out) in result.stdout
    as_json = tmp_path / "demo.json"
    assert invoke("demo-data", "-n", 250, "-o", as_json, "--seed", 4, "--uk-share", 0.4).exit_code == 0
    assert [p.model_dump() for p in load_profiles(as_json)] == [p.model_dump() for p in loaded]


@pytest.mark.parametrize(
    "args",
    [["--schools", "0"], ["--uk-share", "1.5"], ["--seed", "-1"], ["--out", "registry.txt"], ["--schools", "many"]],
)
def test_demo_data_bad_options_are_usage_errors(args: list[str], tmp_path: Path) -> None:
    result = invoke("demo-data", *args)
    assert result.exit_code == 2
    assert "Invalid value" in result.output
    assert "Traceback" not in result.output


def test_suggest_prints_k_rows_with_reasons(registry_file: Path, uk_school: SchoolProfile) -> None:
    expected = [s["school_id"] for s in suggest_json(registry_file, uk_school.school_id, "-k", 6)["suggestions"]]
    result = invoke("suggest", uk_school.school_id, "-k", 6, "--registry", registry_file, *FAST)
    assert result.exit_code == 0, result.output
    rows = re.findall(r"^│\s+(\d+) │ (\S+)\s+│", result.stdout, flags=re.MULTILINE)
    assert [int(rank) for rank, _ in rows] == [1, 2, 3, 4, 5, 6]
    assert [sid for _, sid in rows] == expected
    assert f"Suggestions for {uk_school.school_id}" in result.stdout
    assert result.stdout.count("Languages:") == 6  # every suggestion shares a language, and says so
    assert len(re.findall(r"School days overlap|No school-day overlap", result.stdout)) == 6
    for header in ("score", "themes", "compl", "tz", "reasons"):
        assert header in result.stdout
    assert "@" not in result.stdout  # contacts are private


def test_suggest_json_respects_constraints_filters_and_adds_up(
    registry_file: Path, uk_school: SchoolProfile, profiles: dict[str, SchoolProfile]
) -> None:
    data = suggest_json(
        registry_file, uk_school.school_id, "-k", 5, "--country", "ke", "-c", "PK", "--phase", "secondary"
    )
    assert data["school_id"] == uk_school.school_id and data["k"] == 5
    suggestions = data["suggestions"]
    assert 0 < len(suggestions) <= 5
    assert [s["rank"] for s in suggestions] == list(range(1, len(suggestions) + 1))
    for s in suggestions:
        assert s["country"] in ("KE", "PK") and s["phase"] == "secondary"
        assert set(s["languages"]) & set(uk_school.languages)
        assert sum(s["contributions"].values()) == pytest.approx(s["score"], abs=1e-3)
        assert s["reasons"]["text"]
        assert "contact_email" not in json.dumps(s)
        assert profiles[s["school_id"]].name == s["name"]
    scores = [s["score"] for s in suggestions]
    assert scores == sorted(scores, reverse=True)


def test_suggest_diversity_caps_countries(registry_file: Path, uk_school: SchoolProfile) -> None:
    data = suggest_json(registry_file, uk_school.school_id, "-k", 9, "--diversity", "country_cap")
    countries = pd.Series([s["country"] for s in data["suggestions"]]).value_counts()
    assert len(data["suggestions"]) == 9
    assert countries.max() <= 3


def test_explain_shows_blocking_constraints(
    registry_file: Path, uk_school: SchoolProfile, profiles: dict[str, SchoolProfile]
) -> None:
    other_uk = next(p for p in profiles.values() if p.is_uk and p.school_id != uk_school.school_id)
    result = invoke("explain", uk_school.school_id, other_uk.school_id, "--registry", registry_file, *FAST)
    assert result.exit_code == 0, result.output
    assert "is not suggested" in result.stdout and "blocked by" in result.stdout
    assert "cross_border" in result.stdout and "same side of the border" in result.stdout
    assert "Score parts" in result.stdout and "total" in result.stdout


def test_explain_an_allowed_pair_gives_parts_that_add_up(registry_file: Path, uk_school: SchoolProfile) -> None:
    top = suggest_json(registry_file, uk_school.school_id, "-k", 1)["suggestions"][0]
    result = invoke("explain", uk_school.school_id, top["school_id"], "--registry", registry_file, *FAST, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["allowed"] is True and data["blocked_by"] == []
    assert data["score"] == pytest.approx(top["score"], abs=1e-4)
    assert sum(data["contributions"].values()) == pytest.approx(data["score"], abs=1e-4)
    text = invoke("explain", uk_school.school_id, top["school_id"], "--registry", registry_file, *FAST).stdout
    assert "can be suggested" in text and f"{top['score']:.3f}" in text


@pytest.mark.parametrize("command", ["suggest", "explain"])
def test_unknown_school_id_exits_1_with_a_message(command: str, registry_file: Path, uk_school: SchoolProfile) -> None:
    ids = ["NO-SUCH-SCHOOL"] if command == "suggest" else [uk_school.school_id, "NO-SUCH-SCHOOL"]
    result = invoke(command, *ids, "--registry", registry_file, *FAST)
    assert result.exit_code == 1
    assert "unknown school_id 'NO-SUCH-SCHOOL'" in result.stderr
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_bad_registry_file_exits_2_listing_every_bad_row(registry_file: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(registry_file, dtype=str, keep_default_na=False).head(40)
    frame.loc[3, "country"] = "Narnia"
    frame.loc[17, "themes"] = "climate;science"
    frame.loc[17, "age_min"] = "2"
    frame.loc[30, "languages"] = ""
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    result = invoke("suggest", frame.loc[0, "school_id"], "--registry", bad, *FAST)
    assert result.exit_code == 2
    err = result.stderr
    assert "nothing was loaded" in err
    for row, field in ((4, "country"), (18, "themes"), (18, "age_min"), (31, "languages")):
        assert re.search(rf"row {row} \(school_id '[^']+'\): {field}=", err), (row, field, err)
    assert "Traceback" not in result.output


def test_missing_registry_file_exits_2(tmp_path: Path) -> None:
    result = invoke("suggest", "GB-1", "--registry", tmp_path / "nope.csv", *FAST)
    assert result.exit_code == 2
    assert "no such file" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["-k", "0"],
        ["--diversity", "random"],
        ["--phase", "junior"],
        ["--country", "XX"],
        ["--max-tz-diff", "30"],
        ["--encoder", "bert"],
    ],
)
def test_bad_option_values_are_usage_errors(args: list[str], registry_file: Path, uk_school: SchoolProfile) -> None:
    result = invoke("suggest", uk_school.school_id, "--registry", registry_file, *args)
    assert result.exit_code == 2
    assert "Invalid value" in result.output
    assert "Traceback" not in result.output


def test_demo_builds_the_default_registry_when_missing(data_dir: Path) -> None:
    result = invoke("demo", "--encoder", "hashing", "-k", 3)
    assert result.exit_code == 0, result.output
    default = data_dir / "demo_registry.csv"
    written = load_profiles(default)
    assert len(written) == 2000
    school = demo.demo_school(written)
    assert f"Demo school: {school.school_id}" in result.stdout
    assert len(re.findall(r"^│\s+\d+ │", result.stdout, flags=re.MULTILINE)) == 3
    assert "can be suggested" in result.stdout and "cross_border" in result.stdout


def test_module_entry_point_exits_with_codes_and_no_traceback(tmp_path: Path, data_dir: Path) -> None:
    tiny = demo.write_registry(tmp_path / "tiny.csv", 30, seed=1)
    proc = subprocess.run(
        [sys.executable, "-m", "service.cli.main", "suggest", "NOPE", "-r", str(tiny), *FAST],
        capture_output=True,
        text=True,
        env={**os.environ, DATA_DIR_ENV: str(data_dir)},
        timeout=120,
    )
    assert proc.returncode == 1
    assert "unknown school_id 'NOPE'" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.real_model
def test_suggest_with_the_real_model(
    tmp_path: Path, data_dir: Path, real_encoder: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matching.core.engine

    # the CLI's own `make_encoder("real")` path, reusing the session's loaded all-MiniLM-L6-v2
    monkeypatch.setattr(matching.core.engine, "SentenceTransformerEncoder", lambda: real_encoder)
    small = demo.write_registry(tmp_path / "small.csv", 60, seed=8)
    school = demo.demo_school(load_profiles(small))
    result = invoke("suggest", school.school_id, "-k", 3, "--registry", small, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert 1 <= len(data["suggestions"]) <= 3
    assert all(s["contributions"]["themes"] != 0 for s in data["suggestions"])
    assert (data_dir / "embeddings.sqlite").is_file()  # embeddings cached under the data dir
    table = invoke("explain", school.school_id, data["suggestions"][0]["school_id"], "--registry", small)
    assert table.exit_code == 0 and "can be suggested" in table.stdout
