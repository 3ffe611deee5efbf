"""The hard constraints in force for a request: the configured rules plus the request's filters.

The rules themselves (name, message, mask, columns) live in ``matching.core.rules``; this module
combines them into one ``bool[m, n]`` mask (``ConstraintSet.allowed``), names the ones that block a
pair (``blocking``) and counts the candidates each one lets through (``rule_masks``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matching.core.columns import PHASE_CODE, Query, wrapped_hours
from matching.core.config import Constraints
from matching.core.filters import RequestFilters
from matching.core.index import SchoolIndex
from matching.core.rules import PHASE_COMPATIBLE, RULES, Rule, listed_rows

__all__ = ["PHASE_COMPATIBLE", "ConstraintSet", "Query", "RequestFilters", "wrapped_hours"]


@dataclass(frozen=True)
class ConstraintSet:
    """The hard constraints in force: configured rules plus a request's filters."""

    constraints: Constraints = field(default_factory=Constraints)
    filters: RequestFilters = field(default_factory=RequestFilters)

    def rules(self) -> dict[str, Rule]:
        """The rules in force, by name, in registry order (call them with ``filters``, or through ``mask``)."""
        on = set(self.constraints.enabled())
        return {
            name: rule
            for name, rule in RULES.items()
            if (self.filters.is_set(rule.param) if rule.is_filter and rule.param else name in on)
        }

    def mask(self, rule: Rule, query: Query, index: SchoolIndex, rows: np.ndarray | None = None) -> np.ndarray:
        """One rule's ``bool[m, len(rows)]`` mask against candidate ``rows`` (every row when None)."""
        cols = index.cols()
        if rows is None:
            return rule(query, cols, index, self.filters)
        if rule.reads_rows:
            return rule(query, cols, index, self.filters)[:, rows]
        return rule(query, cols.take(rows), index, self.filters)

    def allowed(self, index: SchoolIndex, query: Query) -> np.ndarray:
        """``bool[m, n_rows]``: which candidates each query may be paired with.

        For one query, each cacheable rule (``Rule.cache_key``: it depends only on a few of the
        query's columns and the request's filters) is looked up in the index's mask cache
        (``SchoolIndex.cached_mask``, emptied on every change), and the pair lists are applied sparsely.
        """
        cands = index.cols()
        if len(query.rows) != 1:
            mask = np.broadcast_to(cands.present, (len(query.rows), len(cands))).copy()
            for rule in self.rules().values():
                mask &= rule(query, cands, index, self.filters)
            return mask
        mask = cands.present.copy()
        for rule in self.rules().values():
            self._apply(rule, query, index, mask)
        return mask[None, :]

    def rule_masks(self, index: SchoolIndex, query: Query) -> dict[str, np.ndarray]:
        """For one query: each rule's own ``bool[n_rows]`` mask (present candidates that pass it)."""
        out = {}
        present = index.cols().present
        for name, rule in self.rules().items():
            mask = present.copy()
            self._apply(rule, query, index, mask)
            out[name] = mask
        return out

    def _apply(self, rule: Rule, query: Query, index: SchoolIndex, mask: np.ndarray) -> None:
        """AND one rule into a one-query mask ``bool[n_rows]`` (cached, sparse or evaluated)."""
        if rule.listed is not None:
            rows = listed_rows(rule, query.columns, 0, index)
            if rows:
                mask[rows] = False
            return
        key = rule.cache_key(query, self.filters)
        if key is None:
            mask &= rule(query, index.cols(), index, self.filters)[0]
        else:
            neutral = Query(query.columns, np.array([-1], dtype=np.int64))  # cached masks never hold one row out

            def compute(rule: Rule = rule) -> Any:
                return rule(neutral, index.cols(), index, self.filters)[0]

            mask &= index.cached_mask(key, compute)
        if rule.excludes_self and query.rows[0] >= 0:
            mask[query.rows[0]] = False

    def segments(self, query: Query) -> np.ndarray:
        """``bool[2, n_phases, 2]``: the coarse segments (side by phase by available) query 0's allowed candidates
        can lie in."""
        out = np.ones((2, len(PHASE_CODE), 2), dtype=bool)
        for rule in self.rules().values():
            if rule.segments is not None:
                out &= rule.segments(query, self.filters)
        return out

    def blocking(self, index: SchoolIndex, query: Query, row: int) -> list[tuple[str, str]]:
        """The rules that block the pair (query 0, candidate ``row``), as (name, message)."""
        rows = np.array([row], dtype=np.int64)
        return [
            (name, rule.message) for name, rule in self.rules().items() if not self.mask(rule, query, index, rows)[0, 0]
        ]
