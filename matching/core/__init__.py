"""The ranking core: the school index, the hard rules, the score, the ranker and its explanations.

The public names below are imported lazily (``import matching.core`` stays light)::

    from matching.core import Ranker, RankerConfig, build_ranker, make_encoder

Where things live: ``columns`` (per-school arrays), ``index`` (``SchoolIndex``), ``coarse`` (the
bounded first pass), ``rules`` (every hard rule and request filter: add one there), ``filters``
(``RequestFilters`` and the one parser), ``constraints`` (the mask in force), ``scoring`` (the
score and its per-pair components), ``diversity``, ``ranker``, ``explain`` and ``engine`` (wiring).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

_EXPORTS: dict[str, str] = {
    "COMPONENTS": "config",
    "Constraints": "config",
    "Diversity": "config",
    "RankerConfig": "config",
    "Weights": "config",
    "RULES": "rules",
    "Rule": "rules",
    "register": "rules",
    "unregister": "rules",
    "FilterError": "filters",
    "RequestFilters": "filters",
    "parse_filters": "filters",
    "ConstraintSet": "constraints",
    "Query": "columns",
    "SchoolColumns": "columns",
    "SchoolIndex": "index",
    "Scorer": "scoring",
    "Ranker": "ranker",
    "Ranking": "ranker",
    "Diagnosis": "explain",
    "PairExplanation": "explain",
    "Reasons": "explain",
    "RuleCount": "explain",
    "build_ranker": "engine",
    "data_dir": "engine",
    "make_encoder": "engine",
}
__all__ = [
    "COMPONENTS",
    "RULES",
    "ConstraintSet",
    "Constraints",
    "Diagnosis",
    "Diversity",
    "FilterError",
    "PairExplanation",
    "Query",
    "Ranker",
    "RankerConfig",
    "Ranking",
    "Reasons",
    "RequestFilters",
    "Rule",
    "RuleCount",
    "SchoolColumns",
    "SchoolIndex",
    "Scorer",
    "Weights",
    "build_ranker",
    "data_dir",
    "make_encoder",
    "parse_filters",
    "register",
    "unregister",
]

if TYPE_CHECKING:
    from matching.core.columns import Query, SchoolColumns
    from matching.core.config import COMPONENTS, Constraints, Diversity, RankerConfig, Weights
    from matching.core.constraints import ConstraintSet
    from matching.core.engine import build_ranker, data_dir, make_encoder
    from matching.core.explain import Diagnosis, PairExplanation, Reasons, RuleCount
    from matching.core.filters import FilterError, RequestFilters, parse_filters
    from matching.core.index import SchoolIndex
    from matching.core.ranker import Ranker, Ranking
    from matching.core.rules import RULES, Rule, register, unregister
    from matching.core.scoring import Scorer


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
