"""Pairwise principle checks: does a ranking follow each matching principle a teacher would check?

For a principle (skills each way, ages, time zones, readiness, themes) and random asking schools, take
pairs of allowed candidates that differ clearly on it (raw values at least ``margin`` apart); the check
is the share of those pairs the method scores in the principle's order (a tie counts half): 0.5 means the
principle is ignored, 1.0 that it always wins, below 0.5 that the ranking goes against it. Candidates
differ on the other principles too, so no method scores 1.0 on every principle: the table shows where each
method stands, and how a change of weights moves it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from features import vocab
from features.profiles import SchoolProfile
from matching.core.columns import readiness, term_offsets
from matching.core.config import RankerConfig
from matching.core.constraints import Query
from matching.core.ranker import Ranker
from matching.core.scoring import Scorer, overlap_hours


def _complementarity(a: SchoolProfile, b: SchoolProfile) -> float:
    want_a, offer_a = np.array(a.skills_want.as_tuple()), np.array(a.skills_offer.as_tuple())
    want_b, offer_b = np.array(b.skills_want.as_tuple()), np.array(b.skills_offer.as_tuple())
    there = float(want_a @ offer_b / want_a.sum()) if want_a.sum() else 0.0
    back = float(want_b @ offer_a / want_b.sum()) if want_b.sum() else 0.0
    return 0.5 * (there + back)


def _overlap(a: SchoolProfile, b: SchoolProfile) -> float:
    tz = term_offsets(
        [a.timezone or vocab.country_timezone(a.country), b.timezone or vocab.country_timezone(b.country)]
    )
    return float(overlap_hours(tz[0], tz[1], 7.0))


def _ages(a: SchoolProfile, b: SchoolProfile) -> float:
    common = max(0, min(a.age_max, b.age_max) - max(a.age_min, b.age_min) + 1)
    return 0.5 * (common / (a.age_max - a.age_min + 1) + common / (b.age_max - b.age_min + 1))


def _themes(a: SchoolProfile, b: SchoolProfile) -> float:
    union = set(a.themes) | set(b.themes)
    return len(set(a.themes) & set(b.themes)) / len(union) if union else 0.0


PRINCIPLES: dict[str, Callable[[SchoolProfile, SchoolProfile], float]] = {
    "skills each way": _complementarity,
    "ages": _ages,
    "time zones": _overlap,
    "readiness": lambda a, b: readiness(b),
    "themes": _themes,
}
"""Each principle as a function of the two profiles (the asking school first), independent of any ranker:
share of each school's wanted skills the other offers, age fit (as ``scoring.age_fit``), school-day
overlap (hours), the candidate's readiness, Jaccard overlap of the theme tags."""


def principle_checks(
    ranker: Ranker,
    configs: Mapping[str, RankerConfig] | None = None,
    *,
    n_schools: int = 200,
    pairs_per_school: int = 40,
    margin: float = 0.25,
    seed: int = 0,
) -> pd.DataFrame:
    """A table: one row per method (``ranker`` and ``configs``), one column per principle (``PRINCIPLES``).

    Each method scores with its own configuration (weights, exposure penalty, priorities) on ``ranker``'s
    index and constraints; a pair counts when the principle's values differ by ``margin`` of their range over
    the pairs sampled for that school.
    """
    index = ranker.index
    methods = {"ranker": ranker.config, **(configs or {})}
    rng = np.random.default_rng(seed)
    cols = index.cols()
    askers = np.flatnonzero(cols.present & cols.active)
    askers = np.sort(rng.choice(askers, size=min(n_schools, len(askers)), replace=False))
    cset = ranker.constraint_set()
    scorers = {name: _scorer(ranker, cfg) for name, cfg in methods.items()}
    agree: dict[str, dict[str, list[float]]] = {m: {p: [] for p in PRINCIPLES} for m in methods}
    for start in range(0, len(askers), 64):
        rows = askers[start : start + 64]
        allowed = cset.allowed(index, Query.registered(index, rows))
        scores = {name: scorer.component_matrix(rows).sum(axis=0) for name, scorer in scorers.items()}
        for i, row in enumerate(rows):
            cands = np.flatnonzero(allowed[i])
            if len(cands) < 2:
                continue
            a = rng.choice(cands, size=pairs_per_school)
            b = rng.choice(cands, size=pairs_per_school)
            asker = index.profiles[row]
            for principle, measure in PRINCIPLES.items():
                va = np.array([measure(asker, index.profiles[c]) for c in a])  # type: ignore[arg-type]
                vb = np.array([measure(asker, index.profiles[c]) for c in b])  # type: ignore[arg-type]
                diff = va - vb
                spread = max(float(np.ptp(np.concatenate([va, vb]))), 1e-9)
                keep = np.abs(diff) >= margin * spread
                if not keep.any():
                    continue
                better_a = diff[keep] > 0
                for name in methods:
                    sa, sb = scores[name][i, a[keep]], scores[name][i, b[keep]]
                    agree[name][principle].extend(np.where(sa == sb, 0.5, np.where(better_a, sa > sb, sb > sa)))
    return pd.DataFrame(
        {p: [float(np.mean(agree[m][p])) if agree[m][p] else float("nan") for m in methods] for p in PRINCIPLES},
        index=pd.Index(list(methods), name="method"),
    )


def _scorer(ranker: Ranker, config: RankerConfig) -> Scorer:
    """A configuration's scorer on ``ranker``'s index (its popularity prior fitted when on)."""
    if config is ranker.config:
        ranker.prepare()
        return ranker.scorer
    other = Ranker(ranker.index, config)
    if config.exposure.prior:
        other.fit_exposure()
    return other.scorer
