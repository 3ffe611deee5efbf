"""Refitting from live outcomes: the guardrails, the versions log, rollback and the weights per side."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from features.text import HashingEncoder
from matching.core.config import COMPONENTS, RankerConfig, Weights
from matching.core.index import SchoolIndex
from matching.core.ranker import Ranker
from matching.evaluation import EvaluationInputError, synthetic_history
from matching.evaluation.refit import GUARD_METRICS, ConfigVersions, _guard, refit

ENC = HashingEncoder(dim=64)


@pytest.fixture(scope="module")
def ranker() -> Ranker:
    from matching.demo import generate_registry

    return Ranker(SchoolIndex.build(generate_registry(400, seed=1), ENC, progress=False))


def _improvement(lo: float, hi: float, other_hi: float = 0.1) -> pd.DataFrame:
    rows = {"recall@10": (0.0, -0.1, other_hi), "MRR": ((lo + hi) / 2, lo, hi), "NDCG@10": (0.0, -0.1, 0.1)}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["change", "lo", "hi"])


def test_guard_switches_only_beyond_the_interval() -> None:
    assert _guard(_improvement(0.01, 0.05), "MRR")[0] is True
    ok, reason = _guard(_improvement(-0.01, 0.05), "MRR")
    assert not ok and "does not exclude 0" in reason
    ok, reason = _guard(_improvement(0.01, 0.05, other_hi=-0.01), "MRR")
    assert not ok and "recall@10" in reason
    assert _guard(None, "MRR") == (False, "no held-out ranking to compare on")


def test_versions_log_activate_and_rollback(tmp_path) -> None:
    versions = ConfigVersions(tmp_path / "ranker")
    assert versions.active() is None
    with pytest.raises(EvaluationInputError, match="no earlier active version"):
        versions.rollback()
    a = RankerConfig(version="a")
    b = RankerConfig(version="b", weights=Weights(themes=1.0))
    versions.activate(a, "initial")
    versions.record(RankerConfig(version="c"), "rejected", reason="no better")
    versions.activate(b)
    assert versions.active().version == "b"
    assert versions.rollback().version == "a"
    assert versions.active() == a
    events = [(e["event"], e["version"]) for e in versions.history()]
    assert events == [("initial", "a"), ("rejected", "c"), ("activated", "b"), ("rollback", "a")]
    assert versions.history()[2]["previous"] == "a"
    assert versions.config("c").version == "c"
    with pytest.raises(EvaluationInputError, match="'zz' is not logged"):
        versions.config("zz")


def test_refit_logs_every_candidate_and_switches_only_when_better(ranker: Ranker, tmp_path) -> None:
    history = synthetic_history(ranker.index, n_partnerships=60, n_outcome_schools=120, ranker=ranker, seed=4)
    versions = ConfigVersions(tmp_path / "ranker")
    decision = refit(
        ranker, lambda: history.outcomes, versions, partnerships=history.partnerships, n_bootstrap=200,
        Cs=(0.1, 1.0), cv=3,
    )  # fmt: skip
    log = versions.history()
    assert [e["event"] for e in log] == ["initial", "activated" if decision.switched else "rejected"]
    assert log[0]["version"] == ranker.config.version
    last = log[-1]
    assert last["version"] == decision.candidate.version and last["reason"] == decision.reason
    imp = decision.result.improvement
    assert decision.switched == (imp.loc["MRR", "lo"] > 0 and (imp.loc[list(GUARD_METRICS), "hi"] >= 0).all())
    assert versions.active().version == decision.active.version
    assert json.loads((tmp_path / "ranker" / "versions.jsonl").read_text().splitlines()[-1])["metric"] == "MRR"
    sides = decision.per_side
    assert list(sides.index) == list(COMPONENTS)
    for side in sides.columns:
        assert sides[side].sum() == pytest.approx(1.0)
    assert set(sides.columns) | set(sides.attrs["skipped"]) == {"uk", "abroad"}


def test_refit_refuses_to_judge_without_held_out_schools(ranker: Ranker, tmp_path) -> None:
    with pytest.raises(ValueError, match="test_size: 0 must be > 0"):
        refit(ranker, pd.DataFrame(columns=["school_id", "candidate_id", "outcome"]), ConfigVersions(tmp_path),
              test_size=0)  # fmt: skip


# ------------------------------------------------------------ the commands
def test_commands_refit_rollback_and_side_by_side(tmp_path, monkeypatch) -> None:
    import typer
    from typer.testing import CliRunner

    from matching.demo import write_registry
    from service.cli.evaluation import evaluate_cmd, synthetic_history_cmd
    from service.cli.refit import refit_cmd, rollback_cmd

    app = typer.Typer()
    for name, cmd in (("evaluate", evaluate_cmd), ("synthetic-history", synthetic_history_cmd), ("refit", refit_cmd),
                      ("refit-rollback", rollback_cmd)):  # fmt: skip
        app.command(name)(cmd)
    monkeypatch.setenv("PARTNERMATCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "250")
    reg = write_registry(tmp_path / "reg.csv", 250, seed=2)
    run = CliRunner().invoke
    fast = ["--encoder", "hashing", "--registry", str(reg)]
    res = run(app, ["synthetic-history", *fast, "-o", str(tmp_path), "--partnerships", "40", "--outcome-schools", "60"])
    assert res.exit_code == 0, res.output

    res = run(app, ["evaluate", *fast, "-p", str(tmp_path / "partnerships.csv"), "--bootstrap", "50",
                    "--exposure-prior", "0"])  # fmt: skip
    assert res.exit_code == 0, res.output
    for title in ("Leave-one-out", "Country mix", "Pairwise principle checks", "prior 0", "skills each way"):
        assert title in res.output
    res = run(app, ["evaluate", *fast, "-p", str(tmp_path / "partnerships.csv"), "--bootstrap", "50", "--json",
                    "--no-baselines", "--exposure-prior", "0"])  # fmt: skip
    rows = {r["method"]: r for r in json.loads(res.stdout)}
    assert list(rows) == ["ranker", "prior 0"]
    assert rows["ranker"]["gini@10"] < rows["prior 0"]["gini@10"]  # the default prior (0.1) spreads the places

    versions = tmp_path / "versions"
    res = run(app, ["refit", *fast, "--outcomes", str(tmp_path / "outcomes.csv"), "--bootstrap", "100",
                    "-p", str(tmp_path / "partnerships.csv"), "--versions-dir", str(versions)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert ("Switched to" in res.output) or ("Kept" in res.output)
    log = [json.loads(line) for line in (versions / "versions.jsonl").read_text().splitlines()]
    assert log[0]["event"] == "initial" and log[-1]["event"] in ("activated", "rejected")
    assert RankerConfig.load(versions / "active.json").version == (
        log[-1]["version"] if log[-1]["event"] == "activated" else log[0]["version"]
    )
    res = run(app, ["refit", *fast, "--outcomes", str(tmp_path / "outcomes.csv"), "--metric", "AUC"])
    assert res.exit_code == 2 and "'AUC' is not one of recall@10, MRR, NDCG@10" in res.output

    res = run(app, ["refit-rollback", "--versions-dir", str(versions)])
    if log[-1]["event"] == "activated":
        assert res.exit_code == 0 and log[0]["version"] in res.output
        assert RankerConfig.load(versions / "active.json").version == log[0]["version"]
    else:
        assert res.exit_code == 2 and "no earlier active version" in res.output
