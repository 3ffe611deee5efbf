"""Refitting the weights from live outcomes with guardrails, and the log of configuration versions.

* **Outcomes** come through a loader: any ``OutcomeSource`` (a callable returning a frame
  ``school_id,candidate_id,outcome``, e.g. ``lambda: load_feedback_db(url)`` or the requests reader) or a frame.
* **Guardrails** (``refit``): the weights are learned on some schools' outcomes and compared with the active
  configuration on the held-out schools (``learning.learn_weights``); the candidate is switched to only when the
  chosen metric improves with the whole paired-bootstrap interval above 0 and no ranking metric gets worse
  beyond its interval. Otherwise it is logged as ``rejected`` and the active configuration stays.
* **Versions** (``ConfigVersions``): a folder holding ``versions.jsonl`` (one JSON line per event, append-only:
  every candidate, switch and rollback), ``configs/<version>.json`` and ``active.json`` (the one to serve);
  ``rollback`` makes the previously active version active again.
* **Per side** (``side_weights``): weights fitted separately on the outcomes of UK schools and of schools abroad,
  to show whether the two sides choose differently.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from matching.core.config import COMPONENTS, RankerConfig
from matching.core.ranker import Ranker
from matching.evaluation.learning import (
    DEFAULT_CS,
    LearningResult,
    fit_component_weights,
    learn_weights,
    pair_features,
    training_pairs,
)
from matching.evaluation.loaders import EvaluationInputError, load_outcomes

OutcomeSource = Callable[[], pd.DataFrame]
GUARD_METRICS: tuple[str, ...] = ("recall@10", "MRR", "NDCG@10")
UK = "GB"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ConfigVersions:
    """Ranker configuration versions kept in ``folder`` (see the module docstring for the layout)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.log_path = self.folder / "versions.jsonl"
        self.active_path = self.folder / "active.json"

    def history(self) -> list[dict[str, Any]]:
        """Every logged event, oldest first."""
        if not self.log_path.is_file():
            return []
        events = []
        for n, line in enumerate(self.log_path.read_text("utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise EvaluationInputError(f"{self.log_path}: line {n}: not JSON ({exc.msg})") from None
        return events

    def active(self) -> RankerConfig | None:
        """The active configuration, or None before the first one is recorded."""
        return RankerConfig.load(self.active_path) if self.active_path.is_file() else None

    def config(self, version: str) -> RankerConfig:
        """A logged configuration by version."""
        path = self.folder / "configs" / f"{version}.json"
        if not path.is_file():
            known = sorted({e["version"] for e in self.history()})
            raise EvaluationInputError(f"version {version!r} is not logged in {self.folder} (known: {known})")
        return RankerConfig.load(path)

    def record(self, config: RankerConfig, event: str, **details: Any) -> dict[str, Any]:
        """Save ``config`` under its version and append one event line (``candidate``, ``rejected``, ...)."""
        config.save(self.folder / "configs" / f"{config.version}.json")
        entry = {"at": _now(), "event": event, "version": config.version, **details}
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, default=_jsonable) + "\n")
        return entry

    def activate(self, config: RankerConfig, event: str = "activated", **details: Any) -> dict[str, Any]:
        """Make ``config`` the active one (written to ``active.json``) and log it."""
        entry = self.record(config, event, previous=self._active_version(), **details)
        config.save(self.active_path)
        return entry

    def rollback(self) -> RankerConfig:
        """Make the previously active version active again (logged as ``rollback``)."""
        actives = [e["version"] for e in self.history() if e["event"] in ("activated", "initial", "rollback")]
        current = self._active_version()
        earlier = [v for v in actives if v != current]
        if not earlier:
            raise EvaluationInputError(f"{self.folder}: no earlier active version to roll back to")
        config = self.config(earlier[-1])
        self.activate(config, "rollback")
        return config

    def _active_version(self) -> str | None:
        active = self.active()
        return active.version if active is not None else None


def _jsonable(v: object) -> object:
    if isinstance(v, np.generic):
        return v.item()
    return str(v)


@dataclass
class RefitDecision:
    """What ``refit`` decided, with the evidence."""

    switched: bool
    reason: str
    candidate: RankerConfig
    active: RankerConfig  # the configuration in use after the decision
    metric: str
    result: LearningResult
    per_side: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


def _guard(improvement: pd.DataFrame | None, metric: str) -> tuple[bool, str]:
    """Switch only when ``metric`` is better beyond its interval and nothing is worse beyond its own."""
    if improvement is None or metric not in improvement.index:
        return False, "no held-out ranking to compare on"
    row = improvement.loc[metric]
    worse = [m for m in GUARD_METRICS if m in improvement.index and improvement.loc[m, "hi"] < 0]
    if worse:
        return False, f"worse beyond the interval on {', '.join(worse)}"
    if row["lo"] > 0:
        return True, f"{metric} {row['change']:+.4f} [{row['lo']:+.4f}, {row['hi']:+.4f}] is above 0"
    return False, f"{metric} {row['change']:+.4f} [{row['lo']:+.4f}, {row['hi']:+.4f}] does not exclude 0"


def refit(
    ranker: Ranker,
    outcomes: OutcomeSource | pd.DataFrame,
    versions: ConfigVersions,
    *,
    partnerships: pd.DataFrame | str | Path | None = None,
    metric: Literal["recall@10", "MRR", "NDCG@10"] = "MRR",
    test_size: float = 0.3,
    random_negatives: int = 5,
    n_bootstrap: int = 1000,
    seed: int = 0,
    unknown: Literal["error", "skip"] = "error",
    per_side: bool = True,
    Cs: Sequence[float] = DEFAULT_CS,
    cv: int = 5,
    progress: bool = False,
) -> RefitDecision:
    """Learn weights from ``outcomes``, compare with ``ranker.config`` on held-out schools and switch
    (write ``versions.active_path``) only when the guardrails pass. Every candidate is logged."""
    if metric not in GUARD_METRICS:
        raise ValueError(f"metric: {metric!r} must be one of {', '.join(GUARD_METRICS)}")
    if test_size <= 0:
        raise ValueError(f"test_size: {test_size} must be > 0 (a refit is always judged on held-out outcomes)")
    data = load_outcomes(outcomes() if callable(outcomes) else outcomes, ranker.index, unknown)
    if versions.active() is None:
        versions.activate(ranker.config, "initial")
    result = learn_weights(
        ranker, data, partnerships=partnerships, test_size=test_size, random_negatives=random_negatives,
        n_bootstrap=n_bootstrap, seed=seed, unknown=unknown, Cs=Cs, cv=cv, progress=progress,
    )  # fmt: skip
    candidate = result.config
    ok, reason = _guard(result.improvement, metric)
    evidence = {
        "base": ranker.config.version,
        "metric": metric,
        "reason": reason,
        "outcomes": len(data),
        "held_out_schools": len(result.test_schools),
        "weights": candidate.weights.as_dict(),
        "improvement": None if result.improvement is None else result.improvement.round(5).to_dict(orient="index"),
    }
    if ok:
        versions.activate(candidate, "activated", **evidence)
    else:
        versions.record(candidate, "rejected", **evidence)
    sides = side_weights(ranker, data, random_negatives, seed, Cs, cv) if per_side else None
    active = candidate if ok else (versions.active() or ranker.config)
    return RefitDecision(ok, reason, candidate, active, metric, result, sides, list(result.notes))


def side_weights(
    ranker: Ranker,
    outcomes: pd.DataFrame,
    random_negatives: int = 5,
    seed: int = 0,
    Cs: Sequence[float] = DEFAULT_CS,
    cv: int = 5,
) -> pd.DataFrame:
    """Weights fitted on the outcomes of UK schools and of schools abroad separately (columns ``uk``,
    ``abroad``; a side without enough outcomes to fit is left out, its reason in ``attrs['skipped']``)."""
    index = ranker.index
    country = {sid: index.profile(sid).country for sid in outcomes["school_id"].unique()}
    is_uk = outcomes["school_id"].map(country).eq(UK)
    columns: dict[str, dict[str, float]] = {}
    skipped: dict[str, str] = {}
    for side, part in (("uk", outcomes[is_uk]), ("abroad", outcomes[~is_uk])):
        if part.empty:
            skipped[side] = "no outcomes"
            continue
        try:
            pairs = training_pairs(ranker, part, random_negatives, seed)
            X, y = pair_features(ranker, pairs), pairs["label"].to_numpy()
            fit = fit_component_weights(X, y, pairs["school_id"].to_numpy(), Cs=Cs, cv=cv, seed=seed)
        except EvaluationInputError as exc:
            skipped[side] = str(exc)
            continue
        columns[side] = fit.weights
    table = pd.DataFrame(columns, index=pd.Index(list(COMPONENTS), name="component"))
    table.attrs["skipped"] = skipped
    return table
