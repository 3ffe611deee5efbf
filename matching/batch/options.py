"""How a batch run is set up: ``AssignmentOptions`` (checked on creation), and the run's callbacks."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from matching.batch.solvers import SOLVERS
from matching.core.constraints import RequestFilters
from matching.errors import ConfigError, MatchingError

__all__ = ["MODES", "AssignmentOptions", "BatchCancelled", "CancelCheck", "ProgressCallback"]

MODES: tuple[str, ...] = tuple(SOLVERS)
"""The solver modes, in the order of ``SOLVERS``: ``optimal``, ``stable``, ``greedy``."""

ProgressCallback = Callable[[str, int, int], None]
"""``callback(stage, done, total)``: called after each block of work."""
CancelCheck = Callable[[], bool]
"""``should_cancel() -> bool``: polled between blocks; True stops the run with ``BatchCancelled``."""


class BatchCancelled(MatchingError):
    """A batch run was cancelled through its ``should_cancel`` callback."""


@dataclass(frozen=True)
class AssignmentOptions:
    """How a cohort is matched. Every field is checked on creation (``ConfigError`` names the bad one).

    ``capacity`` overrides the capacity of every school taking partners for this round (``None``: each
    profile's free capacity); it never gives places to a school that is inactive or whose own capacity
    is 0. ``min_score`` drops pairs scoring below it. ``one_per_country``: a UK school gets at
    most one partner per country. ``min_partners``: every UK school taking partners must get at least
    this many (hard; ``InfeasibleError`` says what to change otherwise; ``optimal`` mode only).
    ``forced_pairs`` are assigned first (they use places and need no minimum score, but must pass
    the hard constraints); ``forbidden_pairs`` are never made. ``countries``/``phases``/
    ``max_timezone_difference`` narrow the candidates abroad. ``explain`` adds contributions and
    reasons to each partnership. ``top_k``: candidates kept per school (both sides); then
    up to ``refine_rounds`` rounds then add the top-K pairs among the schools that a greedy pass
    leaves with places (every mode then solves the same final graph). ``pruned``: candidate scoring
    bounds pairs on the coarse index and scores exactly only those that can matter (the same graph);
    ``False``: bounds from the exact product; ``None``: by size
    (``matching.batch.candidates.PRUNE_MIN_PAIRS``). ``certify`` (mode ``optimal``): price every allowed pair
    left out of the graph against the optimal flow's potentials and add those that could improve it, until
    none can (``top_k`` is then only the starting size); at most ``max_pricing_rounds`` rounds, else the
    result says it is not certified and why (``Diagnostics.certified``, ``certificate_note``).
    """

    mode: str = "optimal"
    top_k: int = 20
    capacity: int | None = None
    min_score: float | None = None
    one_per_country: bool = False
    min_partners: int = 0
    forced_pairs: tuple[tuple[str, str], ...] = ()
    forbidden_pairs: tuple[tuple[str, str], ...] = ()
    countries: tuple[str, ...] = ()
    phases: tuple[str, ...] = ()
    max_timezone_difference: float | None = None
    explain: bool = True
    progress: bool = True
    block_size: int | None = None
    n_jobs: int | None = None
    refine_rounds: int = 1
    pruned: bool | None = None
    certify: bool = True
    max_pricing_rounds: int = 20

    def __post_init__(self) -> None:
        if self.mode not in SOLVERS:
            raise ConfigError(f"mode: {self.mode!r} is not one of {', '.join(SOLVERS)}")
        _check_int("top_k", self.top_k, 1)
        if self.capacity is not None:
            _check_int("capacity", self.capacity, 0, 100)
        if self.min_score is not None and (
            isinstance(self.min_score, bool)
            or not isinstance(self.min_score, int | float)
            or not math.isfinite(self.min_score)
        ):
            raise ConfigError(f"min_score: {self.min_score!r} must be a finite number (or None for no minimum)")
        _check_int("min_partners", self.min_partners, 0, 100)
        if self.block_size is not None:
            _check_int("block_size", self.block_size, 1)
        if self.n_jobs is not None:
            _check_int("n_jobs", self.n_jobs, 1, 64)
        _check_int("refine_rounds", self.refine_rounds, 0, 20)
        if not isinstance(self.certify, bool):
            raise ConfigError(f"certify: {self.certify!r} must be True or False")
        _check_int("max_pricing_rounds", self.max_pricing_rounds, 0, 1000)
        if self.pruned is not None and not isinstance(self.pruned, bool):
            raise ConfigError(f"pruned: {self.pruned!r} must be True, False or None (by size)")
        object.__setattr__(self, "forced_pairs", _pairs("forced_pairs", self.forced_pairs))
        object.__setattr__(self, "forbidden_pairs", _pairs("forbidden_pairs", self.forbidden_pairs))
        both = set(map(frozenset, self.forced_pairs)) & set(map(frozenset, self.forbidden_pairs))
        if both:
            a, b = sorted(next(iter(both)))
            raise ConfigError(f"forced_pairs and forbidden_pairs both list ({a}, {b}); keep it in one of them")
        object.__setattr__(self, "countries", tuple(self.countries))
        object.__setattr__(self, "phases", tuple(self.phases))
        self.filters()  # validates countries, phases and the time-zone limit
        if self.mode != "optimal" and self.min_partners > 0:
            raise ConfigError(f"min_partners: only mode 'optimal' can guarantee a minimum (mode is {self.mode!r})")
        if self.mode == "stable" and self.one_per_country:
            raise ConfigError("one_per_country: not available in mode 'stable'; use mode 'optimal' or 'greedy'")

    def jobs(self) -> int:
        """Threads for candidate scoring: ``n_jobs``, else the machine's cores (at most 4)."""
        return self.n_jobs or max(1, min(4, os.cpu_count() or 1))

    def filters(self) -> RequestFilters:
        """The request filters narrowing the candidates abroad."""
        return RequestFilters(self.countries, self.phases, self.max_timezone_difference)

    def replace(self, **changes: object) -> AssignmentOptions:
        """A copy with some fields changed (validated again)."""
        data = {f: getattr(self, f) for f in self.__dataclass_fields__}
        data.update(changes)
        return AssignmentOptions(**data)  # type: ignore[arg-type]


def _check_int(name: str, value: object, lo: int, hi: int | None = None) -> None:
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= lo
    if not ok or (hi is not None and value > hi):  # type: ignore[operator]
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise ConfigError(f"{name}: {value!r} must be an integer {bound}")


def _pairs(name: str, pairs: object) -> tuple[tuple[str, str], ...]:
    out = []
    for pair in pairs or ():  # type: ignore[attr-defined]
        if isinstance(pair, str) or len(pair) != 2 or not all(isinstance(x, str) and x for x in pair):
            raise ConfigError(f"{name}: {pair!r} must be a pair of school ids (uk_school_id, partner_school_id)")
        out.append((pair[0], pair[1]))
    return tuple(dict.fromkeys(out))
