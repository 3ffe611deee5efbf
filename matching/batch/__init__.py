"""Batch matching of a cohort: every UK school and school abroad paired at once, within places.

``assign`` runs encode -> ``SOLVERS[mode]`` -> decode and returns an ``Assignment``::

    from matching.batch import AssignmentOptions, assign

    result = assign(index, options=AssignmentOptions(mode="optimal", capacity=3))
    result.to_frame()  # one row per partnership
    result.unmatched_frame()  # every school left out, with the reason
    result.to_excel("round.xlsx")  # partnerships, unmatched with reasons, summary (also to_csv)

Modules: ``options`` (``AssignmentOptions``), ``pairs`` (pair scores and masks), ``bounds`` (what candidate
scoring can skip), ``candidates`` and ``graph`` (the sparse candidate graph), ``solvers`` (one module per
mode behind ``SOLVERS``), ``encode``/``decode``, ``result`` (``Assignment``) and ``assign``.
"""

from __future__ import annotations

from matching.batch.assign import assign, assign_profiles, widening_check
from matching.batch.graph import CandidateGraph
from matching.batch.options import MODES, AssignmentOptions, BatchCancelled, CancelCheck, ProgressCallback
from matching.batch.result import UNMATCHED_REASONS, Assignment, Diagnostics, Unmatched, workbook_sheets
from matching.batch.solvers import SOLVERS, Solution, SolverFn, SolverInput
from matching.batch.solvers.greedy import greedy
from matching.batch.solvers.stable import blocking_pairs, deferred_acceptance
from matching.errors import InfeasibleError

__all__ = [
    "MODES",
    "SOLVERS",
    "UNMATCHED_REASONS",
    "Assignment",
    "AssignmentOptions",
    "BatchCancelled",
    "CancelCheck",
    "CandidateGraph",
    "Diagnostics",
    "InfeasibleError",
    "ProgressCallback",
    "Solution",
    "SolverFn",
    "SolverInput",
    "Unmatched",
    "assign",
    "assign_profiles",
    "blocking_pairs",
    "deferred_acceptance",
    "greedy",
    "widening_check",
    "workbook_sheets",
]
