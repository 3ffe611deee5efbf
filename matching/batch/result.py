"""The result of a batch run: ``Assignment`` (the partnerships), the unmatched schools with reasons,
``Diagnostics``; and the tables, CSV files, Excel workbook and summary lines made from them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from matching.batch.graph import CandidateGraph
from matching.batch.options import AssignmentOptions
from matching.batch.solvers.stable import blocking_pairs
from matching.core.config import COMPONENTS
from matching.core.explain import Reasons
from matching.core.scoring import Scorer
from matching.errors import MatchingError
from matching.export import write_csv, write_excel

__all__ = [
    "UNMATCHED_REASONS",
    "Assignment",
    "Diagnostics",
    "SolveContext",
    "Unmatched",
    "diagnostics_frame",
    "workbook_sheets",
]

UNMATCHED_REASONS: dict[str, str] = {
    "not_taking_partners": "not taking partners this round (inactive or no free places)",
    "no_compatible": "no compatible candidate at all: phase, ages, language, the country filter or exclusions "
    "rule out every school on the other side of the cohort",
    "candidates_full": "all compatible candidates are full (no free places)",
    "below_min_score": "all candidates score below the minimum score",
    "outside_top_k": "candidates with free places exist only beyond its top-K list: raise top_k",
    "candidates_taken": "all compatible candidates are full: their places went to other schools in this round "
    "(raise capacities or add countries)",
    "not_chosen": "not chosen: the compatible UK schools were matched with better-scoring partners or had no "
    "places left",
    "not_in_top_k": "not among any compatible UK school's top-K candidates: raise top_k",
}


PARTNERSHIP_COLUMNS: tuple[str, ...] = (
    "uk_school_id", "uk_school_name", "partner_school_id", "partner_school_name", "partner_country", "score",
    *COMPONENTS, "forced", "reasons",
)  # fmt: skip
"""The columns of ``Assignment.to_frame`` (the contributions only when ``explain`` was on)."""
UNMATCHED_COLUMNS: tuple[str, ...] = ("school_id", "school_name", "side", "country", "reason_code", "reason")
"""The columns of ``Assignment.unmatched_frame``."""


@dataclass(frozen=True)
class Unmatched:
    """A school left without a partner, and why."""

    school_id: str
    side: str  # "uk" or "abroad"
    country: str
    reason_code: str
    reason: str


@dataclass(frozen=True)
class Diagnostics:
    """Summary figures of a batch run."""

    mode: str
    n_uk: int
    n_abroad: int
    n_uk_seeking: int  # UK schools taking partners (free places > 0)
    n_abroad_seeking: int  # schools abroad taking partners (free places > 0)
    uk_places: int
    abroad_places: int
    n_partnerships: int
    n_forced: int
    uk_covered: int  # UK schools taking partners that got at least one
    coverage: float  # uk_covered / n_uk_seeking
    abroad_covered: int
    abroad_coverage: float
    total_score: float
    mean_score: float
    min_score: float
    partnerships_per_country: dict[str, int]
    unmatched_by_reason: dict[str, int]
    objective: dict[str, float]
    n_candidate_edges: int
    top_k: int
    refine_rounds: int  # rounds of added pairs that were run
    candidate_seconds: float
    solve_seconds: float
    explain_seconds: float
    total_seconds: float
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # process CPU time per stage (all threads)
    warnings: tuple[str, ...] = ()
    certified: bool = False  # proven optimal over every allowed pair (mode optimal, pricing found none left)
    pricing_rounds: int = 0  # pricing rounds that added pairs
    pairs_added: int = 0  # pairs the pricing rounds added to the candidate graph
    certificate_note: str = ""  # why the result is not certified (empty when it is)
    # with programme priorities (``config.priorities``): the weight of each country abroad in the cohort that
    # has one other than 1, and the mix the same candidate graph gives without them (the before / after)
    priority_weights: dict[str, float] = field(default_factory=dict)
    partnerships_per_country_without_priorities: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {f: (list(v) if isinstance(v, tuple) else v) for f, v in self.__dict__.items()}


@dataclass(frozen=True)
class SolveContext:
    """What ``Assignment.blocking_pairs`` needs to re-check a result: the graph and the places."""

    graph: CandidateGraph
    chosen: np.ndarray  # bool over graph edges
    cap_uk: np.ndarray  # places left after forced pairs
    cap_abroad: np.ndarray
    scorer: Scorer


@dataclass(frozen=True)
class Assignment:
    """The partnerships of a batch run, the schools left unmatched with reasons, and diagnostics.

    Partnership arrays are aligned: ``uk_ids[i]`` is paired with ``partner_ids[i]``; ``contributions``
    columns follow ``COMPONENTS`` and each row adds up to ``scores[i]`` (empty when ``explain`` was off).
    """

    uk_ids: np.ndarray  # (P,) object
    partner_ids: np.ndarray  # (P,) object
    partner_countries: np.ndarray  # (P,) <U2
    scores: np.ndarray  # (P,) float32
    contributions: np.ndarray  # (P, len(COMPONENTS)) float32
    forced: np.ndarray  # (P,) bool
    reasons: list[Reasons]
    unmatched: list[Unmatched]
    diagnostics: Diagnostics
    options: AssignmentOptions
    names: dict[str, str] = field(default_factory=dict, repr=False)
    context: SolveContext | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.uk_ids)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """The partnerships as (uk_school_id, partner_school_id)."""
        return list(zip(self.uk_ids.tolist(), self.partner_ids.tolist(), strict=True))

    def partners_of(self, school_id: str) -> list[str]:
        """The partners a school got (either side)."""
        return [b for a, b in self.pairs if a == school_id] + [a for a, b in self.pairs if b == school_id]

    def to_frame(self) -> pd.DataFrame:
        """One row per partnership: ids, names, country, score, contributions, forced, reasons."""
        frame = pd.DataFrame(
            {
                "uk_school_id": self.uk_ids.astype(str),
                "uk_school_name": [self.names.get(a, "") for a in self.uk_ids],
                "partner_school_id": self.partner_ids.astype(str),
                "partner_school_name": [self.names.get(b, "") for b in self.partner_ids],
                "partner_country": self.partner_countries.astype(str),
                "score": self.scores.astype(float).round(6),
            }
        )
        if len(self.contributions) == len(self):
            for j, name in enumerate(COMPONENTS):
                frame[name] = self.contributions[:, j].astype(float).round(6)
        frame["forced"] = self.forced
        frame["reasons"] = ["; ".join(r.sentences()) for r in self.reasons] if self.reasons else ""
        return frame

    def unmatched_frame(self) -> pd.DataFrame:
        """One row per unmatched school: id, name, side, country, reason code and text."""
        return pd.DataFrame(
            {
                "school_id": [u.school_id for u in self.unmatched],
                "school_name": [self.names.get(u.school_id, "") for u in self.unmatched],
                "side": [u.side for u in self.unmatched],
                "country": [u.country for u in self.unmatched],
                "reason_code": [u.reason_code for u in self.unmatched],
                "reason": [u.reason for u in self.unmatched],
            }
        )

    def to_csv(self, path: str | Path, unmatched_path: str | Path | None = None) -> Path:
        """Write the partnerships (and, if asked, the unmatched list) as CSV; returns the path.

        Text cells a spreadsheet would run as formulas are neutralised (``matching.export``).
        """
        path = write_csv(path, self.to_frame())
        if unmatched_path is not None:
            write_csv(unmatched_path, self.unmatched_frame())
        return path

    def summary_frame(self) -> pd.DataFrame:
        """The diagnostics as a two-column table (``figure``, ``value``): the workbook's summary sheet."""
        return diagnostics_frame(self.diagnostics.as_dict())

    def to_excel(self, path: str | Path) -> Path:
        """Write an Excel workbook (``.xlsx``): sheets ``partnerships``, ``unmatched`` (with reasons) and
        ``summary``; formula cells neutralised as in CSV. Returns the path."""
        return write_excel(path, workbook_sheets(self.to_frame(), self.unmatched_frame(), self.diagnostics.as_dict()))

    def summary(self) -> list[str]:
        """A few readable lines: partnerships, coverage, scores, unmatched reasons, timings, warnings."""
        d = self.diagnostics
        lines = [
            f"mode {d.mode}: {d.n_partnerships} partnerships ({d.n_forced} forced) between {d.n_uk} UK schools "
            f"and {d.n_abroad} schools abroad",
            f"coverage: {d.uk_covered} of {d.n_uk_seeking} UK schools taking partners got at least one "
            f"({d.coverage:.1%}); {d.abroad_covered} of {d.n_abroad_seeking} schools abroad taking partners got one "
            f"({d.abroad_coverage:.1%})",
            f"score: total {d.total_score:.3f}, mean {d.mean_score:.3f}, min {d.min_score:.3f}",
            "partnerships per country: "
            + (", ".join(f"{c} {n}" for c, n in d.partnerships_per_country.items()) or "-"),
            "unmatched: " + (", ".join(f"{r} {n}" for r, n in d.unmatched_by_reason.items()) or "none"),
            f"time: candidates {d.candidate_seconds:.2f} s ({d.n_candidate_edges} pairs, top_k {d.top_k}), "
            f"solve {d.solve_seconds:.2f} s, explain {d.explain_seconds:.2f} s, total {d.total_seconds:.2f} s",
        ]
        if d.certified:
            lines.append(
                f"certified optimal over every allowed pair ({d.pricing_rounds} pricing round(s), "
                f"{d.pairs_added} pair(s) added)"
            )
        else:
            lines.append(f"not certified optimal over every allowed pair: {d.certificate_note}")
        if d.priority_weights:
            before = d.partnerships_per_country_without_priorities
            lines.append(
                "priorities: "
                + ", ".join(
                    f"{c} x{w:g} ({before.get(c, 0)} -> {d.partnerships_per_country.get(c, 0)} partnerships)"
                    for c, w in d.priority_weights.items()
                )
                + " (without priorities -> with, on the same candidate graph)"
            )
        lines += [f"warning: {w}" for w in d.warnings]
        return lines

    def blocking_pairs(self) -> pd.DataFrame:
        """Candidate pairs that block this result (both schools would rather have each other).

        Empty for mode ``stable``; other modes usually have some (optimal is not stable in general).
        Forced pairs are taken as given (their places are not offered again).
        """
        if self.context is None:
            raise MatchingError("this assignment carries no candidate graph to check")
        ctx = self.context
        g = ctx.graph
        rev = ctx.scorer.pair_scores(g.intl_rows[g.dst], g.uk_rows[g.src])
        edges = blocking_pairs(g.src, g.dst, g.score, rev, ctx.cap_uk, ctx.cap_abroad, ctx.chosen)
        ids = ctx.scorer.index.columns.ids
        return pd.DataFrame(
            {
                "uk_school_id": [ids[r] for r in g.uk_rows[g.src[edges]]],
                "partner_school_id": [ids[r] for r in g.intl_rows[g.dst[edges]]],
                "score": g.score[edges].astype(float),
                "partner_score": rev[edges].astype(float),
            }
        )


def diagnostics_frame(d: Mapping[str, Any]) -> pd.DataFrame:
    """Diagnostics (``Diagnostics.as_dict()``, or a stored copy of it) as ``figure``/``value`` rows."""
    rows: list[tuple[str, object]] = [
        (label, d[key] if not isinstance(d[key], float) else round(d[key], 4))
        for key, label in _SUMMARY_FIGURES
        if key in d
    ]
    rows += [(f"partnerships in {c}", n) for c, n in (d.get("partnerships_per_country") or {}).items()]
    before = d.get("partnerships_per_country_without_priorities") or {}
    rows += [(f"priority of {c}", w) for c, w in (d.get("priority_weights") or {}).items()]
    rows += [(f"partnerships in {c} without priorities", n) for c, n in before.items()]
    rows += [(f"unmatched: {r}", n) for r, n in (d.get("unmatched_by_reason") or {}).items()]
    rows += [("warning", w) for w in d.get("warnings") or ()]
    return pd.DataFrame(rows, columns=["figure", "value"]).astype({"value": object})


def workbook_sheets(
    partnerships: pd.DataFrame | Sequence[Mapping[str, Any]],
    unmatched: pd.DataFrame | Sequence[Mapping[str, Any]],
    diagnostics: Mapping[str, Any],
) -> dict[str, pd.DataFrame]:
    """The sheets of a batch workbook: ``partnerships``, ``unmatched`` (with reasons), ``summary``."""
    return {
        "partnerships": _frame(partnerships, PARTNERSHIP_COLUMNS),
        "unmatched": _frame(unmatched, UNMATCHED_COLUMNS),
        "summary": diagnostics_frame(diagnostics),
    }


def _frame(table: pd.DataFrame | Sequence[Mapping[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    """A table as a frame; an empty one still has its header."""
    if isinstance(table, pd.DataFrame):
        return table
    return pd.DataFrame(list(table)) if len(table) else pd.DataFrame(columns=list(columns))


_SUMMARY_FIGURES: tuple[tuple[str, str], ...] = (
    ("mode", "mode"),
    ("n_uk", "UK schools"),
    ("n_abroad", "schools abroad"),
    ("n_uk_seeking", "UK schools taking partners"),
    ("n_abroad_seeking", "schools abroad taking partners"),
    ("uk_places", "places (UK)"),
    ("abroad_places", "places (abroad)"),
    ("n_partnerships", "partnerships"),
    ("n_forced", "forced partnerships"),
    ("uk_covered", "UK schools with a partner"),
    ("coverage", "UK coverage"),
    ("abroad_covered", "schools abroad with a partner"),
    ("abroad_coverage", "coverage abroad"),
    ("total_score", "total score"),
    ("mean_score", "mean score"),
    ("min_score", "lowest score"),
    ("top_k", "top_k"),
    ("certified", "certified optimal"),
    ("pricing_rounds", "pricing rounds"),
    ("pairs_added", "pairs added by pricing"),
    ("certificate_note", "not certified because"),
    ("total_seconds", "total seconds"),
)
