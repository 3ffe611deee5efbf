"""Before and after: the evaluation of several full configurations side by side.

``evaluate`` compares weightings on one scorer; a configuration that also changes the exposure prior or the
programme priorities needs its own ranker. ``evaluate_variants`` runs ``evaluate`` once per configuration (the
baselines only with the first) and ``side_by_side`` joins the reports into one: one row per configuration in the
table, the country mix and the pairwise principle checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from matching.core.config import RankerConfig
from matching.core.ranker import Ranker
from matching.evaluation.offline import evaluate
from matching.evaluation.principles import principle_checks
from matching.evaluation.report import EvaluationReport


def with_exposure_prior(config: RankerConfig, prior: float) -> RankerConfig:
    """``config`` with the popularity prior's exponent set to ``prior`` (its version says so)."""
    exposure = config.exposure.model_copy(update={"prior": float(prior)})
    return config.model_copy(update={"exposure": exposure, "version": f"{config.version}+prior{prior:g}"})


def evaluate_variants(
    ranker: Ranker,
    variants: Mapping[str, RankerConfig],
    partnerships: pd.DataFrame | str | Path,
    judgements: pd.DataFrame | str | Path | None = None,
    *,
    baselines: bool = True,
    principles: bool = True,
    seed: int = 0,
    base_name: str = "ranker",
    **options: Any,
) -> EvaluationReport:
    """``ranker`` (its row named ``base_name``) and each of ``variants`` evaluated on the
    same cases, each with its own ranker over ``ranker``'s index; ``options`` go to ``evaluate``."""
    first = evaluate(ranker, partnerships, judgements, baselines=baselines, seed=seed, **options)
    reports = {base_name: first}
    for name, config in variants.items():
        if name in reports:
            raise ValueError(f"variants: {name!r} appears twice (names must differ from {list(reports)})")
        other = Ranker(ranker.index, config)
        reports[name] = evaluate(other, partnerships, judgements, baselines=False, seed=seed, **options)
    joined = side_by_side(reports)
    if principles:
        checks = principle_checks(ranker, dict(variants), seed=seed)
        joined.principles = checks.rename(index={"ranker": base_name})
    return joined


def side_by_side(reports: Mapping[str, EvaluationReport]) -> EvaluationReport:
    """One report from several: each report's ``ranker`` row renamed to its key; the first report's other
    rows (baselines) kept after them."""
    if not reports:
        raise ValueError("reports: need at least one report")
    names = list(reports)
    first = reports[names[0]]
    rest = [m for m in first.methods if m != "ranker"]
    table = pd.concat([r.table.loc[["ranker"]].rename(index={"ranker": n}) for n, r in reports.items()])
    table = pd.concat([table, first.table.loc[rest]])
    table.index.name = "method"
    cases = first.ranks[["school", "partner"]]
    ranks = cases.copy()
    for n, r in reports.items():
        if not r.ranks[["school", "partner"]].equals(cases):
            raise ValueError(f"reports: {n!r} was evaluated on other cases than {names[0]!r}")
        ranks[n] = r.ranks["ranker"]
    for m in rest:
        ranks[m] = first.ranks[m]
    exposure = {n: r.exposure["ranker"] for n, r in reports.items()} | {m: first.exposure[m] for m in rest}
    mix = pd.concat([r.country_mix.loc[["ranker"]].rename(index={"ranker": n}) for n, r in reports.items()])
    mix = pd.concat([mix, first.country_mix.loc[rest]]).fillna(0.0)
    mix = mix[mix.loc[names].sum().sort_values(ascending=False).index]
    notes = [note for r in reports.values() for note in r.notes]
    return EvaluationReport(
        table=table, ranks=ranks, exposure=exposure, country_mix=mix, ks=first.ks, list_k=first.list_k,
        config_version=first.config_version, notes=list(dict.fromkeys(notes)),
    )  # fmt: skip
