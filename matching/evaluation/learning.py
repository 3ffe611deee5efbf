"""Learning the component weights from outcomes: accepted vs declined suggestions, and partnerships.

* **Features**: the seven score components of a pair with unit weights (``evaluation.pair_components``),
  so the ranker's score is exactly ``weights @ features``.
* **Labels**: ``accepted`` and ``partnership`` are positives; ``declined`` (shown but refused) and
  random pairs the hard constraints allow (seeded, none the school has an outcome for) are negatives.
* **Model**: logistic regression with non-negative coefficients (``NonNegativeLogisticRegression``:
  scikit-learn's ``LogisticRegression`` on standardised features, refitted without the most negative
  component until none is negative), its ``C`` chosen by cross-validated ROC AUC with folds grouped
  by school, so one school's outcomes never sit on both sides of a fold. The coefficients, back on
  the raw scale and normalised to sum to 1, are the new weights (only their ratios change a ranking).
* **Held out**: the schools are split (``test_size``) before fitting; the default and learned weights
  are compared on the held-out schools' outcomes (ROC AUC) and by leave-one-out ranking
  (``matching.evaluation.offline.evaluate``) of held-out pairs: a ``partnerships`` file when given (its pairs
  not among the training outcomes; better, as outcomes of shown suggestions favour the ranker that
  showed them), else the held-out schools' positive outcomes.
* **Output**: a versioned ``RankerConfig`` (``learned-YYYYMMDD-<hash>``) that ``RankerConfig.load``
  reads for the ranker, the CLI and the API.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, GroupKFold, GroupShuffleSplit, StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from matching.core.config import COMPONENTS, RankerConfig, Weights
from matching.core.constraints import Query
from matching.core.ranker import Ranker
from matching.evaluation.loaders import EvaluationInputError, load_outcomes, load_partnerships
from matching.evaluation.offline import evaluate, pair_components
from matching.evaluation.report import EvaluationReport

POSITIVE_OUTCOMES: frozenset[str] = frozenset({"accepted", "partnership"})
_STRENGTH = {"expired": -1, "declined": 0, "accepted": 1, "partnership": 2}  # expired: shown, no answer
DEFAULT_CS: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)


# ============================================================ the estimator
class NonNegativeLogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression whose coefficients are all >= 0 (an active-set refit of scikit-learn's).

    Features are standardised; while a coefficient is negative, the most negative feature is
    dropped and the model refitted. ``coef_`` and ``intercept_`` are on the raw feature scale.
    """

    def __init__(self, C: float = 1.0, class_weight: str | None = "balanced", max_iter: int = 1000) -> None:
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter

    def fit(
        self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> NonNegativeLogisticRegression:
        """Fit on features ``X`` (n, p) and binary labels ``y``."""
        X, y = validate_data(self, X, y)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError(f"need two classes (positives and negatives), got {list(self.classes_)}")
        target = (y == self.classes_[1]).astype(int)
        self.scaler_ = StandardScaler().fit(X)
        z = self.scaler_.transform(X)
        p = X.shape[1]
        active = np.ones(p, dtype=bool)
        coef, intercept = np.zeros(p), 0.0
        while active.any():
            lr = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter)
            lr.fit(z[:, active], target, sample_weight=sample_weight)
            coef = np.zeros(p)
            coef[active] = lr.coef_[0]
            intercept = float(lr.intercept_[0])
            if (coef >= 0).all():
                break
            active[int(np.argmin(coef))] = False
        else:
            coef = np.zeros(p)
            intercept = 0.0
        self.active_ = active
        self.coef_ = (coef / self.scaler_.scale_)[None, :]
        self.intercept_ = np.array([intercept - float(np.sum(coef * self.scaler_.mean_ / self.scaler_.scale_))])
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Log-odds of the positive class."""
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False)
        return X @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, 2)``."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted class labels."""
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


@dataclass
class WeightFit:
    """A cross-validated fit: normalised weights, raw coefficients, the CV table."""

    weights: dict[str, float]
    coef: np.ndarray
    intercept: float
    C: float
    cv_auc: float
    cv_auc_std: float
    cv_results: pd.DataFrame
    n_positive: int
    n_negative: int


def fit_component_weights(
    X: np.ndarray,
    y: np.ndarray,
    groups: Sequence[object] | None = None,
    *,
    Cs: Sequence[float] = DEFAULT_CS,
    cv: int = 5,
    seed: int = 0,
) -> WeightFit:
    """Fit non-negative weights on component features ``X`` (n, 7) and labels ``y`` (1 = good pair).

    ``C`` is chosen by ROC AUC over ``cv`` folds, grouped by ``groups`` (the asking school) when given.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).astype(int)
    if X.ndim != 2 or X.shape[1] != len(COMPONENTS):
        raise ValueError(f"X: expected shape (n, {len(COMPONENTS)}) (one column per component), got {X.shape}")
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    if n_pos < 2 or n_neg < 2:
        raise EvaluationInputError(f"need at least 2 positive and 2 negative pairs to learn; got {n_pos} and {n_neg}")
    if groups is not None:
        n_groups = len(set(groups))
        if n_groups < 2:
            raise EvaluationInputError("need outcomes from at least 2 schools to cross-validate")
        splitter: object = GroupKFold(n_splits=min(cv, n_groups))
    else:
        splitter = StratifiedKFold(n_splits=min(cv, n_pos, n_neg), shuffle=True, random_state=seed)
    search = GridSearchCV(
        NonNegativeLogisticRegression(), {"C": list(Cs)}, scoring="roc_auc", cv=splitter, refit=True, n_jobs=1
    )
    search.fit(X, y, groups=groups)
    best = search.best_estimator_
    coef = best.coef_[0]
    if coef.sum() <= 0:
        raise EvaluationInputError(
            "no score component separates positive from negative outcomes (all learned weights are 0); "
            "collect more outcomes"
        )
    res = pd.DataFrame(search.cv_results_)
    table = pd.DataFrame(
        {"C": res["param_C"].astype(float), "auc": res["mean_test_score"], "auc_std": res["std_test_score"]}
    )
    i = int(search.best_index_)
    return WeightFit(
        weights={c: float(v) for c, v in zip(COMPONENTS, coef / coef.sum(), strict=True)},
        coef=coef,
        intercept=float(best.intercept_[0]),
        C=float(search.best_params_["C"]),
        cv_auc=float(res["mean_test_score"][i]),
        cv_auc_std=float(res["std_test_score"][i]),
        cv_results=table,
        n_positive=n_pos,
        n_negative=n_neg,
    )


# ============================================================ pairs and features
def training_pairs(ranker: Ranker, outcomes: pd.DataFrame, random_negatives: int = 5, seed: int = 0) -> pd.DataFrame:
    """Labelled pairs: outcomes (one per pair, the strongest wins) plus ``random_negatives`` random
    allowed candidates per asking school that it has no outcome for (label 0, ``source='random'``)."""
    index = ranker.index
    frame = outcomes.copy()
    frame["strength"] = frame["outcome"].map(_STRENGTH)
    frame = frame.sort_values("strength").drop_duplicates(["school_id", "candidate_id"], keep="last")
    frame["label"] = frame["outcome"].isin(POSITIVE_OUTCOMES).astype(int)
    frame["source"] = frame["outcome"]
    out = [frame[["school_id", "candidate_id", "label", "source"]]]
    if random_negatives > 0 and len(frame):
        rng = np.random.default_rng(seed)
        schools = sorted(frame["school_id"].unique())
        seen = frame.groupby("school_id")["candidate_id"].agg(set).to_dict()
        rows = index.rows(schools)
        records = []
        cset = ranker.constraint_set()
        for start in range(0, len(rows), 256):
            chunk = rows[start : start + 256]
            allowed = cset.allowed(index, Query.registered(index, chunk))
            for sid, mask in zip(schools[start : start + 256], allowed, strict=True):
                ids = [index.columns.ids[r] for r in np.flatnonzero(mask)]
                ids = [c for c in ids if c not in seen[sid]]
                if not ids:
                    continue
                for c in rng.choice(ids, size=min(random_negatives, len(ids)), replace=False):
                    records.append((sid, str(c), 0, "random"))
        out.append(pd.DataFrame(records, columns=["school_id", "candidate_id", "label", "source"]))
    return pd.concat(out, ignore_index=True)


def pair_features(ranker: Ranker, pairs: pd.DataFrame) -> np.ndarray:
    """Unit-weight component values ``(n, 7)`` of ``pairs`` (columns ``school_id``, ``candidate_id``)."""
    index = ranker.index
    return pair_components(index, index.rows(pairs["school_id"]), index.rows(pairs["candidate_id"]), ranker.config)


def learned_config(base: RankerConfig, weights: dict[str, float], fingerprint: str = "") -> RankerConfig:
    """``base`` with learned weights and a version ``learned-YYYYMMDD-<hash>`` (hash of weights and data)."""
    rounded = {c: round(float(weights[c]), 6) for c in COMPONENTS}
    digest = hashlib.sha1(json.dumps([rounded, fingerprint], sort_keys=True).encode()).hexdigest()[:8]
    return base.model_copy(update={"weights": Weights(**rounded), "version": f"learned-{date.today():%Y%m%d}-{digest}"})


# ============================================================ the whole procedure
@dataclass
class LearningResult:
    """What ``learn_weights`` produced: the config to save, the fit, and the held-out comparison."""

    config: RankerConfig
    fit: WeightFit
    before_after: pd.DataFrame | None  # rows before/after; held-out AUC and ranking metrics
    evaluation: EvaluationReport | None
    improvement: pd.DataFrame | None = None  # after - before per ranking metric, paired bootstrap interval
    train_schools: list[str] = field(default_factory=list)
    test_schools: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def weights_table(self, base: RankerConfig | None = None) -> pd.DataFrame:
        """Default and learned weights side by side (both normalised to sum 1)."""
        before = (base or RankerConfig()).weights.as_dict()
        total = sum(before.values()) or 1.0
        return pd.DataFrame(
            {"before": {c: v / total for c, v in before.items()}, "after": self.config.weights.as_dict()}
        ).loc[list(COMPONENTS)]


def learn_weights(
    ranker: Ranker,
    outcomes: pd.DataFrame | str | Path,
    *,
    partnerships: pd.DataFrame | str | Path | None = None,
    test_size: float = 0.3,
    random_negatives: int = 5,
    Cs: Sequence[float] = DEFAULT_CS,
    cv: int = 5,
    n_bootstrap: int = 1000,
    seed: int = 0,
    unknown: Literal["error", "skip"] = "error",
    progress: bool = True,
) -> LearningResult:
    """Fit the weights on the training schools' outcomes and compare before/after on the held-out ones.

    ``partnerships`` (known good pairs, e.g. a history file) are ranked leave-one-out before and after,
    except pairs among the training outcomes; without them the held-out positive outcomes are used.
    ``test_size=0`` fits on everything and skips the comparison.
    """
    index = ranker.index
    data = load_outcomes(outcomes, index, unknown)
    if not 0 <= test_size < 1:
        raise ValueError(f"test_size: {test_size} must be in [0, 1)")
    schools = np.array(sorted(data["school_id"].unique()), dtype=object)
    notes: list[str] = []
    if test_size > 0:
        if len(schools) < 4:
            raise EvaluationInputError(f"need outcomes from at least 4 schools to hold some out; got {len(schools)}")
        split = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        tr, te = next(split.split(schools, groups=schools))
        train_s, test_s = set(schools[tr]), set(schools[te])
    else:
        train_s, test_s = set(schools), set()
    train = data[data["school_id"].isin(train_s)]
    pairs = training_pairs(ranker, train, random_negatives, seed)
    X = pair_features(ranker, pairs)
    fingerprint = hashlib.sha1(pd.util.hash_pandas_object(train, index=False).to_numpy().tobytes()).hexdigest()
    fit = fit_component_weights(X, pairs["label"].to_numpy(), pairs["school_id"].to_numpy(), Cs=Cs, cv=cv, seed=seed)
    config = learned_config(ranker.config, fit.weights, fingerprint)

    before_after, report, improvement = None, None, None
    if test_s:
        test = data[data["school_id"].isin(test_s)]
        test_pairs = training_pairs(ranker, test, random_negatives, seed + 1)
        Xt = pair_features(ranker, test_pairs)
        yt = test_pairs["label"].to_numpy()
        w_before = np.array([ranker.config.weights.as_dict()[c] for c in COMPONENTS])
        w_after = np.array([fit.weights[c] for c in COMPONENTS])
        auc = [roc_auc_score(yt, Xt @ w) if 0 < yt.sum() < len(yt) else np.nan for w in (w_before, w_after)]
        if partnerships is not None:
            held = _held_out_partnerships(partnerships, index, train, unknown)
            what = "held-out partnerships"
        else:
            pos = test[test["outcome"].isin(POSITIVE_OUTCOMES)]
            held = pd.DataFrame({"school_a": pos["school_id"], "school_b": pos["candidate_id"]})
            what = "held-out positive outcomes"
            notes.append("ranking metrics are on held-out positive outcomes, which the shown suggestions favour")
        if len(held):
            report = evaluate(
                ranker, held, extra={"learned": config}, baselines=False, n_bootstrap=n_bootstrap, seed=seed,
                progress=progress,
            )  # fmt: skip
            metrics = report.table.loc[["ranker", "learned"]].copy()
            improvement = report.compare("learned", "ranker", n_bootstrap, seed=seed)
        else:
            metrics = pd.DataFrame(index=["ranker", "learned"])
            notes.append(f"no {what} to rank")
        metrics.insert(0, "heldout_auc", auc)
        metrics.index = pd.Index([f"before ({ranker.config.version})", f"after ({config.version})"], name="weights")
        before_after = metrics
        notes.append(f"held out: {len(test_s)} schools, {len(test_pairs)} labelled pairs; ranking on {what}")
    return LearningResult(
        config, fit, before_after, report, improvement, sorted(train_s), sorted(test_s), notes
    )  # fmt: skip


def _held_out_partnerships(
    partnerships: pd.DataFrame | str | Path, index: object, train: pd.DataFrame, unknown: str
) -> pd.DataFrame:
    """The partnerships whose pair (in either order) is not among the training outcomes."""
    frame = load_partnerships(partnerships, index, unknown)  # type: ignore[arg-type]
    used = {frozenset(p) for p in zip(train["school_id"], train["candidate_id"], strict=True)}
    keep = [frozenset(p) not in used for p in zip(frame["school_a"], frame["school_b"], strict=True)]
    return frame[np.array(keep, dtype=bool)].reset_index(drop=True)
