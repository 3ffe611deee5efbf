"""The command line for programme staff (issue 13): tables keep names and reasons in a narrow terminal, and the
real model loads with one status line instead of the loader's "Loading weights" bars."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features.profile_files import load_profiles
from matching import demo
from matching.core.engine import DATA_DIR_ENV, build_ranker, make_encoder
from service import presenter
from service.cli.main import app

runner = CliRunner()
WIDTHS = ["80", "200"]


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture(scope="module")
def registry_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo.write_registry(tmp_path_factory.mktemp("tables") / "reg.csv", 400, seed=3)


def words(text: str) -> set[str]:
    """The words of a text (letters and digits), whatever the line breaks and table borders around them."""
    return set(re.findall(r"[^\W_]+", text))


@pytest.mark.parametrize("columns", WIDTHS)
def test_narrow_terminal_suggest_table_keeps_names_and_reasons(registry_file: Path, tmp_path: Path, columns: str):
    profiles = load_profiles(registry_file)
    school = demo.demo_school(profiles)
    ranker = build_ranker(profiles, make_encoder("hashing", tmp_path / "expected"), progress=False)
    ranking = ranker.suggest(school.school_id, k=3)
    assert len(ranking) == 3
    args = ["suggest", school.school_id, "-k", "3", "--registry", str(registry_file), "--encoder", "hashing"]
    result = runner.invoke(app, args, env={"COLUMNS": columns})
    assert result.exit_code == 0, result.output
    shown = words(result.stdout)
    assert all(len(line) <= int(columns) for line in result.stdout.splitlines() if "│" in line)
    for profile, reasons in zip(ranking.profiles, ranking.reasons, strict=True):
        assert words(profile.name) <= shown, f"{profile.name!r} is missing at {columns} columns"
        assert profile.school_id in result.stdout
        assert words(presenter.compact_reasons(reasons)) <= shown, f"reasons missing at {columns} columns"
    assert "score" in shown and "tz" in shown  # the score and its parts too


@pytest.mark.parametrize("columns", WIDTHS)
def test_narrow_terminal_evaluate_table_keeps_method_names_and_columns(
    registry_file: Path, tmp_path: Path, columns: str
) -> None:
    history = tmp_path / "history"
    made = runner.invoke(
        app,
        ["synthetic-history", "--out-dir", str(history), "--registry", str(registry_file), "--encoder", "hashing",
         "--partnerships", "30", "--outcome-schools", "5", "--judgements", "10"],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    args = ["evaluate", "-p", str(history / "partnerships.csv"), "--registry", str(registry_file)]
    result = runner.invoke(app, [*args, "--encoder", "hashing", "--bootstrap", "20"], env={"COLUMNS": columns})
    assert result.exit_code == 0, result.output
    assert all(len(line) <= int(columns) for line in result.stdout.splitlines() if "│" in line)
    for method in ("ranker", "random", "tfidf", "only:themes", "only:timezone_overlap"):
        assert method in result.stdout, f"{method} is missing at {columns} columns"
    for column in ("recall@1", "recall@10", "MRR", "NDCG@10", "coverage@10", "gini@10", "violations"):
        assert column in result.stdout, f"column {column} is missing at {columns} columns"


def test_stacked_layout_is_only_for_narrow_terminals(registry_file: Path) -> None:
    school = demo.demo_school(load_profiles(registry_file))
    args = ["suggest", school.school_id, "-k", "2", "--registry", str(registry_file), "--encoder", "hashing"]
    wide = runner.invoke(app, args, env={"COLUMNS": "200"}).stdout
    narrow = runner.invoke(app, args, env={"COLUMNS": "80"}).stdout
    assert "school_id" in wide and "school_id" not in narrow  # one column per field vs one cell per school


@pytest.mark.real_model
def test_real_model_loads_without_loading_weights_noise(tmp_path: Path) -> None:
    small = demo.write_registry(tmp_path / "small.csv", 60, seed=8)
    school = demo.demo_school(load_profiles(small))
    env = {**os.environ, DATA_DIR_ENV: str(tmp_path / "data"), "HF_HUB_OFFLINE": "1", "COLUMNS": "120"}
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
    done = subprocess.run(
        [sys.executable, "-m", "service", "suggest", school.school_id, "-k", "2", "--registry", str(small)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Loading weights" not in done.stderr + done.stdout
    assert "Loading the text model (all-MiniLM-L6-v2)" in done.stderr
    assert f"Suggestions for {school.school_id}" in done.stdout


def test_hashing_encoder_prints_no_model_line(registry_file: Path) -> None:
    school = demo.demo_school(load_profiles(registry_file))
    args = ["suggest", school.school_id, "-k", "1", "--registry", str(registry_file), "--encoder", "hashing"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "Loading the text model" not in result.output
