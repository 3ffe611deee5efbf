"""partnermatch's matching library: rank, explain and assign partner schools.

The names users need are exported here (see ``__all__``)::

    from matching import build_ranker, generate_registry, make_encoder

Importing ``matching`` is light: each name is imported from its sub-package on first use, so
``import matching`` loads neither scikit-learn nor OR-Tools nor the sentence model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matching.batch import Assignment, AssignmentOptions, BatchCancelled, assign, assign_profiles, widening_check
    from matching.core import (
        Constraints,
        Diversity,
        PairExplanation,
        Ranker,
        RankerConfig,
        Ranking,
        Reasons,
        RequestFilters,
        SchoolIndex,
        Weights,
        build_ranker,
        data_dir,
        make_encoder,
    )
    from matching.demo import demo_school, generate_registry, write_registry
    from matching.errors import ConfigError, DuplicateSchoolError, InfeasibleError, MatchingError, UnknownSchoolError
    from matching.evaluation import (
        EvaluationReport,
        LearningResult,
        SyntheticHistory,
        evaluate,
        learn_weights,
        load_judgements,
        load_outcomes,
        load_partnerships,
        synthetic_history,
    )

# Where each public name lives. A test checks that every name resolves.
_HOMES: dict[str, str] = {
    # ranking one school's partners
    "Ranker": "matching.core",
    "Ranking": "matching.core",
    "SchoolIndex": "matching.core",
    "RankerConfig": "matching.core",
    "Weights": "matching.core",
    "Constraints": "matching.core",
    "Diversity": "matching.core",
    "RequestFilters": "matching.core",
    "PairExplanation": "matching.core",
    "Reasons": "matching.core",
    "build_ranker": "matching.core",
    "make_encoder": "matching.core",
    "data_dir": "matching.core",
    # a whole cohort at once
    "assign": "matching.batch",
    "assign_profiles": "matching.batch",
    "widening_check": "matching.batch",
    "Assignment": "matching.batch",
    "AssignmentOptions": "matching.batch",
    "BatchCancelled": "matching.batch",
    # match quality and learning the weights
    "evaluate": "matching.evaluation",
    "EvaluationReport": "matching.evaluation",
    "load_partnerships": "matching.evaluation",
    "load_judgements": "matching.evaluation",
    "learn_weights": "matching.evaluation",
    "LearningResult": "matching.evaluation",
    "load_outcomes": "matching.evaluation",
    "synthetic_history": "matching.evaluation",
    "SyntheticHistory": "matching.evaluation",
    # demo registries
    "generate_registry": "matching.demo",
    "write_registry": "matching.demo",
    "demo_school": "matching.demo",
    # errors
    "MatchingError": "matching.errors",
    "UnknownSchoolError": "matching.errors",
    "DuplicateSchoolError": "matching.errors",
    "ConfigError": "matching.errors",
    "InfeasibleError": "matching.errors",
}

__all__ = [
    "Assignment",
    "AssignmentOptions",
    "BatchCancelled",
    "ConfigError",
    "Constraints",
    "Diversity",
    "DuplicateSchoolError",
    "EvaluationReport",
    "InfeasibleError",
    "LearningResult",
    "MatchingError",
    "PairExplanation",
    "Ranker",
    "RankerConfig",
    "Ranking",
    "Reasons",
    "RequestFilters",
    "SchoolIndex",
    "SyntheticHistory",
    "UnknownSchoolError",
    "Weights",
    "assign",
    "assign_profiles",
    "build_ranker",
    "data_dir",
    "demo_school",
    "evaluate",
    "generate_registry",
    "learn_weights",
    "load_judgements",
    "load_outcomes",
    "load_partnerships",
    "make_encoder",
    "synthetic_history",
    "widening_check",
    "write_registry",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its home module on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'matching' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
