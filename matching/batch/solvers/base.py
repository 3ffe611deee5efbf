"""What every solver takes and gives: ``SolverFn = Callable[[SolverInput], Solution]``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Solution", "SolverFn", "SolverInput"]


@dataclass(frozen=True)
class SolverInput:
    """The candidate graph's edges and the places left, over local positions (no ids, no index rows).

    ``src[e]`` (a UK school, into ``cap_uk``) and ``dst[e]`` (a school abroad, into ``cap_abroad``) are
    the ends of edge ``e`` and ``score[e]`` the UK school's score of it. ``bonus[u]``: the partners of UK
    school ``u`` that count as coverage (the optimal solver covers those first; ``None``: one each).
    ``group[e]``: edges of one group share one place (one partner per country; ``None``: no groups).
    ``partner_score()`` gives the school abroad's score of each edge (computed only when a solver asks).
    """

    src: np.ndarray
    dst: np.ndarray
    score: np.ndarray
    cap_uk: np.ndarray
    cap_abroad: np.ndarray
    bonus: np.ndarray | None = None
    group: np.ndarray | None = None
    partner_score: Callable[[], np.ndarray] | None = None

    def coverage_bonus(self) -> np.ndarray:
        """``bonus``, or one unit per UK school when none was given."""
        return np.ones(len(self.cap_uk), dtype=np.int64) if self.bonus is None else self.bonus


@dataclass(frozen=True)
class Solution:
    """The chosen edges (a bool mask over ``SolverInput``'s edges) and the solver's objective, if it has one."""

    chosen: np.ndarray
    cost: float | None = None


SolverFn = Callable[[SolverInput], Solution]
"""A solver: every mode's function has this one signature (``matching.batch.solvers.SOLVERS``)."""
