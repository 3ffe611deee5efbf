"""The batch-matching notebook runs top to bottom on a small demo cohort with the fast encoder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "batch_matching.ipynb"


def test_batch_matching_notebook_executes(tmp_path, monkeypatch) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("PARTNERMATCH_BATCH_SCHOOLS", "300")
    monkeypatch.setenv("PARTNERMATCH_BATCH_ENCODER", "hashing")
    monkeypatch.setenv("PARTNERMATCH_BATCH_CAPACITY", "2")
    monkeypatch.setenv("PARTNERMATCH_DATA_DIR", str(data))
    monkeypatch.delenv("PARTNERMATCH_BATCH_COHORT", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:  # run what is in the file, not stale outputs
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client = nbclient.NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()

    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    text = "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    assert "300 schools from demo_registry.csv indexed with the hashing encoder" in text
    assert "mode optimal:" in text and "coverage:" in text
    assert "blocking pairs" in text  # the comparison table
    exported = pd.read_csv(data / "batch_partnerships.csv")
    assert len(exported) > 0 and {"uk_school_id", "partner_school_id", "score", "reasons"} <= set(exported.columns)
    assert (data / "batch_unmatched.csv").is_file()
    assert f"wrote {len(exported):,} partnerships" in text
