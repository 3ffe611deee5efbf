"""The staff notebook runs top to bottom on a small demo registry with the fast encoder."""

from __future__ import annotations

from tests.support.notebooks import run_notebook


def test_evaluate_matching_notebook_executes(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PARTNERMATCH_EVAL_SCHOOLS", "300")
    monkeypatch.setenv("PARTNERMATCH_EVAL_ENCODER", "hashing")
    monkeypatch.setenv("PARTNERMATCH_EVAL_BOOTSTRAP", "100")
    monkeypatch.setenv("PARTNERMATCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    text = run_notebook("evaluate_matching.ipynb", tmp_path)
    assert "300 schools indexed with the hashing encoder" in text
    assert "only:complementarity" in text and "tfidf" in text  # the table has the baselines
    assert "after (learned-" in text
    shown = next(line for line in text.splitlines() if line.startswith("Countries shown:"))
    names = [n.strip() for n in shown.removeprefix("Countries shown:").split(",")]
    assert all(len(n) > 2 for n in names), names  # country names, not ISO codes
    assert "prior 0.1 + Africa 1.15" in text and "skills each way" in text  # before/after side by side
    assert ("Switched to" in text) or ("Kept" in text)  # the guarded refit decided
    log = tmp_path / "data" / "ranker_versions" / "versions.jsonl"
    assert log.is_file() and log.read_text().count("\n") == 2  # the initial version and the candidate
    saved = tmp_path / "data" / "learned_config.json"
    assert saved.is_file() and '"version": "learned-' in saved.read_text()
