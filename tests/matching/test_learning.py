"""Learning the weights: the non-negative estimator, recovery of known weights, inputs, the saved config."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from features.text import HashingEncoder
from matching.core.config import COMPONENTS, RankerConfig
from matching.core.constraints import Query
from matching.core.index import SchoolIndex
from matching.core.ranker import Ranker
from matching.evaluation import (
    EvaluationInputError,
    NonNegativeLogisticRegression,
    fit_component_weights,
    learn_weights,
    load_feedback_db,
    load_outcomes,
    synthetic_history,
)
from matching.evaluation.learning import pair_features, training_pairs
from matching.evaluation.offline import pair_components

ENC = HashingEncoder(dim=64)


@pytest.fixture(scope="module")
def ranker() -> Ranker:
    from matching.demo import generate_registry

    return Ranker(SchoolIndex.build(generate_registry(400, seed=1), ENC, progress=False))


def test_non_negative_logistic_regression_zeroes_a_harmful_feature() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 3))
    y = (rng.random(2000) < 1 / (1 + np.exp(-(2 * X[:, 0] - 1.5 * X[:, 1])))).astype(int)
    model = NonNegativeLogisticRegression(C=1.0).fit(X, y)
    assert model.coef_[0, 0] > 0.5
    assert model.coef_[0, 1] == 0.0  # would be about -1.5 unconstrained
    assert (model.coef_ >= 0).all()
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(model.predict(X)) <= {0, 1}
    assert clone(model).get_params()["C"] == 1.0
    with pytest.raises(ValueError, match="need two classes"):
        NonNegativeLogisticRegression().fit(X, np.ones(len(X)))


def _allowed_pairs(ranker: Ranker, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    index = ranker.index
    rows = np.flatnonzero(index.cols().present)
    a, b = np.nonzero(ranker.constraint_set().allowed(index, Query.registered(index, rows)))
    pick = np.random.default_rng(seed).choice(len(a), n, replace=False)
    return rows[a[pick]], b[pick]


def test_learner_recovers_known_weights(ranker: Ranker) -> None:
    true = np.array(
        [0.0, 0.1, 0.5, 0.0, 0.3, 0.0, 0.1, 0.0]
    )  # country, phase, themes, skills, compl., tz, readiness, wishes
    a, b = _allowed_pairs(ranker, 3000, seed=0)
    X = pair_components(ranker.index, a, b, ranker.config)
    z = X @ true
    z = (z - z.mean()) / z.std()
    rng = np.random.default_rng(1)
    y = (rng.random(len(z)) < 1 / (1 + np.exp(-3 * z))).astype(int)
    fit = fit_component_weights(X, y, groups=a, Cs=(0.1, 1.0), cv=3)
    got = np.array([fit.weights[c] for c in COMPONENTS])
    assert got.sum() == pytest.approx(1.0) and (got >= 0).all()
    assert np.argmax(got) == np.argmax(true)  # themes first
    assert np.abs(got - true).sum() < 0.2
    assert got[COMPONENTS.index("complementarity")] / got[COMPONENTS.index("themes")] == pytest.approx(0.6, abs=0.15)
    assert fit.cv_auc > 0.8 and len(fit.cv_results) == 2


def test_outcome_file_checks(tmp_path, ranker: Ranker) -> None:
    ids = ranker.index.ids
    path = tmp_path / "o.csv"
    path.write_text(f"school_id,candidate_id,outcome\n{ids[0]},{ids[1]},Accepted\n{ids[0]},{ids[2]},maybe\n")
    with pytest.raises(EvaluationInputError, match=r"line 3: outcome 'maybe'.*accepted, declined, partnership"):
        load_outcomes(path, ranker.index)
    path.write_text(f"school_id,candidate_id,outcome\n{ids[0]},{ids[1]},Accepted\n{ids[0]},x-9,declined\n")
    with pytest.raises(EvaluationInputError, match="candidate_id 'x-9' is not a school_id"):
        load_outcomes(path, ranker.index)
    assert load_outcomes(path, ranker.index, unknown="skip")["outcome"].tolist() == ["accepted"]
    path.write_text("school,outcome\na,accepted\n")
    with pytest.raises(EvaluationInputError, match=r"missing column.s. school_id, candidate_id"):
        load_outcomes(path)


def test_training_pairs_labels_and_random_negatives(ranker: Ranker) -> None:
    index = ranker.index
    a, b = _allowed_pairs(ranker, 20, seed=3)
    ids = index.columns.ids
    outcomes = pd.DataFrame(
        {
            "school_id": [ids[a[0]], ids[a[0]], ids[a[1]]],
            "candidate_id": [ids[b[0]], ids[b[0]], ids[b[1]]],
            "outcome": ["declined", "partnership", "declined"],
        }
    )
    pairs = training_pairs(ranker, outcomes, random_negatives=4, seed=0)
    real = pairs[pairs.source != "random"]
    assert len(real) == 2  # the repeated pair keeps its strongest outcome
    assert real.set_index("candidate_id").loc[ids[b[0]], "label"] == 1
    rand = pairs[pairs.source == "random"]
    assert len(rand) == 8 and (rand.label == 0).all()
    for school, cand in zip(rand.school_id, rand.candidate_id, strict=True):
        _, mask = ranker.score_all(school)
        assert mask[index.row(cand)]
        assert (school, cand) not in set(zip(outcomes.school_id, outcomes.candidate_id, strict=True))
    again = training_pairs(ranker, outcomes, random_negatives=4, seed=0)
    pd.testing.assert_frame_equal(pairs, again)
    assert pair_features(ranker, pairs).shape == (10, len(COMPONENTS))


def test_learn_weights_end_to_end_saves_a_config_the_ranker_loads(tmp_path, ranker: Ranker) -> None:
    history = synthetic_history(ranker.index, n_partnerships=60, n_outcome_schools=120, ranker=ranker, seed=4)
    result = learn_weights(
        ranker, history.outcomes, partnerships=history.partnerships, Cs=(0.1, 1.0), cv=3, n_bootstrap=100,
        progress=False,
    )  # fmt: skip
    config = result.config
    assert re.fullmatch(r"learned-\d{8}-[0-9a-f]{8}", config.version)
    w = config.weights.as_dict()
    assert sum(w.values()) == pytest.approx(1.0, abs=1e-4) and min(w.values()) >= 0
    assert config.diversity == ranker.config.diversity  # everything but the weights is kept
    assert set(result.train_schools).isdisjoint(result.test_schools)
    ba = result.before_after
    assert len(ba) == 2 and ba.index[1].startswith("after (learned-")
    # the latent model rewards complementary skills more than the default weights do
    assert ba["heldout_auc"].iloc[1] > ba["heldout_auc"].iloc[0]
    assert w["complementarity"] > 0.15
    assert (ba["cases"] > 0).all()

    path = config.save(tmp_path / "learned.json")
    loaded = RankerConfig.load(path)
    assert loaded == config
    learned = Ranker(ranker.index, loaded)
    school = result.test_schools[0]
    top = learned.suggest(school, k=5, diversity="none")
    wv = np.array([w[c] for c in COMPONENTS])
    comps = pair_components(ranker.index, np.full(len(top), ranker.index.row(school)),
                            ranker.index.rows(top.ids), loaded)  # fmt: skip
    np.testing.assert_allclose(top.scores, comps @ wv, atol=1e-5)


def test_learning_needs_both_kinds_of_outcome(ranker: Ranker) -> None:
    a, b = _allowed_pairs(ranker, 10, seed=5)
    ids = ranker.index.columns.ids
    only_yes = pd.DataFrame(
        {"school_id": [ids[i] for i in a], "candidate_id": [ids[i] for i in b], "outcome": "accepted"}
    )
    with pytest.raises(EvaluationInputError, match="at least 2 positive and 2 negative"):
        learn_weights(ranker, only_yes, test_size=0, random_negatives=0, progress=False)


def test_feedback_from_the_service_database(tmp_path, ranker: Ranker) -> None:
    db = pytest.importorskip("service.db")
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    path = tmp_path / "registry.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    db.Base.metadata.create_all(engine)
    ids = ranker.index.ids
    with Session(engine) as s:
        s.add_all(
            [
                db.Feedback(school_id=ids[0], candidate_id=ids[1], decision="accept"),
                db.Feedback(school_id=ids[0], candidate_id=ids[2], decision="decline"),
                db.Partnership(school_a=ids[3], school_b=ids[4]),
            ]
        )
        s.commit()
    engine.dispose()
    out = load_feedback_db(path)
    assert sorted(zip(out.school_id, out.candidate_id, out.outcome, strict=True)) == sorted(
        [(ids[0], ids[1], "accepted"), (ids[0], ids[2], "declined"), (ids[3], ids[4], "partnership")]
    )
    assert len(load_feedback_db(f"sqlite:///{path}", include_partnerships=False)) == 2
    empty = tmp_path / "empty.sqlite"
    create_engine(f"sqlite:///{empty}").connect().close()
    with pytest.raises(EvaluationInputError, match="no feedback table"):
        load_feedback_db(empty)


# ------------------------------------------------------------ the commands
def test_commands_history_evaluate_learn(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from matching.demo import write_registry
    from service.cli.main import app

    monkeypatch.setenv("PARTNERMATCH_DATA_DIR", str(tmp_path / "data"))
    reg = write_registry(tmp_path / "reg.csv", 250, seed=2)
    run = CliRunner().invoke
    fast = ["--encoder", "hashing", "--registry", str(reg)]
    res = run(app, ["synthetic-history", *fast, "-o", str(tmp_path), "--partnerships", "40",
                    "--outcome-schools", "60", "--judgements", "30"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert {"partnerships.csv", "outcomes.csv", "judgements.csv"} <= {p.name for p in tmp_path.iterdir()}

    res = run(app, ["evaluate", *fast, "-p", str(tmp_path / "partnerships.csv"), "-j", str(tmp_path / "judgements.csv"),
                    "--bootstrap", "100", "--out", str(tmp_path / "table.csv")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "only:complementarity" in res.output and "agreement" in res.output
    table = pd.read_csv(tmp_path / "table.csv", index_col="method")
    assert table.loc["ranker", "violations"] == 0 and table.loc["ranker", "cases"] > 0

    out = tmp_path / "learned.json"
    res = run(app, ["learn-weights", *fast, "--outcomes", str(tmp_path / "outcomes.csv"),
                    "-p", str(tmp_path / "partnerships.csv"), "--bootstrap", "100", "-o", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "Held-out comparison" in res.output
    version = RankerConfig.load(out).version
    assert version in res.output and version.startswith("learned-")

    res = run(app, ["evaluate", *fast, "-p", str(tmp_path / "partnerships.csv"), "--no-baselines",
                    "--bootstrap", "50", "--compare", str(out), "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert [r["method"] for r in json.loads(res.stdout)] == ["ranker", version]

    bad = tmp_path / "bad.csv"
    bad.write_text("school_id,candidate_id,outcome\nGB-1,KE-2,liked\n")
    res = run(app, ["learn-weights", *fast, "--outcomes", str(bad), "-o", str(out)])
    assert res.exit_code == 2 and "outcome 'liked'" in res.output and "Traceback" not in res.output
    res = run(app, ["learn-weights", *fast, "-o", str(out)])
    assert res.exit_code == 2 and "--outcomes" in res.output
