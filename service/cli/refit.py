"""CLI commands for refitting the weights from live outcomes with guardrails, and rolling back.

* ``partnermatch refit``: learn weights from the outcomes (the API's database and/or a CSV), compare with the
  active configuration on held-out schools, switch only when better beyond the bootstrap interval; every
  candidate is logged in ``<versions dir>/versions.jsonl``; the configuration to serve is ``active.json``.
* ``partnermatch refit-rollback``: make the previously active configuration active again.

Registered in ``service.cli.main``; the shared helpers are imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from service.cli import _outcomes
from service.cli.evaluation import (
    Config,
    DataDir,
    Encoder,
    Registry,
    Seed,
    SkipUnknown,
    _check_encoder,
    _errors,
    _frame_tables,
)

VersionsDir = Annotated[
    Path | None,
    typer.Option(
        "--versions-dir", help="Configuration versions (default: <data dir>/ranker_versions).", file_okay=False
    ),
]


def _versions_dir(versions_dir: Path | None, data_dir: Path | None) -> Path:
    from service.cli.common import resolve_data_dir

    return versions_dir if versions_dir is not None else resolve_data_dir(data_dir) / "ranker_versions"


def refit_cmd(
    registry: Registry = None,
    outcomes: Annotated[Path | None, _outcomes.outcomes_option()] = None,
    db: Annotated[str | None, _outcomes.db_option("its outcomes")] = None,
    partnerships: Annotated[
        Path | None, _outcomes.partnerships_option("Known partnerships to rank on (held-out pairs).")
    ] = None,
    metric: Annotated[str, typer.Option("--metric", help="The metric that must improve: recall@10, MRR, NDCG@10.")] = (
        "MRR"
    ),
    encoder: Encoder = "real",
    config: Config = None,
    versions_dir: VersionsDir = None,
    test_size: Annotated[float, _outcomes.test_size_option(0.05, "Share held out.")] = 0.3,
    bootstrap: Annotated[int, _outcomes.bootstrap_option(50)] = 1000,
    seed: Seed = 0,
    skip_unknown: SkipUnknown = False,
    data_dir: DataDir = None,
) -> None:
    """Refit the weights from outcomes; switch to them only when better on held-out schools; log every version."""
    from matching.evaluation.refit import GUARD_METRICS, ConfigVersions, refit
    from service.cli.common import console, load_ranker

    _check_encoder(encoder)
    if metric not in GUARD_METRICS:
        raise typer.BadParameter(f"{metric!r} is not one of {', '.join(GUARD_METRICS)}", param_hint="--metric")
    _outcomes.require_outcomes(outcomes, db)
    folder = _versions_dir(versions_dir, data_dir)
    versions = ConfigVersions(folder)
    with _errors():
        active = versions.active()
        if config is None and active is not None:
            config = versions.active_path  # refit against what is served now
        data = _outcomes.read_outcomes(outcomes, db)
        ranker = load_ranker(registry, encoder, data_dir, config)
        decision = refit(
            ranker, data, versions, partnerships=partnerships, metric=metric,  # type: ignore[arg-type]
            test_size=test_size, n_bootstrap=bootstrap, seed=seed, unknown="skip" if skip_unknown else "error",
        )  # fmt: skip
    c = console()
    result = decision.result
    c.print(*_frame_tables(result.weights_table(ranker.config), "Weights (normalised to sum 1)", "component", c.width))
    if result.improvement is not None:
        title = "Change candidate - active on held-out schools [95% paired bootstrap]"
        c.print(*_frame_tables(result.improvement, title, "metric", c.width))
    if decision.per_side is not None and not decision.per_side.empty:
        c.print(*_frame_tables(decision.per_side, "Weights fitted per side (UK schools, schools abroad)", "", c.width))
    for side, why in (decision.per_side.attrs.get("skipped", {}) if decision.per_side is not None else {}).items():
        c.print(f"Note: no weights for the {side} side: {why}", markup=False)
    for note in decision.notes:
        c.print(f"Note: {note}", markup=False)
    verdict = "Switched to" if decision.switched else "Kept"
    c.print(
        f"{verdict} {decision.active.version} ({decision.reason}); candidate {decision.candidate.version} logged in "
        f"{versions.log_path}. Serve {versions.active_path} (PARTNERMATCH_RANKER_CONFIG).",
        markup=False,
    )


def rollback_cmd(versions_dir: VersionsDir = None, data_dir: DataDir = None) -> None:
    """Make the previously active ranker configuration active again (logged)."""
    from matching.evaluation.refit import ConfigVersions
    from service.cli.common import console

    versions = ConfigVersions(_versions_dir(versions_dir, data_dir))
    with _errors():
        config = versions.rollback()
    console().print(f"Rolled back: {config.version} is active again ({versions.active_path}).", markup=False)
