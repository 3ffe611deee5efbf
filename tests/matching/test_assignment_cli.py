"""``partnermatch batch``: a cohort CSV in, partnerships and unmatched CSVs out, a summary; user mistakes
give a message and an exit code, never a traceback."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.profile_files import save_profiles
from service.cli.main import app
from tests.support.factories import cohort

runner = CliRunner()


@pytest.fixture(scope="module")
def cohort_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("batch") / "cohort.csv"
    return save_profiles(cohort(12, 16, 7), path)


def batch(*args: str, data_dir) -> object:
    return runner.invoke(app, ["batch", *args, "--encoder", "hashing", "--data-dir", str(data_dir)])


def test_batch_writes_partnerships_and_summary(cohort_csv, tmp_path) -> None:
    out = tmp_path / "out" / "partnerships.csv"
    result = batch(str(cohort_csv), "--out", str(out), "--capacity", "2", "--min-score", "0.2", data_dir=tmp_path)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    unmatched = pd.read_csv(tmp_path / "out" / "partnerships_unmatched.csv")
    assert len(frame) > 0 and (frame.score >= 0.2).all()
    assert set(frame.uk_school_id).issubset({f"uk{i}" for i in range(12)})
    assert {"reason_code", "reason"} <= set(unmatched.columns)
    assert f"Wrote {len(frame)} partnerships to {out}" in result.output
    assert "coverage:" in result.output and "mode optimal" in result.output


def test_batch_json_and_modes(cohort_csv, tmp_path) -> None:
    totals = {}
    for mode in ("optimal", "greedy", "stable"):
        out = tmp_path / f"{mode}.csv"
        result = batch(
            str(cohort_csv), "--out", str(out), "--mode", mode, "--capacity", "2", "--json", data_dir=tmp_path
        )
        assert result.exit_code == 0, result.output
        payload = json.loads(result.output)
        assert payload["diagnostics"]["mode"] == mode
        totals[mode] = (payload["diagnostics"]["uk_covered"], payload["diagnostics"]["total_score"])
    assert totals["optimal"] >= totals["greedy"] and totals["optimal"] >= totals["stable"]


def test_batch_user_errors(cohort_csv, tmp_path) -> None:
    bad_mode = batch(str(cohort_csv), "--mode", "best", data_dir=tmp_path)
    assert bad_mode.exit_code == 2 and "optimal" in bad_mode.output and "greedy" in bad_mode.output
    bad_pair = batch(str(cohort_csv), "--force", "uk1", data_dir=tmp_path)
    assert bad_pair.exit_code == 2 and "UK_ID,PARTNER_ID" in bad_pair.output
    infeasible = batch(str(cohort_csv), "--out", str(tmp_path / "x.csv"), "--min-score", "5", data_dir=tmp_path)
    assert infeasible.exit_code == 1
    assert "lower the minimum score" in infeasible.output and "Traceback" not in infeasible.output
    unknown = batch(str(cohort_csv), "--out", str(tmp_path / "x.csv"), "--force", "uk1,nowhere", data_dir=tmp_path)
    assert unknown.exit_code == 1 and "nowhere" in unknown.output
    missing = batch(str(tmp_path / "none.csv"), data_dir=tmp_path)
    assert missing.exit_code == 2 and "no such file" in missing.output
