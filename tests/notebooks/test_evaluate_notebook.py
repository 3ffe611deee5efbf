"""The staff notebook runs top to bottom on a small demo registry with the fast encoder."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "evaluate_matching.ipynb"


def test_evaluate_matching_notebook_executes(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PARTNERMATCH_EVAL_SCHOOLS", "300")
    monkeypatch.setenv("PARTNERMATCH_EVAL_ENCODER", "hashing")
    monkeypatch.setenv("PARTNERMATCH_EVAL_BOOTSTRAP", "100")
    monkeypatch.setenv("PARTNERMATCH_DATA_DIR", str(tmp_path / "data"))
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
    assert "300 schools indexed with the hashing encoder" in text
    assert "only:complementarity" in text and "tfidf" in text  # the table has the baselines
    assert "after (learned-" in text
    saved = tmp_path / "data" / "learned_config.json"
    assert saved.is_file() and '"version": "learned-' in saved.read_text()
