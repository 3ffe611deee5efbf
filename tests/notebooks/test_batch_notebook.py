"""The batch-matching notebook runs top to bottom on a small demo cohort with the fast encoder: by default with each
school's own capacity, plots naming countries and UK nations, CSV and Excel exports (issue 13)."""

from __future__ import annotations

import openpyxl
import pandas as pd

from features import vocab
from tests.support.notebooks import run_notebook


def test_batch_matching_notebook_executes(tmp_path, monkeypatch) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("PARTNERMATCH_BATCH_SCHOOLS", "300")
    monkeypatch.setenv("PARTNERMATCH_BATCH_ENCODER", "hashing")
    monkeypatch.delenv("PARTNERMATCH_BATCH_CAPACITY", raising=False)  # the default: the file's capacities
    monkeypatch.setenv("PARTNERMATCH_DATA_DIR", str(data))
    monkeypatch.delenv("PARTNERMATCH_BATCH_COHORT", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    text = run_notebook("batch_matching.ipynb", tmp_path)
    assert "300 schools from demo_registry.csv indexed with the hashing encoder" in text
    assert "mode optimal:" in text and "coverage:" in text
    assert "blocking pairs" in text  # the comparison table
    exported = pd.read_csv(data / "batch_partnerships.csv")
    assert len(exported) > 0 and {"uk_school_id", "partner_school_id", "score", "reasons"} <= set(exported.columns)
    assert (data / "batch_unmatched.csv").is_file()
    assert f"wrote {len(exported):,} partnerships" in text
    assert "capacity: each school's own capacity from the file" in text
    book = openpyxl.load_workbook(data / "batch_partnerships.xlsx")
    assert book.sheetnames == ["partnerships", "unmatched", "summary"]
    # plots and their tables name countries and UK nations, and show the schools abroad left without a partner
    top = exported.partner_country.value_counts().index[0]
    assert vocab.country_name(top) in text and "England" in text and "england" not in text
    assert "schools abroad taking partners were left without one" in text
    assert "Loading weights" not in text


def test_batch_notebook_default_never_matches_schools_not_looking(tmp_path, monkeypatch) -> None:
    """Issue 13: the notebook's default run leaves capacity-0 and inactive schools without partners."""
    from features.profile_files import load_profiles

    data = tmp_path / "data"
    for name, value in {"PARTNERMATCH_BATCH_SCHOOLS": "300", "PARTNERMATCH_BATCH_ENCODER": "hashing",
                        "PARTNERMATCH_DATA_DIR": str(data), "MPLBACKEND": "Agg"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PARTNERMATCH_BATCH_CAPACITY", raising=False)
    monkeypatch.delenv("PARTNERMATCH_BATCH_COHORT", raising=False)
    run_notebook("batch_matching.ipynb", tmp_path)
    closed = {p.school_id for p in load_profiles(data / "demo_registry.csv") if p.capacity == 0 or not p.active}
    exported = pd.read_csv(data / "batch_partnerships.csv", dtype=str)
    assert closed and not (set(exported.uk_school_id) | set(exported.partner_school_id)) & closed
