"""The batch-matching notebook runs top to bottom on a small demo cohort with the fast encoder."""

from __future__ import annotations

import pandas as pd

from tests.support.notebooks import run_notebook


def test_batch_matching_notebook_executes(tmp_path, monkeypatch) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("PARTNERMATCH_BATCH_SCHOOLS", "300")
    monkeypatch.setenv("PARTNERMATCH_BATCH_ENCODER", "hashing")
    monkeypatch.setenv("PARTNERMATCH_BATCH_CAPACITY", "2")
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
