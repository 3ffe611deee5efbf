"""Offline evaluation of the ranker, learning its weights from outcomes, and synthetic history to try both.

* ``evaluate``: leave-one-out ranks of known partnerships, beyond-accuracy metrics and baselines
  (``offline``), in one ``EvaluationReport`` (``report``).
* ``learn_weights``: component weights fitted to accepted / declined suggestions (``learning``).
* ``synthetic_history``: a seeded partnership, judgement and outcome history for a registry (``synthetic``).
* Metrics as pure functions (``metrics``); input files read with clear errors (``loaders``);
  an independent check of the hard rules (``audit``).
"""

from matching.evaluation.audit import pair_violations
from matching.evaluation.learning import (
    LearningResult,
    NonNegativeLogisticRegression,
    fit_component_weights,
    learn_weights,
    learned_config,
)
from matching.evaluation.loaders import (
    EvaluationInputError,
    load_feedback_db,
    load_judgements,
    load_outcomes,
    load_partnerships,
)
from matching.evaluation.metrics import (
    bootstrap_means,
    coverage,
    entropy_bits,
    gini,
    lorenz_curve,
    mean_reciprocal_rank,
    ndcg_at_k,
    recall_at_k,
)
from matching.evaluation.offline import evaluate
from matching.evaluation.report import DEFAULT_KS, EvaluationReport
from matching.evaluation.synthetic import LatentPreferenceModel, SyntheticHistory, synthetic_history

__all__ = [
    "DEFAULT_KS",
    "EvaluationInputError",
    "EvaluationReport",
    "LatentPreferenceModel",
    "LearningResult",
    "NonNegativeLogisticRegression",
    "SyntheticHistory",
    "bootstrap_means",
    "coverage",
    "entropy_bits",
    "evaluate",
    "fit_component_weights",
    "gini",
    "learn_weights",
    "learned_config",
    "load_feedback_db",
    "load_judgements",
    "load_outcomes",
    "load_partnerships",
    "lorenz_curve",
    "mean_reciprocal_rank",
    "ndcg_at_k",
    "pair_violations",
    "recall_at_k",
    "synthetic_history",
]
