"""The batch solvers, one module each, behind one map: ``SOLVERS[mode](SolverInput) -> Solution``.

* ``optimal``: an exact min-cost flow with a lexicographic objective, coverage first, then total score.
* ``stable``: many-to-many deferred acceptance, UK schools proposing (no blocking pair).
* ``greedy``: best pairs first while places last; a baseline for comparison only.

A new solver is one module with one ``SolverFn`` and one entry here; ``AssignmentOptions.mode`` accepts
every key of ``SOLVERS``.
"""

from __future__ import annotations

from matching.batch.solvers.base import Solution, SolverFn, SolverInput
from matching.batch.solvers.greedy import solve_greedy
from matching.batch.solvers.optimal import solve_optimal
from matching.batch.solvers.stable import solve_stable

__all__ = ["SOLVERS", "Solution", "SolverFn", "SolverInput", "solve_greedy", "solve_optimal", "solve_stable"]

SOLVERS: dict[str, SolverFn] = {"optimal": solve_optimal, "stable": solve_stable, "greedy": solve_greedy}
"""Solver by mode name (the order is the modes' order in ``MODES``)."""
